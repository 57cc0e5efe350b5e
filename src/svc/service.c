/* service.c - the service: one libev loop (signals, inotify, timers), worker threads, sd_notify. */
#include "service.h"

#include "bt.h"
#include "guard.h"
#include "metrics.h"
#include "nj.h"
#include "ro.h"

#include <dirent.h>
#include <errno.h>
#include <ev.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

/*
 * Threads: the main thread owns the loop (the only ev_run) and everything
 * systemd sees; each worker thread owns one runtime and one bt_worker, claims
 * inputs itself (claims are atomic renames, so workers never collide) and
 * processes one at a time. Workers learn of new inputs through a condition
 * variable the loop signals on inotify events and on the rescan timer, and
 * tell the loop they finished something through an ev_async. Configuration
 * that may change on SIGHUP is read by workers under `mu` at the start of
 * each input; stop requests reach them through `stop`, which the batch
 * engine checks between batches.
 */

typedef struct svc svc;

typedef struct svc_worker {
    svc *s;
    int index;
    pthread_t thread;
    bool started;
    bt_config bcfg;           /* this worker's copy, refreshed before each input */
    uint32_t base_users;      /* [batch] users as configured (the guard may lower bcfg's) */
    unsigned long long gc_seen; /* last collection request honoured */
    uint64_t cfg_gen;         /* configuration generation applied to the runtime */
    bt_worker *bw;            /* its batch engine (NULL until set up) */
    atomic_int idle;          /* found nothing to do on its last look (and intake was open) */
} svc_worker;

struct svc {
    struct ev_loop *loop;
    ev_signal sig_term, sig_int, sig_hup;
    ev_io inotify_w;
    ev_timer rescan_t, watchdog_t, drain_t;
    ev_async wake;
    int inotify_fd;
    svc_log *lg;
    const char *config_path, *spool_override;
    svc_config *cfg;          /* fields workers read are guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t work_seq;        /* bumped when inbox/ may hold something new (mu) */
    volatile int stop;        /* workers stop between batches */
    int running;              /* workers alive (mu) */
    int looking;              /* workers inside a look at inbox/ and work/, claim included (mu) */
    bt_spool spool;
    const bt_job *job;
    void *dl;
    svc_worker *workers;
    int nworkers;
    svc_metrics m;            /* counters shared with /metrics and STATUS= */
    ev_io ctl_w;
    int ctl_fd;               /* listening control socket, or -1 */
    ev_io http_w;             /* the metrics server, driven by this loop */
    ev_timer http_t;
    volatile int paused;      /* workers claim nothing new */
    atomic_ullong gc_seq;     /* bumped by a "gc" request */
    const svc_demo *demo;     /* demo mode, or NULL */
    ev_timer demo_t;
    int demo_made;
    char last_status[256];    /* STATUS= last sent: only changes are sent */
    bool stopping;
    char stop_reason[64];
    int exit_code;
    uint64_t cfg_gen;         /* bumped by each successful reload (mu) */
    bool once;                /* --once: stop when the spool is drained */
    atomic_int once_errors;   /* --once: claiming failed (exit 4) */
    char **failed;            /* inputs that failed in this run: not retried until the next rescan (mu) */
    size_t nfailed;
    svc_guard guard;
    ev_timer guard_t;
    ev_io guard_ev[6];
};

/* --------------------------------------------------------------- notify */

/* Send STATUS= when it changed; with ready, READY=1 goes in the same datagram,
 * so a manager never sees the service ready without its status. */
static void notify_status_ready(svc *s, bool ready)
{
    if (getenv("NOTIFY_SOCKET") == NULL)
        return;
    char line[256], gs[48];
    svc_guard_status(&s->guard, gs, sizeof gs);
    snprintf(line, sizeof line,
             "STATUS=%s: queued %llu, in progress %d, done %llu, failed %llu; records %llu, bad %llu; %s",
             s->stopping ? "stopping" : atomic_load(&s->guard.intake_paused) ? "intake paused by the guard"
                                                                               : "processing", (unsigned long long)atomic_load(&s->m.queue_depth),
             atomic_load(&s->m.in_progress), (unsigned long long)atomic_load(&s->m.inputs_done),
             (unsigned long long)atomic_load(&s->m.inputs_failed),
             (unsigned long long)(atomic_load(&s->m.records_ok) + atomic_load(&s->m.records_bad)),
             (unsigned long long)atomic_load(&s->m.records_bad), gs);
    if (ready) {
        snprintf(s->last_status, sizeof s->last_status, "%s", line);
        sd_notifyf(0, "READY=1\n%s", line);
        return;
    }
    if (strcmp(line, s->last_status) == 0)
        return;
    snprintf(s->last_status, sizeof s->last_status, "%s", line);
    sd_notify(0, line);
}

