/* spool.c - the spool directories, claiming inputs from inbox/, finding orphans in work/. */
#include "bt.h"
#include "bt_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const subdirs[] = {"inbox", "work", "out", "done", "failed"};

static int open_dir(int at, const char *name, const char *root, char *err, size_t errlen)
{
    if (mkdirat(at, name, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create spool directory %s/%s: %s", root, name, strerror(errno));
        return -1;
    }
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        snprintf(err, errlen, "cannot open spool directory %s/%s: %s%s", root, name, strerror(errno),
                 errno == ELOOP || errno == ENOTDIR ? " (must be a real directory, not a link)" : "");
    return fd;
}

int bt_spool_open(bt_spool *sp, const char *path, char *err, size_t errlen)
{
    memset(sp, 0, sizeof *sp);
    sp->root_fd = sp->inbox_fd = sp->work_fd = sp->out_fd = sp->done_fd = sp->failed_fd = -1;
    snprintf(sp->root, sizeof sp->root, "%s", path);
    sp->root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sp->root_fd < 0) {
        snprintf(err, errlen, "cannot open spool directory %s: %s", path, strerror(errno));
        return -1;
    }
    int *fds[] = {&sp->inbox_fd, &sp->work_fd, &sp->out_fd, &sp->done_fd, &sp->failed_fd};
    for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
        *fds[i] = open_dir(sp->root_fd, subdirs[i], path, err, errlen);
        if (*fds[i] < 0) {
            bt_spool_close(sp);
            return -1;
        }
    }
    return 0;
}

