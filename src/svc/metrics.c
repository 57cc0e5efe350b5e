/* metrics.c - Prometheus text format over HTTP (libmicrohttpd), from counters bumped in place. */
#include "metrics.h"

#include "config.h"
#include "gd.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef RECLAIMD_VERSION
#define RECLAIMD_VERSION "0.0.0"
#endif

static const double bucket_le[SVC_BATCH_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

int svc_metrics_init(svc_metrics *m, int nworkers)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    m->nworkers = nworkers;
    m->runtimes = calloc((size_t)(nworkers > 0 ? nworkers : 1), sizeof *m->runtimes);
    return m->runtimes != NULL ? 0 : -1;
}

void svc_metrics_fini(svc_metrics *m)
{
    if (m->http != NULL)
        MHD_stop_daemon(m->http);
    m->http = NULL;
    free(m->runtimes);
    m->runtimes = NULL;
    pthread_mutex_destroy(&m->mu);
}

void svc_metrics_on_batch(void *ud, uint64_t records, uint64_t bad, double seconds)
{
    svc_metrics *m = ud;
    atomic_fetch_add(&m->batches, 1);
    atomic_fetch_add(&m->records_ok, records - bad);
    atomic_fetch_add(&m->records_bad, bad);
    atomic_fetch_add(&m->batch_seconds_us, (unsigned long long)(seconds * 1e6));
    int b = 0;
    while (b < SVC_BATCH_BUCKETS && seconds > bucket_le[b])
        b++;
    atomic_fetch_add(&m->batch_bucket[b], 1);
}

void svc_metrics_publish(svc_metrics *m, int worker, ro_state *rt, int alive)
{
    svc_runtime_snapshot snap = {.alive = alive};
    if (rt != NULL) {
        ro_mem_stats st;
        ro_mem_get_stats(rt, &st);
        snap.heap_bytes = st.bytes_in_use;
        snap.arenas = st.arenas_mapped;
        snap.bytes_released = st.bytes_released_total;
        for (int g = 0; g < RO_GC_GENERATIONS; g++) {
            ro_gc_genstats gs;
            ro_gc_get_stats(rt, g, &gs);
            snap.gc_collections[g] = gs.collections;
            snap.gc_collected += gs.collected;
            snap.gc_uncollectable += gs.uncollectable;
            snap.gc_pause_seconds += (double)gs.pause_ns_total / 1e9;
        }
        snap.unclosed_files = ro_file_unclosed_count(rt);
        snap.tracked = ro_gc_tracked(rt);
        snap.open_files = ro_file_open_count(rt);
    }
    pthread_mutex_lock(&m->mu);
    if (worker >= 0 && worker < m->nworkers)
        m->runtimes[worker] = snap;
    pthread_mutex_unlock(&m->mu);
}

/* The guard's probes serve the plain gauges too. */
static uint64_t rss_bytes(void)
{
    char buf[4096];
    uint64_t rss = 0, anon = 0;
    if (gd_read_file(AT_FDCWD, "/proc/self/status", buf, sizeof buf) < 0 ||
        gd_parse_proc_status(buf, &rss, &anon) != 0)
        return 0;
    return rss;
}

#define PUT(...) do { if (ro_sbuf_appendf(rt, out, __VA_ARGS__) != 0) return -1; } while (0)

