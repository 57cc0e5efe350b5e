/* log.h - operator log lines: stderr with <N> priority prefixes (journald) or plain. */
#ifndef RECLAIMD_SVC_LOG_H
#define RECLAIMD_SVC_LOG_H

typedef struct svc_log {
    int level;          /* least important level written (syslog numbering) */
    int prefix;         /* write "<N>" before each line (stderr read by journald) */
    int use_syslog;     /* syslog(3), facility daemon, ident reclaimd */
} svc_log;

/* target: 0 auto (stderr, with <N> prefixes under systemd's JOURNAL_STREAM;
 * syslog only when stderr leads nowhere: closed or /dev/null), 1 stderr,
 * 2 syslog. */
void svc_log_init(svc_log *lg, int level, int target);
void svc_log_write(svc_log *lg, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Adapter for bt_config.log and ro_config.log: ud is the svc_log. */
void svc_log_sink(void *ud, int level, const char *msg);

#endif