static void notify_status(svc *s)
{
    notify_status_ready(s, false);
}

/* -------------------------------------------------------------- workers */

static void wake_workers(svc *s)
{
    pthread_mutex_lock(&s->mu);
    s->work_seq++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Apply the runtime settings that may change on reload. Called by the worker. */
static void apply_runtime_settings(ro_state *rt, const svc_config *c)
{
    if (c->gc_enabled)
        ro_gc_enable(rt);
    else
        ro_gc_disable(rt);
    ro_gc_set_threshold(rt, c->gc_threshold0, 10, 10);
    ro_mem_set_release_threshold(rt, c->release_threshold);
}

/* Between batches and between inputs: honour a pending "gc" request. */
static void worker_safe_point(void *ud, ro_state *rt)
{
    svc_worker *wk = ud;
    svc_guard_safe_point(&wk->s->guard, wk->index, rt, &wk->bcfg, wk->base_users,
                         wk->bw != NULL ? wk->bw->batch_records : 0);
    unsigned long long want = atomic_load(&wk->s->gc_seq);
    if (wk->gc_seen == want)
        return;
    wk->gc_seen = want;
    ro_gc_report r;
    ro_gc_collect(rt, RO_GC_GENERATIONS - 1, &r);
    svc_log_write(wk->s->lg, 5, "gc worker=%d collected=%llu uncollectable=%llu released_bytes=%llu took_ms=%.1f",
                  wk->index, (unsigned long long)r.collected, (unsigned long long)r.uncollectable,
                  (unsigned long long)r.bytes_released, (double)r.pause_ns / 1e6);
    svc_metrics_publish(&wk->s->m, wk->index, rt, 1);
}

/* bt_worker.skip: inputs that failed in this run wait for the next rescan
 * (or the next run, with --once) instead of failing again at once. */
static bool skip_failed(void *ud, const char *name)
{
    svc *s = ud;
    bool found = false;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nfailed && !found; i++)
        found = strcmp(s->failed[i], name) == 0;
    pthread_mutex_unlock(&s->mu);
    return found;
}

static void remember_failed(svc *s, const char *name)
{
    pthread_mutex_lock(&s->mu);
    char **f = realloc(s->failed, (s->nfailed + 1) * sizeof *f);
    if (f != NULL) {
        s->failed = f;
        if ((f[s->nfailed] = strdup(name)) != NULL)
            s->nfailed++;
    }
    pthread_mutex_unlock(&s->mu);
}

static void forget_failed(svc *s)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nfailed; i++)
        free(s->failed[i]);
    free(s->failed);
    s->failed = NULL;
    s->nfailed = 0;
    pthread_mutex_unlock(&s->mu);
}

/* Refresh this worker's copy of what a reload may change (under mu). */
static void worker_refresh(svc_worker *wk, ro_state *rt)
{
    svc *s = wk->s;
    wk->bcfg = s->cfg->batch;
    wk->base_users = s->cfg->batch.users_per_batch;
    wk->bcfg.safe_point = worker_safe_point;
    wk->bcfg.safe_point_ud = wk;
    /* Runtime settings only when they changed: a job may have switched
     * automatic collection off for its own reasons. */
    if (wk->cfg_gen != s->cfg_gen) {
        apply_runtime_settings(rt, s->cfg);
        wk->cfg_gen = s->cfg_gen;
    }
}

/* A worker's look at the spool is over: what it claimed, if anything, is
 * counted in progress already. */
static void look_done(svc *s)
{
    pthread_mutex_lock(&s->mu);
    s->looking--;
    pthread_mutex_unlock(&s->mu);
}

