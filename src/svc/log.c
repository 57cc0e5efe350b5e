/* log.c - operator log lines on stderr; one line per event, key=value figures. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>

static const char *const level_word[] = {"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"};

static int stderr_leads_nowhere(void)
{
    struct stat st, null;
    if (fstat(2, &st) != 0)
        return 1;
    return stat("/dev/null", &null) == 0 && st.st_dev == null.st_dev && st.st_ino == null.st_ino;
}

void svc_log_init(svc_log *lg, int level, int target)
{
    lg->level = level;
    lg->prefix = getenv("JOURNAL_STREAM") != NULL;
    lg->use_syslog = target == 2 || (target == 0 && !lg->prefix && stderr_leads_nowhere());
    if (lg->use_syslog)
        openlog("reclaimd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void svc_log_sink(void *ud, int level, const char *msg)
{
    svc_log *lg = ud;
    if (level > lg->level)
        return;
    if (level < 0 || level > 7)
        level = 3;
    if (lg->use_syslog) {
        syslog(level, "%s", msg);
        return;
    }
    /* One fprintf per line: lines from several threads do not interleave. */
    if (lg->prefix)
        fprintf(stderr, "<%d>%s\n", level, msg);
    else
        fprintf(stderr, "reclaimd: %s: %s\n", level_word[level], msg);
}

void svc_log_write(svc_log *lg, int level, const char *fmt, ...)
{
    if (level > lg->level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    svc_log_sink(lg, level, msg);
}
