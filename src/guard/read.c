/* read.c - thin readers: fetch the text the parsers take, once per sample. */
#include "gd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

long gd_read_file(int dirfd, const char *path, char *buf, size_t cap)
{
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t k = read(fd, buf + n, cap - 1 - n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    buf[n] = '\0';
    close(fd);
    return (long)n;
}

long gd_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1;                          /* the directory's own descriptor */
}

int gd_cgroup_open(gd_cgroup *cg)
{
    memset(cg, 0, sizeof *cg);
    cg->dirfd = -1;
    enum { PC_CAP = 8192, MI_CAP = 262144 };
    char *pc = malloc(PC_CAP), *mi = malloc(MI_CAP);
    gd_cgroup_loc loc;
    int found = pc != NULL && mi != NULL && gd_read_file(AT_FDCWD, "/proc/self/cgroup", pc, PC_CAP) >= 0 &&
                gd_read_file(AT_FDCWD, "/proc/self/mountinfo", mi, MI_CAP) >= 0 &&
                gd_parse_cgroup_location(pc, mi, &loc) == 0;
    free(pc);
    free(mi);
    if (!found)
        return 0;
    int fd = open(loc.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    /* v2 without the memory controller enabled has no memory.current. */
    if (faccessat(fd, loc.version == 1 ? "memory.usage_in_bytes" : "memory.current", R_OK, 0) != 0) {
        close(fd);
        return 0;
    }
    cg->version = loc.version;
    cg->dirfd = fd;
    snprintf(cg->dir, sizeof cg->dir, "%s", loc.dir);
    /* A root cgroup without a limit (the host's own: its usage is the whole
     * machine's) says nothing MemTotal and RSS do not; a container's root,
     * seen through a cgroup namespace, has its limit and is kept. */
    gd_cgroup_sample cs;
    if (loc.is_root && (gd_cgroup_read(cg, &cs) != 0 || cs.limit == GD_UNLIMITED))
        gd_cgroup_close(cg);
    return 0;
}

void gd_cgroup_close(gd_cgroup *cg)
{
    if (cg->dirfd >= 0)
        close(cg->dirfd);
    cg->dirfd = -1;
    cg->version = 0;
}

int gd_cgroup_read(const gd_cgroup *cg, gd_cgroup_sample *out)
{
    char buf[8192];
    memset(out, 0, sizeof *out);
    if (cg->version == 0)
        return -1;
    bool v1 = cg->version == 1;
    if (gd_read_file(cg->dirfd, v1 ? "memory.usage_in_bytes" : "memory.current", buf, sizeof buf) < 0 ||
        gd_parse_limit(buf, &out->usage) != 0)
        return -1;
    if (gd_read_file(cg->dirfd, v1 ? "memory.limit_in_bytes" : "memory.max", buf, sizeof buf) < 0 ||
        gd_parse_limit(buf, &out->limit) != 0)
        out->limit = GD_UNLIMITED;
    if (gd_read_file(cg->dirfd, "memory.stat", buf, sizeof buf) >= 0) {
        uint64_t h;
        if (v1 && gd_parse_keyed(buf, "hierarchical_memory_limit", &h) == 0 && h < out->limit &&
            h < (UINT64_C(1) << 62))
            out->limit = h;            /* an ancestor's limit binds first */
        if (gd_parse_keyed(buf, v1 ? "total_inactive_file" : "inactive_file", &out->inactive_file) != 0)
            out->inactive_file = 0;
    }
    out->working_set = out->usage > out->inactive_file ? out->usage - out->inactive_file : 0;
    if (gd_read_file(cg->dirfd, v1 ? "memory.oom_control" : "memory.events", buf, sizeof buf) >= 0)
        gd_parse_keyed(buf, "oom_kill", &out->oom_kills);
    return 0;
}

int gd_sample_read(const gd_cgroup *cg, gd_sample *out)
{
    char buf[8192];
    memset(out, 0, sizeof *out);
    long n = gd_read_file(AT_FDCWD, "/proc/self/status", buf, sizeof buf);
    if (n < 0 || gd_parse_proc_status(buf, &out->rss, &out->rss_anon) != 0) {
        if (n >= 0)
            errno = EINVAL;             /* read, but no VmRSS in it */
        out->unread = "/proc/self/status";
        return -1;
    }
    out->fds = gd_count_fds();
    struct rlimit rl;
    out->fd_limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : 0;
    if (gd_read_file(AT_FDCWD, "/proc/meminfo", buf, sizeof buf) >= 0)
        gd_parse_meminfo(buf, &out->mem_total, &out->mem_available);
    if (cg != NULL && cg->version != 0) {
        errno = 0;
        if (gd_cgroup_read(cg, &out->cg) != 0) {
            if (errno == 0)
                errno = EINVAL;
            out->unread = cg->version == 1 ? "memory.usage_in_bytes" : "memory.current";
            return -1;
        }
        out->has_cgroup = true;
    }
    if (gd_read_file(AT_FDCWD, "/proc/pressure/memory", buf, sizeof buf) >= 0)
        out->has_psi = gd_parse_psi(buf, &out->psi) == 0;
    return 0;
}