static void *worker_main(void *arg)
{
    svc_worker *wk = arg;
    svc *s = wk->s;
    char err[768], name[256];
    ro_config rc = {.log = svc_log_sink, .log_ud = s->lg};
    ro_state *rt = ro_open(&rc);
    bt_worker w;
    bool ok = false;
    pthread_mutex_lock(&s->mu);
    wk->gc_seen = atomic_load(&s->gc_seq);
    wk->cfg_gen = s->cfg_gen - 1;
    if (rt != NULL) {
        worker_refresh(wk, rt);
        ok = bt_worker_init(&w, rt, s->job, s->cfg->job_opts, s->cfg->njob_opts, &wk->bcfg, &s->spool, err,
                            sizeof err) == 0;
    }
    pthread_mutex_unlock(&s->mu);
    if (!ok) {
        svc_log_write(s->lg, 3, "worker=%d cannot start: %s", wk->index, rt ? err : "out of memory");
    } else {
        w.stop = &s->stop;
        wk->bw = &w;
        w.abort_batch = &s->guard.slots[wk->index].abort_req;
        w.skip = skip_failed;
        w.skip_ud = s;
        while (!s->stop) {
            pthread_mutex_lock(&s->mu);
            if (s->stop) {                  /* set under mu by --once's drained check */
                pthread_mutex_unlock(&s->mu);
                break;
            }
            worker_refresh(wk, rt);         /* reload: batch size, limits, policies */
            uint64_t seq = s->work_seq;
            s->looking++;                   /* until what it claims is counted in progress */
            pthread_mutex_unlock(&s->mu);
            s->guard.slots[wk->index].abort_req = 0;   /* no batch in flight to abort */
            worker_safe_point(wk, rt);
            int r = 0;
            bool orphan = false;
            bool paused = s->paused || atomic_load(&s->guard.intake_paused);
            if (!paused) {
                r = bt_find_orphan(&w, name, sizeof name, err, sizeof err);
                orphan = r == 1;
                if (r == 0)
                    r = bt_claim_next(&w, name, sizeof name, err, sizeof err);
            }
            if (r < 0) {
                svc_log_write(s->lg, 3, "worker=%d %s", wk->index, err);
                if (s->once)
                    atomic_store(&s->once_errors, 1);   /* --once ends with exit 4 instead of retrying */
            }
            if (r == 1) {
                if (!orphan)
                    svc_log_write(s->lg, 6, "input=%s claimed worker=%d", name, wk->index);
                atomic_store(&wk->idle, 0);
                atomic_fetch_add(&s->m.in_progress, 1);
                look_done(s);
                atomic_store(&s->guard.slots[wk->index].busy, 1);
                ev_async_send(s->loop, &s->wake);
                bt_input_report rep;
                int pr = bt_process_input(&w, name, &rep, err, sizeof err);
                atomic_store(&s->guard.slots[wk->index].busy, 0);
                s->guard.slots[wk->index].abort_req = 0;
                atomic_fetch_sub(&s->m.in_progress, 1);
                if (pr != 0) {
                    atomic_fetch_add(&s->m.inputs_failed, 1);
                    remember_failed(s, name);
                    svc_log_write(s->lg, 3, "input=%s failed: %s (it stays in work/ and resumes %s)", name, err,
                                  s->once ? "at the next run" : "after the next rescan");
                } else if (rep.finished) {
                    atomic_fetch_add(&s->m.inputs_done, 1);
                }
                svc_metrics_publish(&s->m, wk->index, rt, 1);
                ev_async_send(s->loop, &s->wake);
                continue;
            }
            svc_metrics_publish(&s->m, wk->index, rt, 1);
            bool found_nothing = (r == 0 || (r < 0 && s->once)) && !paused;
            bool was_idle = found_nothing && atomic_exchange(&wk->idle, 1);
            look_done(s);
            if (found_nothing && (!was_idle || s->once))
                ev_async_send(s->loop, &s->wake);   /* --once: the loop checks for a drained spool */
            /* Nothing to do: sleep until the loop sees something new (or
             * once a second, should a wakeup be lost). */
            pthread_mutex_lock(&s->mu);
            while (!s->stop && s->work_seq == seq) {
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += 1;
                if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT)
                    break;
            }
            pthread_mutex_unlock(&s->mu);
        }
        wk->bw = NULL;
        bt_worker_fini(&w);
    }
    svc_metrics_publish(&s->m, wk->index, NULL, 0);
    if (rt != NULL) {
        size_t leaked = ro_close(rt);
        if (leaked != 0)
            svc_log_write(s->lg, 4, "worker=%d runtime closed with %zu bytes still referenced", wk->index, leaked);
    }
    pthread_mutex_lock(&s->mu);
    s->running--;
    pthread_mutex_unlock(&s->mu);
    ev_async_send(s->loop, &s->wake);
    return NULL;
}

/* ------------------------------------------------------------ callbacks */

static void begin_stop(svc *s, const char *why)
{
    if (s->stopping)
        return;
    s->stopping = true;
    snprintf(s->stop_reason, sizeof s->stop_reason, "%s", why);
    sd_notify(0, "STOPPING=1");
    svc_log_write(s->lg, 5, "stopping (%s): workers finish their current batch, drain_timeout=%llums", why,
                  (unsigned long long)s->cfg->drain_timeout_ms);
    ev_io_stop(s->loop, &s->inotify_w);
    ev_timer_stop(s->loop, &s->rescan_t);
    if (s->demo != NULL)
        ev_timer_stop(s->loop, &s->demo_t);
    s->stop = 1;
    wake_workers(s);
    ev_timer_set(&s->drain_t, (double)s->cfg->drain_timeout_ms / 1000.0, 0.0);
    ev_timer_start(s->loop, &s->drain_t);
    notify_status(s);
}

