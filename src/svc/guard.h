/* guard.h - the leak guard's ladder: decide on the loop thread, act at workers' safe points. */
#ifndef RECLAIMD_SVC_GUARD_H
#define RECLAIMD_SVC_GUARD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bt.h"
#include "config.h"
#include "gd.h"
#include "log.h"
#include "ro.h"

/* Kinds of action, as counted in reclaimd_guard_actions_total{action=...}. */
typedef enum svc_guard_action {
    SVC_GA_COLLECT,          /* full collection + free lists + page release + malloc_trim in one runtime */
    SVC_GA_CLOSE_FILES,      /* files force-closed (counted per file) */
    SVC_GA_PAUSE_INTAKE,
    SVC_GA_RESUME_INTAKE,
    SVC_GA_SHRINK_BATCH,
    SVC_GA_RESTORE_BATCH,
    SVC_GA_ABORT_BATCH,
    SVC_GA_RESTART,
    SVC_GA_COUNT
} svc_guard_action;

/* What the loop asks of one worker, and what that worker reports back. */
typedef struct svc_guard_slot {
    atomic_ullong collect_req, collect_done;   /* sequence numbers */
    atomic_ullong close_req, close_done;
    volatile int abort_req;                    /* drop the batch being built (bt_worker.abort_batch points here) */
    atomic_int busy;                           /* inside an input */
    atomic_ullong heap_bytes;                  /* runtime heap at the last safe point */
    atomic_ullong files_open;                  /* open files in its registry */
    atomic_ullong batch_records;               /* records in the batch being built */
    uint64_t heap_after;                       /* its heap after its last collection (worker's own) */
    int64_t last_collect_ns;                   /* when that was (worker's own) */
    char trigger[32];                          /* why the last collection was asked (written before collect_req) */
} svc_guard_slot;

typedef struct svc_guard {
    bool enabled;
    gd_policy pol;
    uint64_t budget_cfg;            /* [guard] memory_budget; 0 = none */
    uint64_t file_idle_ns;
    uint32_t min_users;             /* [guard] batch_min_users */
    uint32_t base_users;            /* [batch] users */
    svc_log *lg;
    void (*wake)(void *ud);         /* wake sleeping workers so they see a request */
    void *wake_ud;
    gd_cgroup cg;
    int nworkers;
    svc_guard_slot *slots;
    /* Read by workers: */
    atomic_uint users_cap;          /* 0 = no cap on users per batch */
    atomic_ullong fd_other;         /* descriptors at the last sample not in any file registry */
    atomic_ullong fd_soft_count;    /* fd_soft as a number of descriptors (0 = no limit known) */
    atomic_ullong heap_allow;       /* runtime heaps (all together) that reach soft; 0 = unknown */
    atomic_llong spacing_pub;       /* collect_spacing_ns, for workers */
    atomic_int intake_paused;
    /* Loop-thread state: */
    gd_sample last;
    gd_level level;
    int fd_level;
    int64_t last_collect_ns, last_shrink_ns, calm_since_ns, last_sample_ns;
    bool restart_pending;           /* abort + collection requested at critical: check afterwards */
    uint64_t restart_collect_seq;
    bool restart;                   /* decided: exit for a restart */
    bool collect_outstanding;       /* a round of collections was asked for and is not yet judged */
    double collect_pressure;        /* pressure when it was asked for */
    int64_t collect_spacing_ns;     /* least time between rounds (backs off while they free nothing) */
    bool outside_said;              /* logged that memory is held outside this process */
    bool idle_check;                /* paused at hard, nothing in flight: the last collection decides */
    uint64_t cg_oom_kills_at_start;
    uint64_t failed_streak;         /* samples in a row that could not be read */
    /* Exported: */
    atomic_ullong actions[SVC_GA_COUNT];
    atomic_ullong evaluations;
    atomic_ullong sample_failures;  /* samples that could not be read (retried at min_interval_ms) */
    atomic_ullong events;           /* kernel notifications received */
    /* Kernel event sources (descriptors the loop watches; -1 = none). */
    int ev_fds[6];
    int nev_fds;
    int psi_epoll;                  /* the PSI trigger's descriptor (kept open), or -1 */
    int psi_watch;                  /* the epoll set holding it (EPOLLPRI), watched by the loop, or -1 */
    pthread_t v1_thread;            /* registers the cgroup v1 events (see events_v1) */
    bool v1_started;                /* ... and is joined by svc_guard_fini */
} svc_guard;

/* Set up from the configuration (open the cgroup, register kernel events
 * where the kernel allows, logging which). Returns 0 or -1. */
int svc_guard_init(svc_guard *g, const svc_config *c, int nworkers, svc_log *lg);
void svc_guard_fini(svc_guard *g);
/* Take in a reloaded configuration (thresholds, budget, intervals). */
void svc_guard_reconfigure(svc_guard *g, const svc_config *c);
/* Sample and climb or descend the ladder (loop thread). trigger names what
 * caused the evaluation ("timer", "cgroup-threshold", ...). Returns the
 * milliseconds until the next timed sample. After it, g->restart says the
 * service must exit for a clean restart. */
uint64_t svc_guard_evaluate(svc_guard *g, const char *trigger);
/* Drain a kernel event descriptor that became readable. */
void svc_guard_event_drain(svc_guard *g, int fd);
/* At a worker's safe point (its thread): honour pending requests in its
 * runtime and apply the batch-size cap to bcfg (base_users = configured). */
void svc_guard_safe_point(svc_guard *g, int worker, ro_state *rt, bt_config *bcfg, uint32_t base_users,
                          uint64_t batch_records);
/* Prometheus lines for the guard. */
int svc_guard_render(svc_guard *g, ro_state *rt, ro_sbuf *out);
/* Short text for STATUS= ("guard ok 41%"). */
void svc_guard_status(const svc_guard *g, char *buf, size_t len);

#endif
