/* log.h - operator log lines: stderr with <N> priority prefixes (journald) or plain. */
#ifndef RECLAIMD_SVC_LOG_H
#define RECLAIMD_SVC_LOG_H

typedef struct svc_log {
    int level;          /* least important level written (syslog numbering) */
    int prefix;         /* write "<N>" before each line (stderr read by journald) */
} svc_log;

/* Under systemd (JOURNAL_STREAM set) lines carry <N> prefixes. */
void svc_log_init(svc_log *lg, int level);
void svc_log_write(svc_log *lg, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Adapter for bt_config.log and ro_config.log: ud is the svc_log. */
void svc_log_sink(void *ud, int level, const char *msg);

#endif