static void on_stop_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    begin_stop(w->data, w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* --once: every worker looked and found nothing, none is looking (a look
 * may be claiming an input that is not yet counted in progress) or busy,
 * intake open. Called with mu held. */
static bool drained(svc *s)
{
    if (s->looking != 0 || s->paused || atomic_load(&s->guard.intake_paused) ||
        atomic_load(&s->m.in_progress) != 0)
        return false;
    for (int i = 0; i < s->nworkers; i++)
        if (s->workers[i].started && !atomic_load(&s->workers[i].idle))
            return false;
    return true;
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)revents;
    svc *s = w->data;
    notify_status(s);
    pthread_mutex_lock(&s->mu);
    int running = s->running;
    pthread_mutex_unlock(&s->mu);
    if (running == 0) {
        if (!s->stopping)
            svc_log_write(s->lg, 3, "no worker is running: stopping");
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    if (s->once && !s->stopping) {
        /* Decided and the stop flag set under mu: a worker starts a look
         * only under mu and not once stop is set, so none can claim an
         * input after the spool was found drained. */
        pthread_mutex_lock(&s->mu);
        bool done = drained(s);
        if (done)
            s->stop = 1;
        pthread_mutex_unlock(&s->mu);
        if (done)
            begin_stop(s, "spool drained");
    }
}

/* ---------------------------------------------------------------- guard */

static void guard_wake(void *ud) { wake_workers(ud); }

static void guard_run(svc *s, const char *trigger)
{
    if (s->stopping)
        return;
    int paused = atomic_load(&s->guard.intake_paused);
    uint64_t ms = svc_guard_evaluate(&s->guard, trigger);
    if (paused && !atomic_load(&s->guard.intake_paused))
        wake_workers(s);                    /* intake resumed */
    if (s->guard.restart) {
        s->exit_code = SVC_EXIT_GUARD_RESTART;
        for (int i = 0; i < s->nworkers; i++)
            s->guard.slots[i].abort_req = 1;
        begin_stop(s, "guard: restart to reclaim leaked memory");
        return;
    }
    notify_status(s);
    ev_timer_stop(s->loop, &s->guard_t);
    ev_timer_set(&s->guard_t, (double)ms / 1000.0, 0.0);
    ev_timer_start(s->loop, &s->guard_t);
}

static void on_guard_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    guard_run(w->data, "timer");
}

static void on_guard_event(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    svc *s = w->data;
    svc_guard_event_drain(&s->guard, w->fd);
    guard_run(s, "kernel-event");
}

static int guard_render(void *ud, ro_state *rt, ro_sbuf *out) { return svc_guard_render(ud, rt, out); }

static void on_drain_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    svc *s = w->data;
    svc_log_write(s->lg, 4, "drain timeout: %d input(s) still in a batch; exiting, they resume from their "
                            "last checkpoint", atomic_load(&s->m.in_progress));
    s->exit_code = SVC_EXIT_DRAIN_TIMEOUT;
    ev_break(loop, EVBREAK_ALL);
}

static void on_inotify(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    svc *s = w->data;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (read(s->inotify_fd, buf, sizeof buf) > 0)
        ;                                   /* drain: which file does not matter */
    wake_workers(s);
}

static uint64_t count_inbox(svc *s)
{
    int fd = dup(s->spool.inbox_fd);
    if (fd < 0)
        return atomic_load(&s->m.queue_depth);
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return atomic_load(&s->m.queue_depth);
    }
    rewinddir(d);
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += bt_name_is_input(e->d_name);
    closedir(d);
    return n;
}

static void on_rescan(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    svc *s = w->data;
    atomic_store(&s->m.queue_depth, count_inbox(s));
    if (!s->once)
        forget_failed(s);                   /* failed inputs get another try */
    wake_workers(s);
    notify_status(s);
}

static void on_demo_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    svc *s = w->data;
    if (s->stopping)
        return;
    if (s->demo_made < s->demo->inputs) {
        if (s->demo->make_input(s->demo->ud, s->demo_made) != 0)
            svc_log_write(s->lg, 3, "demo: cannot write input %d: %s", s->demo_made, strerror(errno));
        s->demo_made++;
        return;
    }
    if (atomic_load(&s->m.inputs_done) + atomic_load(&s->m.inputs_failed) >= (unsigned long long)s->demo->inputs &&
        atomic_load(&s->m.in_progress) == 0)
        begin_stop(s, "demo finished");
}

/* The metrics server runs in this loop: its epoll descriptor is readable
 * when a connection needs work; its timer covers connection timeouts. */
static void http_rearm(svc *s)
{
    long ms = svc_metrics_timeout_ms(&s->m);
    ev_timer_stop(s->loop, &s->http_t);
    if (ms >= 0) {
        ev_timer_set(&s->http_t, (double)ms / 1000.0, 0.0);
        ev_timer_start(s->loop, &s->http_t);
    }
}

