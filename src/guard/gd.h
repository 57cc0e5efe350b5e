/* gd.h - the leak guard's probes and policy (prefix gd_).
 *
 * Every probe is split in two: a pure parser of the text a kernel file holds
 * (unit-tested on fixtures) and a thin reader that fetches that text. The
 * policy is pure arithmetic on a sample. Nothing here acts: the service owns
 * the ladder's actions (src/svc/guard.c) and calls these to decide.
 */
#ifndef RECLAIMD_GD_H
#define RECLAIMD_GD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GD_UNLIMITED UINT64_MAX

/* ------------------------------------------------------------- parsers
 * Each returns 0, or -1 when the text lacks what is asked for. */

/* /proc/self/status: VmRSS and RssAnon ("kB" lines), in bytes. */
int gd_parse_proc_status(const char *text, uint64_t *rss, uint64_t *rss_anon);
/* /proc/meminfo: MemTotal and MemAvailable, in bytes. */
int gd_parse_meminfo(const char *text, uint64_t *total, uint64_t *available);

/* /proc/pressure/memory or a cgroup's memory.pressure. */
typedef struct gd_psi {
    double some_avg10, some_avg60, full_avg10, full_avg60;  /* percent of time stalled */
    bool has_full;
} gd_psi;
int gd_parse_psi(const char *text, gd_psi *out);

/* "KEY VALUE" lines (memory.stat, memory.events, memory.oom_control): the
 * value of key. */
int gd_parse_keyed(const char *text, const char *key, uint64_t *out);
/* A limit file: "max" (v2) or a number; v1's "no limit" (a number within a
 * page of 2^63) becomes GD_UNLIMITED. */
int gd_parse_limit(const char *text, uint64_t *out);

/* Where this process's memory cgroup lives. */
typedef struct gd_cgroup_loc {
    int version;            /* 1 (memory controller) or 2 (unified); 0 = none */
    char dir[4096];         /* the cgroup's directory, e.g. /sys/fs/cgroup/memory/a/b */
    bool is_root;           /* the process is in the hierarchy's root cgroup ("/") */
} gd_cgroup_loc;
/* From /proc/self/cgroup and /proc/self/mountinfo: prefers the v1 memory
 * controller when one is mounted, else the v2 hierarchy (the caller checks it
 * holds memory.current: v2 without the memory controller does not). */
int gd_parse_cgroup_location(const char *proc_cgroup, const char *mountinfo, gd_cgroup_loc *out);

/* ------------------------------------------------------------- readers */

/* Read a whole small file (relative to dirfd, or AT_FDCWD) into buf (NUL
 * terminated). Returns the length or -1 with errno. */
long gd_read_file(int dirfd, const char *path, char *buf, size_t cap);
/* Open descriptors of this process (entries of /proc/self/fd, not counting the
 * one used to list them), or -1. */
long gd_count_fds(void);

/* A memory cgroup opened once, read at every sample. */
typedef struct gd_cgroup {
    int version;            /* 0 = none found or not readable */
    int dirfd;
    char dir[4096];
} gd_cgroup;

typedef struct gd_cgroup_sample {
    uint64_t usage;         /* memory.current / memory.usage_in_bytes */
    uint64_t limit;         /* effective limit (v1: the smaller of the own and hierarchical limit) */
    uint64_t inactive_file; /* page cache the kernel reclaims first */
    uint64_t working_set;   /* usage - inactive_file, as the kubelet and docker stats count it */
    uint64_t oom_kills;     /* OOM kills in this cgroup so far */
} gd_cgroup_sample;

/* Find and open this process's memory cgroup (cg->version = 0 when there is
 * none usable, or only an unlimited root cgroup). Returns 0. */
int gd_cgroup_open(gd_cgroup *cg);
void gd_cgroup_close(gd_cgroup *cg);
int gd_cgroup_read(const gd_cgroup *cg, gd_cgroup_sample *out);

/* ------------------------------------------------------------- a sample */

typedef struct gd_sample {
    uint64_t rss, rss_anon;           /* this process */
    long fds;                         /* open descriptors */
    uint64_t fd_limit;                /* RLIMIT_NOFILE soft limit */
    uint64_t mem_total, mem_available;
    bool has_cgroup;
    gd_cgroup_sample cg;
    bool has_psi;
    gd_psi psi;
    /* Derived (gd_sample_derive): */
    uint64_t budget;                  /* min(configured, cgroup limit, MemTotal) */
    uint64_t usage;                   /* max(RSS, cgroup working set) */
    double pressure;                  /* usage / budget */
    double fd_ratio;                  /* fds / fd_limit */
    /* When gd_sample_read fails: the file it could not read (errno says why). */
    const char *unread;
} gd_sample;

/* Read everything (a missing source is left zero and flagged; PSI comes from
 * /proc/pressure/memory). Returns 0, or -1 with errno and out->unread set
 * when /proc/self/status is unreadable or the cgroup opened in cg is (a
 * sample without it would judge the cgroup's usage against the machine's
 * memory, a level far too low). */
int gd_sample_read(const gd_cgroup *cg, gd_sample *out);
/* Fill budget, usage, pressure and fd_ratio; configured_budget 0 = none. */
void gd_sample_derive(gd_sample *s, uint64_t configured_budget);

/* -------------------------------------------------------------- policy */

typedef enum gd_level { GD_OK = 0, GD_SOFT = 1, GD_HARD = 2, GD_CRITICAL = 3 } gd_level;

typedef struct gd_policy {
    double soft, hard, critical;      /* fractions of the budget (0.70, 0.85, 0.95) */
    double fd_soft, fd_hard;          /* fractions of RLIMIT_NOFILE (0.70, 0.90) */
    uint64_t interval_ms;             /* idle sampling interval (250) */
    uint64_t min_interval_ms;         /* near or above a threshold (10) */
} gd_policy;

void gd_policy_defaults(gd_policy *p);
/* The memory level of a pressure. */
gd_level gd_level_of(const gd_policy *p, double pressure);
/* Descriptor level: 0 below fd_soft, 1 at fd_soft, 2 at fd_hard. */
int gd_fd_level_of(const gd_policy *p, double fd_ratio);
/* Milliseconds until the next sample: interval_ms while the next threshold up
 * is far (20 points of budget or more), shrinking linearly to min_interval_ms
 * as pressure (or the descriptor ratio) nears it, and to at most half the
 * time the current growth (rate: pressure per second, from the last two
 * samples; 0 when flat or falling) needs to reach it; min_interval_ms at or
 * above critical. */
uint64_t gd_next_interval_ms(const gd_policy *p, double pressure, double fd_ratio, double rate);
const char *gd_level_name(gd_level l);

#endif /* RECLAIMD_GD_H */