int svc_metrics_render(svc_metrics *m, ro_state *rt, ro_sbuf *out)
{
    PUT("# HELP reclaimd_build_info Version of the running reclaimd.\n# TYPE reclaimd_build_info gauge\n"
        "reclaimd_build_info{version=\"%s\"} 1\n", RECLAIMD_VERSION);
    PUT("# HELP reclaimd_records_total Records processed, by result.\n# TYPE reclaimd_records_total counter\n"
        "reclaimd_records_total{result=\"ok\"} %llu\nreclaimd_records_total{result=\"bad\"} %llu\n",
        (unsigned long long)atomic_load(&m->records_ok), (unsigned long long)atomic_load(&m->records_bad));
    PUT("# HELP reclaimd_inputs_total Inputs that left work/ (done or rejected) or failed.\n"
        "# TYPE reclaimd_inputs_total counter\n"
        "reclaimd_inputs_total{result=\"done\"} %llu\nreclaimd_inputs_total{result=\"failed\"} %llu\n",
        (unsigned long long)atomic_load(&m->inputs_done), (unsigned long long)atomic_load(&m->inputs_failed));
    PUT("# HELP reclaimd_batches_total Batches committed.\n# TYPE reclaimd_batches_total counter\n"
        "reclaimd_batches_total %llu\n", (unsigned long long)atomic_load(&m->batches));
    PUT("# HELP reclaimd_batch_duration_seconds Time from a batch's first read to its checkpoint.\n"
        "# TYPE reclaimd_batch_duration_seconds histogram\n");
    unsigned long long cum = 0;
    for (int b = 0; b < SVC_BATCH_BUCKETS; b++) {
        cum += atomic_load(&m->batch_bucket[b]);
        PUT("reclaimd_batch_duration_seconds_bucket{le=\"%g\"} %llu\n", bucket_le[b], cum);
    }
    cum += atomic_load(&m->batch_bucket[SVC_BATCH_BUCKETS]);
    PUT("reclaimd_batch_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
        "reclaimd_batch_duration_seconds_sum %.6f\nreclaimd_batch_duration_seconds_count %llu\n", cum,
        (double)atomic_load(&m->batch_seconds_us) / 1e6, cum);
    PUT("# HELP reclaimd_queue_depth Inputs waiting in inbox/ at the last look.\n# TYPE reclaimd_queue_depth gauge\n"
        "reclaimd_queue_depth %llu\n", (unsigned long long)atomic_load(&m->queue_depth));
    PUT("# HELP reclaimd_inputs_in_progress Inputs being processed now.\n# TYPE reclaimd_inputs_in_progress gauge\n"
        "reclaimd_inputs_in_progress %d\n", atomic_load(&m->in_progress));
    PUT("# HELP reclaimd_rss_bytes Resident set size of the process.\n# TYPE reclaimd_rss_bytes gauge\n"
        "reclaimd_rss_bytes %llu\n", (unsigned long long)rss_bytes());
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    PUT("# HELP reclaimd_open_fds Open file descriptors.\n# TYPE reclaimd_open_fds gauge\nreclaimd_open_fds %ld\n"
        "# HELP reclaimd_fd_limit Soft RLIMIT_NOFILE.\n# TYPE reclaimd_fd_limit gauge\nreclaimd_fd_limit %llu\n",
        gd_count_fds(), (unsigned long long)rl.rlim_cur);
    pthread_mutex_lock(&m->mu);
    int n = m->nworkers;
    svc_runtime_snapshot *snaps = malloc((size_t)(n > 0 ? n : 1) * sizeof *snaps);
    if (snaps != NULL)
        memcpy(snaps, m->runtimes, (size_t)n * sizeof *snaps);
    pthread_mutex_unlock(&m->mu);
    if (snaps == NULL)
        return -1;
    static const struct { const char *name, *type, *help; } per[] = {
        {"reclaimd_runtime_heap_bytes", "gauge", "Object bytes in use in a worker's runtime."},
        {"reclaimd_runtime_arenas", "gauge", "Arenas mapped by a worker's runtime."},
        {"reclaimd_runtime_released_bytes_total", "counter", "Pages given back to the OS by a worker's runtime."},
        {"reclaimd_gc_collected_total", "counter", "Objects freed by the cycle collector."},
        {"reclaimd_gc_uncollectable_total", "counter", "Objects the collector found but could not free."},
        {"reclaimd_gc_pause_seconds_total", "counter", "Time spent in collections."},
        {"reclaimd_unclosed_files_total", "counter", "File objects freed while open (closed by the runtime)."},
        {"reclaimd_gc_tracked_objects", "gauge", "Container objects the collector tracks in a worker's runtime."},
        {"reclaimd_runtime_open_files", "gauge", "Open files in a worker's runtime registry."},
    };
    int r = 0;
    for (size_t k = 0; k < sizeof per / sizeof per[0] && r == 0; k++) {
        r = ro_sbuf_appendf(rt, out, "# HELP %s %s\n# TYPE %s %s\n", per[k].name, per[k].help, per[k].name,
                            per[k].type);
        for (int i = 0; i < n && r == 0; i++) {
            svc_runtime_snapshot *sn = &snaps[i];
            if (k == 5)
                r = ro_sbuf_appendf(rt, out, "%s{worker=\"%d\"} %.6f\n", per[k].name, i, sn->gc_pause_seconds);
            else {
                const uint64_t v[] = {sn->heap_bytes,       sn->arenas,         sn->bytes_released,
                                      sn->gc_collected,     sn->gc_uncollectable, 0,
                                      sn->unclosed_files,   sn->tracked,        sn->open_files};
                r = ro_sbuf_appendf(rt, out, "%s{worker=\"%d\"} %llu\n", per[k].name, i, (unsigned long long)v[k]);
            }
        }
    }
    if (r == 0)
        r = ro_sbuf_appendf(rt, out, "# HELP reclaimd_gc_collections_total Collections, by generation.\n"
                                     "# TYPE reclaimd_gc_collections_total counter\n");
    for (int i = 0; i < n && r == 0; i++)
        for (int g = 0; g < RO_GC_GENERATIONS && r == 0; g++)
            r = ro_sbuf_appendf(rt, out, "reclaimd_gc_collections_total{worker=\"%d\",generation=\"%d\"} %llu\n", i,
                                g, (unsigned long long)snaps[i].gc_collections[g]);
    free(snaps);
    if (r == 0 && m->extra != NULL)
        r = m->extra(m->extra_ud, rt, out);
    return r;
}