static void on_http(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    svc *s = w->data;
    svc_metrics_run(&s->m);
    http_rearm(s);
}

static void on_http_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    svc *s = w->data;
    svc_metrics_run(&s->m);
    http_rearm(s);
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    sd_notify(0, "WATCHDOG=1");
}

/* SIGHUP and "reclaimctl reload": read the file again; apply what can change
 * live, keep the old configuration (and say why) when the new one is invalid.
 * Returns true when the new configuration is in effect; msg says what happened. */
static bool do_reload(svc *s, char *msg, size_t msglen)
{
    sd_notify(0, "RELOADING=1");
    bool ok = false;
    if (s->config_path == NULL) {
        snprintf(msg, msglen, "no configuration file (started without --config): nothing to reload");
        svc_log_write(s->lg, 5, "reload: %s", msg);
        notify_status_ready(s, true);
        return false;
    }
    svc_config next;
    svc_config_defaults(&next);
    char errs[8192];
    int n = svc_config_load(&next, s->config_path, errs, sizeof errs);
    if (n != 0) {
        snprintf(msg, msglen, "%s is invalid (%d problem%s, first: %.*s); keeping the previous configuration",
                 s->config_path, n < 0 ? 1 : n, n == 1 ? "" : "s", (int)strcspn(errs, "\n"), errs);
        for (char *line = strtok(errs, "\n"); line != NULL; line = strtok(NULL, "\n"))
            svc_log_write(s->lg, 3, "reload: %s", line);
        svc_log_write(s->lg, 3, "reload: %s is invalid; keeping the previous configuration", s->config_path);
    } else {
        if (s->spool_override == NULL && strcmp(next.spool_dir, s->cfg->spool_dir) != 0)
            svc_log_write(s->lg, 4, "reload: [spool] dir changed; it takes effect at the next restart");
        if (strcmp(next.job, s->cfg->job) != 0 || next.workers != s->cfg->workers ||
            strcmp(next.metrics_listen, s->cfg->metrics_listen) != 0 ||
            strcmp(next.control_socket, s->cfg->control_socket) != 0)
            svc_log_write(s->lg, 4, "reload: [batch] job and workers, [metrics] listen and [control] socket "
                                    "take effect at the next restart");
        pthread_mutex_lock(&s->mu);
        svc_config *c = s->cfg;
        bt_config keep = c->batch;
        c->batch = next.batch;              /* users, limits, bad_records, done_action */
        c->batch.log = keep.log;
        c->batch.log_ud = keep.log_ud;
        c->batch.on_batch = keep.on_batch;
        c->batch.on_batch_ud = keep.on_batch_ud;
        c->gc_enabled = next.gc_enabled;
        c->gc_threshold0 = next.gc_threshold0;
        c->release_threshold = next.release_threshold;
        c->drain_timeout_ms = next.drain_timeout_ms;
        c->rescan_interval_ms = next.rescan_interval_ms;
        c->log_level = next.log_level;
        s->lg->level = next.log_level;
        c->guard = next.guard;
        s->cfg_gen++;
        pthread_mutex_unlock(&s->mu);
        svc_guard_reconfigure(&s->guard, c);
        ev_timer_set(&s->rescan_t, (double)c->rescan_interval_ms / 1000.0, (double)c->rescan_interval_ms / 1000.0);
        ev_timer_again(s->loop, &s->rescan_t);
        snprintf(msg, msglen, "reloaded %s: users=%u level=%s", s->config_path, c->batch.users_per_batch,
                 svc_level_name(c->log_level));
        svc_log_write(s->lg, 5, "%s", msg);
        ok = true;
    }
    svc_config_free(&next);
    notify_status_ready(s, true);
    return ok;
}

static void on_reload(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    char msg[512];
    do_reload(w->data, msg, sizeof msg);
}

/* -------------------------------------------------------------- control */

static int reply_status(svc *s, ro_state *rt, ro_sbuf *out)
{
    return ro_sbuf_appendf(rt, out,
                           "{\"state\": \"%s\", \"workers\": %d, \"queued\": %llu, \"in_progress\": %d, "
                           "\"done\": %llu, \"failed\": %llu, \"records_ok\": %llu, \"records_bad\": %llu, "
                           "\"batches\": %llu, \"guard\": \"%s\", \"guard_level\": \"%s\", "
                           "\"memory_pressure\": %.3f, \"open_fds\": %ld, \"intake_paused_by_guard\": %s}\n",
                           s->stopping ? "stopping" : s->paused ? "paused" : "running", s->nworkers,
                           (unsigned long long)atomic_load(&s->m.queue_depth), atomic_load(&s->m.in_progress),
                           (unsigned long long)atomic_load(&s->m.inputs_done),
                           (unsigned long long)atomic_load(&s->m.inputs_failed),
                           (unsigned long long)atomic_load(&s->m.records_ok),
                           (unsigned long long)atomic_load(&s->m.records_bad),
                           (unsigned long long)atomic_load(&s->m.batches), s->guard.enabled ? "on" : "off",
                           gd_level_name(s->guard.level), s->guard.last.pressure, s->guard.last.fds,
                           atomic_load(&s->guard.intake_paused) ? "true" : "false");
}