void bt_spool_close(bt_spool *sp)
{
    int *fds[] = {&sp->root_fd, &sp->inbox_fd, &sp->work_fd, &sp->out_fd, &sp->done_fd, &sp->failed_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

bool bt_name_is_input(const char *name)
{
    size_t n = strlen(name);
    return n > 7 && name[0] != '.' && strcmp(name + n - 7, ".ndjson") == 0 &&
           strchr(name, '/') == NULL && n < BT_NAME_MAX;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of dir fd that pass keep(). Caller frees. */
static char **list_dir(int fd, bool (*keep)(const char *), size_t *count, char *err, size_t errlen)
{
    int dfd = dup(fd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (d == NULL) {
        snprintf(err, errlen, "cannot read directory: %s", strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return NULL;
    }
    rewinddir(d);
    size_t n = 0, cap = 16;
    char **names = malloc(cap * sizeof *names);
    struct dirent *e;
    while (names != NULL && (e = readdir(d)) != NULL) {
        if (!keep(e->d_name))
            continue;
        if (n == cap) {
            char **g = realloc(names, (cap *= 2) * sizeof *names);
            if (g == NULL)
                break;
            names = g;
        }
        names[n] = strdup(e->d_name);
        if (names[n] != NULL)
            n++;
    }
    closedir(d);
    if (names == NULL) {
        snprintf(err, errlen, "out of memory listing a directory");
        return NULL;
    }
    qsort(names, n, sizeof *names, cmp_names);
    *count = n;
    return names;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Write failed/BASE.error for input BASE.ndjson (atomically: tmp, fsync, rename). */
int bt_write_error_file(bt_spool *sp, const char *name, const char *reason)
{
    char tmp[BT_NAME_MAX + 16], fin[BT_NAME_MAX + 16];
    int base = (int)strlen(name) - 7;   /* without ".ndjson" */
    snprintf(tmp, sizeof tmp, ".%.*s.error.tmp", base, name);
    snprintf(fin, sizeof fin, "%.*s.error", base, name);
    int fd = openat(sp->failed_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    size_t n = strlen(reason);
    int r = bt_write_all(fd, reason, n) == 0 && bt_write_all(fd, "\n", 1) == 0 && fsync(fd) == 0 ? 0 : -1;
    close(fd);
    if (r == 0)
        r = renameat(sp->failed_fd, tmp, sp->failed_fd, fin);
    if (r == 0)
        fsync(sp->failed_fd);
    return r;
}

static int claim_from_listing(bt_worker *w, char *name, size_t namelen, char *err, size_t errlen);

void bt_claim_reset(bt_worker *w)
{
    if (w->inbox_names != NULL)
        free_names(w->inbox_names, w->inbox_count);
    w->inbox_names = NULL;
    w->inbox_count = w->inbox_next = 0;
}

/* Claims walk one sorted listing of inbox/ and list it again only when it is
 * used up, so draining n queued files reads the directory O(1) times per
 * file rather than n times each. */
int bt_claim_next(bt_worker *w, char *name, size_t namelen, char *err, size_t errlen)
{
    for (int pass = 0; pass < 2; pass++) {
        if (w->inbox_names == NULL || w->inbox_next == w->inbox_count) {
            bt_claim_reset(w);
            w->inbox_names = list_dir(w->spool->inbox_fd, bt_name_is_input, &w->inbox_count, err, errlen);
            if (w->inbox_names == NULL)
                return -1;
            if (w->inbox_count == 0)
                return 0;
        }
        int r = claim_from_listing(w, name, namelen, err, errlen);
        if (r != 0)
            return r;
    }
    return 0;
}

static int claim_from_listing(bt_worker *w, char *name, size_t namelen, char *err, size_t errlen)
{
    bt_spool *sp = w->spool;
    char **names = w->inbox_names;
    int found = 0;
    for (size_t i = w->inbox_next; i < w->inbox_count && !found; i++, w->inbox_next = i) {
        struct stat st;
        if (fstatat(sp->inbox_fd, names[i], &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;                      /* gone: another process claimed it */
        if (!S_ISREG(st.st_mode)) {
            /* Never followed: the link (or fifo, directory...) itself moves to failed/. */
            const char *what = S_ISLNK(st.st_mode) ? "a symbolic link" : S_ISDIR(st.st_mode) ? "a directory"
                                                                                              : "not a regular file";
            char reason[256];
            snprintf(reason, sizeof reason, "rejected: inbox/%s is %s; only regular files are processed",
                     names[i], what);
            if (renameat(sp->inbox_fd, names[i], sp->failed_fd, names[i]) == 0) {
                bt_write_error_file(sp, names[i], reason);
                bt_log(w, 4, "input=%s rejected reason=\"%s\"", names[i], reason);
            }
            continue;
        }
        /* A second input of a name already processed would replace its
         * results at the end: refuse it instead, so nothing is lost. */
        struct stat prev;
        if (fstatat(sp->out_fd, names[i], &prev, AT_SYMLINK_NOFOLLOW) == 0 ||
            fstatat(sp->work_fd, names[i], &prev, AT_SYMLINK_NOFOLLOW) == 0) {
            char reason[512];
            snprintf(reason, sizeof reason,
                     "rejected: an input named %s was already %s (its results are in out/%s); "
                     "rename this one and drop it again, or move the old results away first",
                     names[i], fstatat(sp->work_fd, names[i], &prev, AT_SYMLINK_NOFOLLOW) == 0
                                   ? "claimed and is being processed" : "processed", names[i]);
            if (renameat(sp->inbox_fd, names[i], sp->failed_fd, names[i]) == 0) {
                bt_write_error_file(sp, names[i], reason);
                bt_log(w, 4, "input=%s rejected reason=\"%s\"", names[i], reason);
            }
            continue;
        }
        /* Lock first, then move it in: an orphan scan never sees a freshly
         * claimed input unlocked. */
        int lk = bt_lock_take(sp, names[i]);
        if (lk < 0)
            continue;                      /* someone else is claiming it */
        if (renameat(sp->inbox_fd, names[i], sp->work_fd, names[i]) != 0) {
            int e = errno;
            char lock[BT_NAME_MAX + 16];
            snprintf(lock, sizeof lock, "%s.lock", names[i]);
            unlinkat(sp->work_fd, lock, 0);
            close(lk);
            if (e == ENOENT)
                continue;                  /* lost the race: someone else claimed it */
            snprintf(err, errlen, "cannot claim inbox/%s: %s", names[i], strerror(e));
            w->inbox_next = i + 1;
            return -1;
        }
        fsync(sp->work_fd);
        fsync(sp->inbox_fd);
        snprintf(name, namelen, "%s", names[i]);
        if (w->claim_lock_fd >= 0)
            close(w->claim_lock_fd);
        w->claim_lock_fd = lk;             /* bt_process_input goes on with this lock */
        snprintf(w->claim_name, sizeof w->claim_name, "%s", names[i]);
        found = 1;
    }
    return found;
}

/* The lock last: clean_leftovers removes them in this order. */
static const char *const work_suffixes[] = {".ckpt", ".ckpt.tmp", ".out.tmp", ".errors.tmp", ".lock"};

/* A file in work/ that belongs to an input (NAME.ndjson + a work suffix). */
static bool is_work_file(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof work_suffixes / sizeof work_suffixes[0]; i++) {
        size_t k = strlen(work_suffixes[i]);
        if (n > k + 7 && strcmp(name + n - k, work_suffixes[i]) == 0 && strncmp(name + n - k - 7, ".ndjson", 7) == 0)
            return true;
    }
    return false;
}

/* Remove what a process killed at the end of finishing left behind: work
 * files whose input already left work/. Taken under the input's lock so an
 * owner that is still finishing is never disturbed. */
static void clean_leftovers(bt_spool *sp)
{
    size_t n = 0;
    char err[64];
    char **names = list_dir(sp->work_fd, is_work_file, &n, err, sizeof err);
    if (names == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        char input[BT_NAME_MAX + 16];
        snprintf(input, sizeof input, "%s", names[i]);
        char *dot = strstr(input, ".ndjson.");
        if (dot == NULL)
            continue;
        dot[7] = '\0';                      /* NAME.ndjson */
        struct stat st;
        if (fstatat(sp->work_fd, input, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
            continue;                        /* the input is still here: its owner resumes it */
        int lk = bt_lock_take(sp, input);
        if (lk < 0)
            continue;
        if (fstatat(sp->work_fd, input, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT) {
            /* The lock file goes last (work_suffixes' order), while still
             * held: as long as it is at its path and locked here, no claim
             * can get the lock and start files of its own that these unlinks
             * would take. Unlinked first, it let a claim lock a new one at
             * once and create its output, which the next unlink then removed
             * (an output lost under many workers). */
            for (size_t k = 0; k < sizeof work_suffixes / sizeof work_suffixes[0]; k++) {
                char path[BT_NAME_MAX + 32];
                snprintf(path, sizeof path, "%s%s", input, work_suffixes[k]);
                unlinkat(sp->work_fd, path, 0);
            }
            fsync(sp->work_fd);
        }
        close(lk);
    }
    free_names(names, n);
}

int bt_find_orphan(bt_worker *w, char *name, size_t namelen, char *err, size_t errlen)
{
    clean_leftovers(w->spool);
    bt_spool *sp = w->spool;
    size_t n = 0;
    char **names = list_dir(sp->work_fd, bt_name_is_input, &n, err, errlen);
    if (names == NULL)
        return -1;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        if (w->skip != NULL && w->skip(w->skip_ud, names[i]))
            continue;
        int lk = bt_lock_take(sp, names[i]);
        if (lk < 0)
            continue;
        found = 1;                         /* its owner is gone */
        snprintf(name, namelen, "%s", names[i]);
        close(lk);                         /* bt_process_input takes the lock again */
    }
    free_names(names, n);
    return found;
}