/* ------------------------------------------------------------------ HTTP */

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **req)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)req;
    svc_metrics *m = cls;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    if (strcmp(method, "GET") != 0 || strcmp(url, "/metrics") != 0) {
        static const char nf[] = "reclaimd: only GET /metrics is served here\n";
        resp = MHD_create_response_from_buffer(sizeof nf - 1, (void *)nf, MHD_RESPMEM_PERSISTENT);
        ret = MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    /* A private runtime per request only for its text buffer's error slot. */
    ro_state *rt = ro_open(NULL);
    ro_sbuf out = {0};
    if (rt == NULL || svc_metrics_render(m, rt, &out) != 0) {
        ro_sbuf_free(&out);
        if (rt != NULL)
            ro_close(rt);
        return MHD_NO;
    }
    ro_close(rt);
    resp = MHD_create_response_from_buffer(out.len, out.data, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

int svc_metrics_serve(svc_metrics *m, const char *listen, int *fd, char *err, size_t errlen)
{
    *fd = -1;
    if (strcmp(listen, "off") == 0 || listen[0] == '\0')
        return 0;
    char host[64];
    unsigned port;
    if (svc_parse_listen(listen, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "[metrics] listen: '%s' is not ADDR:PORT (like 127.0.0.1:9187) or off", listen);
        return -1;
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "[metrics] listen: '%s' is not an IPv4 address", host);
        return -1;
    }
    /* No thread of its own: epoll mode gives one descriptor for the service's loop. */
    m->http = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL,
                               answer, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                               MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (m->http == NULL) {
        snprintf(err, errlen, "[metrics] listen: cannot serve on %s (address in use, or not this host's?)", listen);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->http, MHD_DAEMON_INFO_EPOLL_FD);
    if (info == NULL) {
        snprintf(err, errlen, "[metrics] listen: libmicrohttpd gave no epoll descriptor");
        MHD_stop_daemon(m->http);
        m->http = NULL;
        return -1;
    }
    *fd = info->epoll_fd;
    return 0;
}

void svc_metrics_run(svc_metrics *m)
{
    if (m->http != NULL)
        MHD_run(m->http);
}

long svc_metrics_timeout_ms(svc_metrics *m)
{
    MHD_UNSIGNED_LONG_LONG ms;
    if (m->http == NULL || MHD_get_timeout(m->http, &ms) != MHD_YES)
        return -1;
    return ms > 60000 ? 60000 : (long)ms;
}