static int reply_stats(svc *s, ro_state *rt, ro_sbuf *out)
{
    int r = ro_sbuf_appendf(rt, out, "{\"workers\": [");
    pthread_mutex_lock(&s->m.mu);
    for (int i = 0; i < s->m.nworkers && r == 0; i++) {
        svc_runtime_snapshot *n = &s->m.runtimes[i];
        r = ro_sbuf_appendf(rt, out,
                            "%s{\"worker\": %d, \"alive\": %s, \"heap_bytes\": %llu, \"arenas\": %llu, "
                            "\"released_bytes\": %llu, \"gc_collections\": [%llu, %llu, %llu], "
                            "\"gc_collected\": %llu, \"gc_uncollectable\": %llu, \"gc_pause_seconds\": %.6f, "
                            "\"unclosed_files\": %llu}",
                            i ? ", " : "", i, n->alive ? "true" : "false", (unsigned long long)n->heap_bytes,
                            (unsigned long long)n->arenas, (unsigned long long)n->bytes_released,
                            (unsigned long long)n->gc_collections[0], (unsigned long long)n->gc_collections[1],
                            (unsigned long long)n->gc_collections[2], (unsigned long long)n->gc_collected,
                            (unsigned long long)n->gc_uncollectable, n->gc_pause_seconds,
                            (unsigned long long)n->unclosed_files);
    }
    pthread_mutex_unlock(&s->m.mu);
    return r == 0 ? ro_sbuf_appendf(rt, out, "]}\n") : -1;
}

