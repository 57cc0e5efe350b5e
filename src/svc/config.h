/* config.h - reclaimd's configuration: one table of keys drives parsing, checking and printing. */
#ifndef RECLAIMD_SVC_CONFIG_H
#define RECLAIMD_SVC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bt.h"

/* [guard]: everything a reload may change at once. */
typedef struct svc_guard_config {
    bool enabled;                  /* enabled */
    bool events;                   /* kernel_events (registered at start) */
    size_t budget;                 /* memory_budget; 0 = none of its own */
    uint32_t soft, hard, critical; /* percent of the budget */
    uint32_t fd_soft, fd_hard;     /* percent of RLIMIT_NOFILE */
    uint64_t interval_ms, min_interval_ms;
    uint64_t file_idle_ms;         /* file_idle_timeout */
    uint32_t batch_min_users;
} svc_guard_config;

typedef struct svc_config {
    char spool_dir[4096];          /* [spool] dir */
    bt_config batch;               /* [batch] users, bad_records, max_record_bytes, max_depth; [spool] done_action */
    char job[4096];                /* [batch] job */
    bt_job_option *job_opts;       /* [job] section, in file order (malloc'd) */
    size_t njob_opts;
    bool gc_enabled;               /* [runtime] gc */
    uint32_t gc_threshold0;        /* [runtime] gc_threshold */
    size_t release_threshold;      /* [runtime] release_threshold */
    int log_level;                 /* [log] level, syslog numbering */
    int log_target;                /* [log] target: SVC_LOG_AUTO, _STDERR, _SYSLOG */
    uint32_t workers;              /* [batch] workers; 0 = one per CPU */
    uint64_t drain_timeout_ms;     /* [batch] drain_timeout */
    uint64_t rescan_interval_ms;   /* [spool] rescan_interval */
    char metrics_listen[64];       /* [metrics] listen: "ADDR:PORT" or "off" */
    char control_socket[108];      /* [control] socket: a path, or "off" */
    svc_guard_config guard;        /* [guard] */
    int spool_dir_line;            /* line of [spool] dir in the file, 0 = not from a file */
    int guard_line;                /* line of the last [guard] key (for cross-key problems) */
} svc_config;

/* Defaults for every key. */
void svc_config_defaults(svc_config *c);
/* Read path over the defaults. Every problem is reported, one line each
 * ("FILE:LINE: [section] key: what is wrong (expected ...)"), into errs.
 * Returns the number of problems (0 = valid), or -1 if the file cannot be read. */
int svc_config_load(svc_config *c, const char *path, char *errs, size_t errlen);
/* Checks that need the system: the spool directory exists. Reports like
 * svc_config_load ("FILE:LINE: [spool] dir: ..."); returns the number of problems. */
int svc_config_check_system(const svc_config *c, const char *path, char *errs, size_t errlen);
/* Parse "ADDR:PORT" (IPv4) into host and port. Returns 0 or -1. */
int svc_parse_listen(const char *s, char *host, size_t hostlen, unsigned *port);
/* Print the effective configuration as a config file. */
void svc_config_print(const svc_config *c, FILE *f);
void svc_config_free(svc_config *c);
/* Parse "512", "64KiB", "1 MiB", "2GiB", or "5%" (of physical memory) into
 * bytes. Returns 0 or -1. */
int svc_parse_size(const char *s, uint64_t *out);
/* Parse "250ms", "5s", "2min" (a bare number is seconds) into milliseconds. */
int svc_parse_duration(const char *s, uint64_t *ms);
enum { SVC_LOG_AUTO = 0, SVC_LOG_STDERR = 1, SVC_LOG_SYSLOG = 2 };
/* Name of a syslog level ("info"), or NULL. */
const char *svc_level_name(int level);

#endif
