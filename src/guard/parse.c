/* parse.c - pure parsers of the kernel's text files the guard reads. */
#include "gd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The line starting with key (at the start of text or after a newline),
 * followed by one of the separator characters; returns a pointer past the
 * key, or NULL. */
static const char *find_line(const char *text, const char *key, const char *seps)
{
    size_t klen = strlen(key);
    for (const char *p = text; p != NULL && *p != '\0';) {
        if (strncmp(p, key, klen) == 0 && p[klen] != '\0' && strchr(seps, p[klen]) != NULL)
            return p + klen;
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return NULL;
}

static int parse_u64(const char *p, uint64_t *out)
{
    while (*p == ' ' || *p == '\t' || *p == ':')
        p++;
    if (*p < '0' || *p > '9')
        return -1;
    char *end;
    unsigned long long v = strtoull(p, &end, 10);
    *out = v;
    return 0;
}

static int parse_kb(const char *text, const char *key, uint64_t *bytes)
{
    const char *p = find_line(text, key, ":");
    uint64_t kb;
    if (p == NULL || parse_u64(p, &kb) != 0)
        return -1;
    *bytes = kb * 1024u;
    return 0;
}

int gd_parse_proc_status(const char *text, uint64_t *rss, uint64_t *rss_anon)
{
    if (parse_kb(text, "VmRSS", rss) != 0)
        return -1;
    if (parse_kb(text, "RssAnon", rss_anon) != 0)
        *rss_anon = *rss;              /* kernels before 4.5 have no RssAnon */
    return 0;
}

int gd_parse_meminfo(const char *text, uint64_t *total, uint64_t *available)
{
    if (parse_kb(text, "MemTotal", total) != 0)
        return -1;
    if (parse_kb(text, "MemAvailable", available) != 0) {
        uint64_t free_b = 0, cached = 0;   /* before 3.14: an estimate */
        if (parse_kb(text, "MemFree", &free_b) != 0)
            return -1;
        parse_kb(text, "Cached", &cached);
        *available = free_b + cached;
    }
    return 0;
}

/* "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" */
static int psi_line(const char *p, double *avg10, double *avg60)
{
    const char *a = strstr(p, "avg10=");
    const char *b = strstr(p, "avg60=");
    const char *nl = strchr(p, '\n');
    if (a == NULL || b == NULL || (nl != NULL && (a > nl || b > nl)))
        return -1;
    *avg10 = strtod(a + 6, NULL);
    *avg60 = strtod(b + 6, NULL);
    return 0;
}

int gd_parse_psi(const char *text, gd_psi *out)
{
    memset(out, 0, sizeof *out);
    const char *some = find_line(text, "some", " ");
    if (some == NULL || psi_line(some, &out->some_avg10, &out->some_avg60) != 0)
        return -1;
    const char *full = find_line(text, "full", " ");
    out->has_full = full != NULL && psi_line(full, &out->full_avg10, &out->full_avg60) == 0;
    return 0;
}

int gd_parse_keyed(const char *text, const char *key, uint64_t *out)
{
    const char *p = find_line(text, key, " \t");
    return p == NULL ? -1 : parse_u64(p, out);
}

int gd_parse_limit(const char *text, uint64_t *out)
{
    while (*text == ' ' || *text == '\t')
        text++;
    if (strncmp(text, "max", 3) == 0) {
        *out = GD_UNLIMITED;
        return 0;
    }
    if (parse_u64(text, out) != 0)
        return -1;
    /* v1 reports "no limit" as LONG_MAX rounded down to a page. */
    if (*out >= (UINT64_C(1) << 62))
        *out = GD_UNLIMITED;
    return 0;
}

/* Field n (0-based, space separated) of a mountinfo line, copied into buf. */
static int field(const char *line, int n, char *buf, size_t cap)
{
    const char *p = line;
    for (int i = 0; i < n; i++) {
        p = strchr(p, ' ');
        if (p == NULL)
            return -1;
        p++;
    }
    size_t len = strcspn(p, " \n");
    if (len >= cap)
        return -1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    return 0;
}

/* A mountinfo line: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS".
 * Finds the mount of fstype whose super options include want (NULL: any),
 * copying its root and mount point. */
static int find_mount(const char *mountinfo, const char *fstype, const char *want, char *root, size_t rootcap,
                      char *mnt, size_t mntcap)
{
    for (const char *line = mountinfo; line != NULL && *line != '\0';) {
        const char *nl = strchr(line, '\n');
        const char *dash = strstr(line, " - ");
        if (dash != NULL && (nl == NULL || dash < nl)) {
            char type[64], opts[512];
            if (field(dash + 3, 0, type, sizeof type) == 0 && field(dash + 3, 2, opts, sizeof opts) == 0 &&
                strcmp(type, fstype) == 0) {
                bool match = want == NULL;
                char *save = NULL;
                for (char *tok = strtok_r(opts, ",", &save); tok != NULL && !match; tok = strtok_r(NULL, ",", &save))
                    match = strcmp(tok, want) == 0;
                if (match && field(line, 3, root, rootcap) == 0 && field(line, 4, mnt, mntcap) == 0)
                    return 0;
            }
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    return -1;
}

/* Join the mount point with the cgroup path seen from the mount's root. */
static int join(char *out, size_t cap, const char *mnt, const char *root, const char *path)
{
    size_t rl = strlen(root);
    if (strcmp(root, "/") != 0 && strncmp(path, root, rl) == 0)
        path += rl;                        /* the mount shows a subtree */
    int n = snprintf(out, cap, "%s%s%s", mnt, path[0] == '/' ? "" : "/", path);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    size_t len = strlen(out);
    while (len > 1 && out[len - 1] == '/')
        out[--len] = '\0';
    return 0;
}

int gd_parse_cgroup_location(const char *proc_cgroup, const char *mountinfo, gd_cgroup_loc *out)
{
    memset(out, 0, sizeof *out);
    char v1path[2048] = "", v2path[2048] = "";
    bool have_v1 = false, have_v2 = false;
    for (const char *line = proc_cgroup; line != NULL && *line != '\0';) {
        const char *nl = strchr(line, '\n');
        size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
        const char *c1 = memchr(line, ':', len);
        const char *c2 = c1 != NULL ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
        if (c2 != NULL) {
            size_t plen = len - (size_t)(c2 + 1 - line);
            const char *ctrl = c1 + 1;
            size_t clen = (size_t)(c2 - ctrl);
            char *dst = NULL;
            if (clen == 0 && strncmp(line, "0:", 2) == 0) {
                dst = v2path;
                have_v2 = true;
            } else {
                /* "memory" alone or in a comma list ("memory,cpu") */
                for (const char *t = ctrl; t < c2;) {
                    const char *e = memchr(t, ',', (size_t)(c2 - t));
                    size_t tl = e != NULL ? (size_t)(e - t) : (size_t)(c2 - t);
                    if (tl == 6 && memcmp(t, "memory", 6) == 0) {
                        dst = v1path;
                        have_v1 = true;
                    }
                    t = e != NULL ? e + 1 : c2;
                }
            }
            if (dst != NULL && plen < sizeof v1path) {
                memcpy(dst, c2 + 1, plen);
                dst[plen] = '\0';
            }
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    char root[2048], mnt[2048];
    if (have_v1 && find_mount(mountinfo, "cgroup", "memory", root, sizeof root, mnt, sizeof mnt) == 0 &&
        join(out->dir, sizeof out->dir, mnt, root, v1path) == 0) {
        out->version = 1;
        out->is_root = strcmp(v1path, "/") == 0;
        return 0;
    }
    if (have_v2 && find_mount(mountinfo, "cgroup2", NULL, root, sizeof root, mnt, sizeof mnt) == 0 &&
        join(out->dir, sizeof out->dir, mnt, root, v2path) == 0) {
        out->version = 2;
        out->is_root = strcmp(v2path, "/") == 0;
        return 0;
    }
    return -1;
}
