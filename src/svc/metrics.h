/* metrics.h - counters bumped in place, one function that renders /metrics, the HTTP server. */
#ifndef RECLAIMD_SVC_METRICS_H
#define RECLAIMD_SVC_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "ro.h"

/* Upper bounds (seconds) of the batch duration histogram buckets. */
#define SVC_BATCH_BUCKETS 10

/* What one worker last published about its runtime (copied under the lock). */
typedef struct svc_runtime_snapshot {
    uint64_t heap_bytes, arenas, bytes_released;
    uint64_t gc_collections[RO_GC_GENERATIONS], gc_collected, gc_uncollectable;
    double gc_pause_seconds;
    uint64_t unclosed_files;
    uint64_t tracked, open_files;   /* objects the collector tracks; open files in the registry */
    int alive;
} svc_runtime_snapshot;

typedef struct svc_metrics {
    atomic_ullong records_ok, records_bad, inputs_done, inputs_failed, batches;
    atomic_ullong batch_bucket[SVC_BATCH_BUCKETS + 1];   /* last: +Inf */
    atomic_ullong batch_seconds_us;                       /* sum, microseconds */
    atomic_ullong queue_depth;
    atomic_int in_progress;
    pthread_mutex_t mu;                                   /* guards runtimes */
    int nworkers;
    svc_runtime_snapshot *runtimes;
    void *http;                                           /* struct MHD_Daemon * */
    /* More lines appended by another module (the guard), or NULL. */
    int (*extra)(void *ud, ro_state *rt, ro_sbuf *out);
    void *extra_ud;
} svc_metrics;

int svc_metrics_init(svc_metrics *m, int nworkers);
void svc_metrics_fini(svc_metrics *m);
/* bt_config.on_batch adapter: ud is the svc_metrics. */
void svc_metrics_on_batch(void *ud, uint64_t records, uint64_t bad, double seconds);
/* A worker publishes its runtime's figures (called from its own thread). */
void svc_metrics_publish(svc_metrics *m, int worker, ro_state *rt, int alive);
/* Render the Prometheus text format into out. Returns 0 or -1. */
int svc_metrics_render(svc_metrics *m, ro_state *scratch, ro_sbuf *out);
/* Serve GET /metrics on "ADDR:PORT" ("off": nothing) from the caller's event
 * loop: returns 0 and sets *fd to a descriptor to watch for reading (-1 when
 * off); call svc_metrics_run when it is readable or after
 * svc_metrics_timeout_ms. Returns -1 with err on failure. */
int svc_metrics_serve(svc_metrics *m, const char *listen, int *fd, char *err, size_t errlen);
/* Do the pending HTTP work (never blocks). */
void svc_metrics_run(svc_metrics *m);
/* Milliseconds until svc_metrics_run must be called again, or -1 for never. */
long svc_metrics_timeout_ms(svc_metrics *m);

#endif
