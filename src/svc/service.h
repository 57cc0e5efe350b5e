/* service.h - the long-running service: one libev loop, worker threads, systemd notification. */
#ifndef RECLAIMD_SVC_SERVICE_H
#define RECLAIMD_SVC_SERVICE_H

#include "config.h"
#include "log.h"

#include <stdbool.h>

/* Exit codes of the service (also documented in reclaimd(8)). */
enum {
    SVC_EXIT_OK = 0,
    SVC_EXIT_CONFIG = 1,
    SVC_EXIT_SPOOL = 3,
    SVC_EXIT_INPUT = 4,           /* --once: an input could not be processed (it stays in work/) */
    SVC_EXIT_DRAIN_TIMEOUT = 5,   /* SIGTERM: workers did not finish their batch in time */
    SVC_EXIT_GUARD_RESTART = 6,   /* the guard: leaked memory only a restart reclaims */
};

/* Demo mode: the loop calls make_input(ud, i) for i = 0 .. inputs-1, one a
 * second, and stops the service once all of them are done. */
typedef struct svc_demo {
    int inputs;
    int (*make_input)(void *ud, int i);
    void *ud;
} svc_demo;

/* Run the service in the foreground until SIGTERM or SIGINT: claim inputs as
 * they arrive in inbox/ (inotify, plus a periodic rescan), process them in
 * `workers` threads (each with its own runtime), tell systemd READY=1,
 * STATUS=, WATCHDOG=1, RELOADING=1, STOPPING=1 when NOTIFY_SOCKET is set,
 * re-read config_path on SIGHUP, and run the leak guard. cfg is the validated
 * configuration (the service takes it over). With once, there is no /metrics
 * and no control socket, and the service stops when every worker found
 * nothing left to claim (exit 4 when an input failed). Returns an exit code. */
int svc_run(svc_config *cfg, const char *config_path, const char *spool_override, svc_log *lg,
            const svc_demo *demo, bool once);

#endif