static void on_control(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    svc *s = w->data;
    int c = accept4(s->ctl_fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return;
    struct timeval tv = {1, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char cmd[128];
    size_t n = 0;
    ssize_t k;
    while (n + 1 < sizeof cmd && (k = read(c, cmd + n, sizeof cmd - 1 - n)) > 0) {
        n += (size_t)k;
        if (memchr(cmd, '\n', n) != NULL)
            break;
    }
    cmd[n] = '\0';
    cmd[strcspn(cmd, "\r\n")] = '\0';
    ro_state *rt = ro_open(NULL);
    ro_sbuf out = {0};
    char msg[512];
    if (rt == NULL) {
        close(c);
        return;
    }
    if (strcmp(cmd, "status") == 0) {
        reply_status(s, rt, &out);
    } else if (strcmp(cmd, "stats") == 0) {
        reply_stats(s, rt, &out);
    } else if (strcmp(cmd, "gc") == 0) {
        atomic_fetch_add(&s->gc_seq, 1);
        wake_workers(s);
        ro_sbuf_appendf(rt, &out, "{\"ok\": true, \"message\": \"full collection requested in %d workers, "
                                  "done at their next safe point\"}\n", s->nworkers);
        svc_log_write(s->lg, 5, "control: gc requested");
    } else if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) {
        s->paused = cmd[0] == 'p';
        wake_workers(s);
        ro_sbuf_appendf(rt, &out, "{\"ok\": true, \"state\": \"%s\"}\n", s->paused ? "paused" : "running");
        svc_log_write(s->lg, 5, "control: intake %s", s->paused ? "paused" : "resumed");
    } else if (strcmp(cmd, "reload") == 0) {
        bool ok = do_reload(s, msg, sizeof msg);
        ro_object *m = ro_str_from_cstr(rt, msg);
        nj_buf q = {0};
        if (m != NULL && nj_emit(rt, m, &q) == 0)
            ro_sbuf_appendf(rt, &out, "{\"ok\": %s, \"message\": %s}\n", ok ? "true" : "false", q.data);
        ro_xdecref(rt, m);
        ro_sbuf_free(&q);
    } else {
        ro_object *m = ro_str_from_format(rt, "unknown command '%.60s' (status, stats, gc, pause, resume, reload)",
                                          cmd);
        nj_buf q = {0};
        if (m != NULL && nj_emit(rt, m, &q) == 0)
            ro_sbuf_appendf(rt, &out, "{\"ok\": false, \"error\": %s}\n", q.data);
        else
            ro_err_clear(rt);
        ro_xdecref(rt, m);
        ro_sbuf_free(&q);
    }
    if (out.data != NULL && write(c, out.data, out.len) < 0)
        svc_log_write(s->lg, 4, "control: reply not sent: %s", strerror(errno));
    ro_sbuf_free(&out);
    ro_close(rt);
    close(c);
}

/* Listen on [control] socket; a missing directory leaves it out with a warning. */
static int control_open(svc *s, const char *path)
{
    if (strcmp(path, "off") == 0 || path[0] == '\0')
        return -1;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        svc_log_write(s->lg, 4, "control socket %s: path too long; reclaimctl will not reach this daemon", path);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);                       /* a stale socket of an earlier run */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || chmod(path, 0660) != 0 || listen(fd, 8) != 0) {
        svc_log_write(s->lg, 4, "control socket %s unavailable (%s); reclaimctl will not reach this daemon", path,
                      strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* ------------------------------------------------------------------ run */

int svc_run(svc_config *cfg, const char *config_path, const char *spool_override, svc_log *lg,
            const svc_demo *demo, bool once)
{
    svc *s = calloc(1, sizeof *s);
    if (s == NULL)
        return SVC_EXIT_SPOOL;
    char err[1024];
    int rc = SVC_EXIT_OK;
    s->cfg = cfg;
    s->lg = lg;
    s->config_path = config_path;
    s->spool_override = spool_override;
    s->inotify_fd = -1;
    s->ctl_fd = -1;
    s->demo = demo;
    s->once = once;
    s->cfg_gen = 1;
    cfg->batch.log = svc_log_sink;
    cfg->batch.log_ud = lg;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    s->nworkers = cfg->workers ? (int)cfg->workers : (cpus > 0 ? (int)cpus : 1);
    if (svc_metrics_init(&s->m, s->nworkers) != 0) {
        free(s);
        return SVC_EXIT_SPOOL;
    }
    if (svc_guard_init(&s->guard, cfg, s->nworkers, lg) != 0) {
        svc_metrics_fini(&s->m);
        free(s);
        return SVC_EXIT_SPOOL;
    }
    s->guard.wake = guard_wake;
    s->guard.wake_ud = s;
    s->m.extra = guard_render;
    s->m.extra_ud = &s->guard;
    cfg->batch.on_batch = svc_metrics_on_batch;
    cfg->batch.on_batch_ud = &s->m;
    s->job = bt_job_load(cfg->job, &s->dl, err, sizeof err);
    if (s->job == NULL) {
        svc_log_write(lg, 3, "[batch] job: %s", err);
        rc = SVC_EXIT_CONFIG;
        goto out;
    }
    if (bt_spool_open(&s->spool, cfg->spool_dir, err, sizeof err) != 0) {
        svc_log_write(lg, 3, "%s", err);
        rc = SVC_EXIT_SPOOL;
        goto out;
    }
    int http_fd = -1;
    if (svc_metrics_serve(&s->m, once ? "off" : cfg->metrics_listen, &http_fd, err, sizeof err) != 0) {
        svc_log_write(lg, 3, "%s", err);
        rc = SVC_EXIT_CONFIG;
        goto out;
    }
    s->loop = ev_default_loop(EVFLAG_AUTO);
    if (http_fd >= 0) {
        ev_io_init(&s->http_w, on_http, http_fd, EV_READ);
        ev_init(&s->http_t, on_http_timer);
        s->http_w.data = s->http_t.data = s;
        ev_io_start(s->loop, &s->http_w);
        svc_log_write(lg, 6, "metrics at http://%s/metrics", cfg->metrics_listen);
    }
    ev_signal_init(&s->sig_term, on_stop_signal, SIGTERM);
    ev_signal_init(&s->sig_int, on_stop_signal, SIGINT);
    ev_signal_init(&s->sig_hup, on_reload, SIGHUP);
    ev_async_init(&s->wake, on_wake);
    ev_timer_init(&s->rescan_t, on_rescan, 0.0, (double)cfg->rescan_interval_ms / 1000.0);
    ev_init(&s->drain_t, on_drain_timeout);
    ev_signal *sigs[] = {&s->sig_term, &s->sig_int, &s->sig_hup};
    for (int i = 0; i < 3; i++) {
        sigs[i]->data = s;
        ev_signal_start(s->loop, sigs[i]);
    }
    s->wake.data = s->rescan_t.data = s->drain_t.data = s;
    ev_async_start(s->loop, &s->wake);
    ev_timer_start(s->loop, &s->rescan_t);

    /* --once does without inotify: a worker looks again after every input
     * and the run ends when all of them found nothing, so a watch would only
     * wake idle workers early for files dropped mid-run (the rescan does
     * that too) - and its release waits for a grace period in the kernel,
     * 8-18 ms at every exit. */
    if (!once) {
        char inbox[4200];
        snprintf(inbox, sizeof inbox, "%s/inbox", s->spool.root);
        s->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (s->inotify_fd < 0 ||
            inotify_add_watch(s->inotify_fd, inbox, IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_ONLYDIR) < 0) {
            svc_log_write(lg, 4, "inotify on %s unavailable (%s): relying on the rescan every %llums", inbox,
                          strerror(errno), (unsigned long long)cfg->rescan_interval_ms);
        } else {
            ev_io_init(&s->inotify_w, on_inotify, s->inotify_fd, EV_READ);
            s->inotify_w.data = s;
            ev_io_start(s->loop, &s->inotify_w);
        }
    }
    s->ctl_fd = once ? -1 : control_open(s, cfg->control_socket);
    if (s->ctl_fd >= 0) {
        ev_io_init(&s->ctl_w, on_control, s->ctl_fd, EV_READ);
        s->ctl_w.data = s;
        ev_io_start(s->loop, &s->ctl_w);
    }
    ev_init(&s->guard_t, on_guard_timer);
    s->guard_t.data = s;
    for (int i = 0; i < s->guard.nev_fds; i++) {
        ev_io_init(&s->guard_ev[i], on_guard_event, s->guard.ev_fds[i], EV_READ);
        s->guard_ev[i].data = s;
        ev_io_start(s->loop, &s->guard_ev[i]);
    }
    uint64_t wd_usec = 0;
    if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
        ev_timer_init(&s->watchdog_t, on_watchdog, 0.0, (double)wd_usec / 2e6);
        s->watchdog_t.data = s;
        ev_timer_start(s->loop, &s->watchdog_t);
    }

    s->workers = calloc((size_t)s->nworkers, sizeof *s->workers);
    if (s->workers == NULL) {
        rc = SVC_EXIT_SPOOL;
        goto out;
    }
    /* Signals go to the loop's thread only. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    for (int i = 0; i < s->nworkers; i++) {
        s->workers[i].s = s;
        s->workers[i].index = i;
        pthread_mutex_lock(&s->mu);
        s->running++;
        pthread_mutex_unlock(&s->mu);
        if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0) {
            pthread_mutex_lock(&s->mu);
            s->running--;
            pthread_mutex_unlock(&s->mu);
            svc_log_write(lg, 3, "cannot start worker %d: %s", i, strerror(errno));
            continue;
        }
        s->workers[i].started = true;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    svc_log_write(lg, 5, "started spool=%s workers=%d job=%s users=%u", cfg->spool_dir, s->nworkers, s->job->name,
                  cfg->batch.users_per_batch);
    atomic_store(&s->m.queue_depth, count_inbox(s));
    guard_run(s, "start");
    if (!s->stopping)
        notify_status_ready(s, true);
    if (demo != NULL) {
        ev_timer_init(&s->demo_t, on_demo_tick, 1.0, 1.0);
        s->demo_t.data = s;
        ev_timer_start(s->loop, &s->demo_t);
    }

    ev_run(s->loop, 0);

    if (!s->stopping) {                     /* every worker died: stop the rest */
        s->stop = 1;
        wake_workers(s);
    }
    rc = s->exit_code;
    if (rc == SVC_EXIT_OK && once && (atomic_load(&s->m.inputs_failed) != 0 || atomic_load(&s->once_errors)))
        rc = SVC_EXIT_INPUT;
    if (rc != SVC_EXIT_DRAIN_TIMEOUT) {
        for (int i = 0; i < s->nworkers; i++)
            if (s->workers[i].started)
                pthread_join(s->workers[i].thread, NULL);
        bool drained_once = once && strcmp(s->stop_reason, "spool drained") == 0;
        svc_log_write(lg, 5, "%s inputs=%llu failed=%llu records_ok=%llu records_bad=%llu",
                      drained_once ? "spool done" : "stopped", (unsigned long long)atomic_load(&s->m.inputs_done),
                      (unsigned long long)atomic_load(&s->m.inputs_failed),
                      (unsigned long long)atomic_load(&s->m.records_ok),
                      (unsigned long long)atomic_load(&s->m.records_bad));
    }
out:
    if (rc == SVC_EXIT_DRAIN_TIMEOUT)
        return rc;                          /* workers may still run: exit without freeing under them */
    if (s->inotify_fd >= 0)
        close(s->inotify_fd);
    if (s->ctl_fd >= 0) {
        close(s->ctl_fd);
        unlink(cfg->control_socket);
    }
    svc_metrics_fini(&s->m);
    svc_guard_fini(&s->guard);
    forget_failed(s);
    bt_spool_close(&s->spool);
    bt_job_unload(s->dl);
    free(s->workers);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
    return rc;
}
