/* guard.c - the leak guard's ladder.
 *
 * The loop thread samples (gd_sample_read) on a timer whose interval shrinks
 * near thresholds and on kernel notifications, decides which rung applies,
 * and posts requests; each worker honours them in its own runtime at its
 * next safe point (between batches and every BT_SAFE_POINT_RECORDS records),
 * because a runtime may only be touched by its own thread. Every action logs
 * one line with the figures before and after it.
 */
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define MS (INT64_C(1000000))
#define MIN_COLLECT_SPACING_NS (50 * MS)   /* collections back to back at most this often */
#define MAX_COLLECT_SPACING_NS (5000 * MS) /* ... backing off to this while they free nothing */
#define SHRINK_SPACING_NS (1000 * MS)      /* halve the batch again after this long still at hard */
#define CALM_NS (1000 * MS)                /* below soft (minus hysteresis) this long: undo hard's measures */
#define HYSTERESIS 0.05                    /* of the budget, below soft / fd_soft */

static const char *const action_names[SVC_GA_COUNT] = {
    "collect", "close_file", "pause_intake", "resume_intake", "shrink_batch", "restore_batch", "abort_batch",
    "restart",
};

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static double mib(uint64_t b) { return (double)b / 1048576.0; }

static void count(svc_guard *g, svc_guard_action a, uint64_t n) { atomic_fetch_add(&g->actions[a], n); }

/* "usage=93.1MiB budget=128.0MiB pressure=72.7% fds=31/1024" */
static void figures(const gd_sample *s, char *buf, size_t len)
{
    if (s->budget == GD_UNLIMITED)
        snprintf(buf, len, "usage=%.1fMiB budget=none fds=%ld/%llu", mib(s->usage), s->fds,
                 (unsigned long long)s->fd_limit);
    else
        snprintf(buf, len, "usage=%.1fMiB budget=%.1fMiB pressure=%.1f%% fds=%ld/%llu", mib(s->usage),
                 mib(s->budget), s->pressure * 100.0, s->fds, (unsigned long long)s->fd_limit);
}

/* ------------------------------------------------------- kernel events */

static void add_event_fd(svc_guard *g, int fd)
{
    if (g->nev_fds < (int)(sizeof g->ev_fds / sizeof g->ev_fds[0]))
        g->ev_fds[g->nev_fds++] = fd;
    else
        close(fd);
}

/* cgroup v1: usage thresholds and memory.pressure_level through eventfd and
 * cgroup.event_control. Needs write access to the cgroup's files.
 *
 * Each usage threshold the kernel registers waits for an RCU grace period
 * (10-25 ms here, three of them), so the writes are made by a short-lived
 * thread while the service starts: the eventfds are created and watched at
 * once, the timer samples from the start as it always does, and a
 * notification can only arrive early, never be needed. The thread logs what
 * the kernel took; svc_guard_fini joins it before closing the eventfds. */
struct v1_reg {
    svc_log *lg;
    int ctl, usage, plevel, efd, pfd;
    unsigned long long bytes[3];   /* 0: no usage thresholds to register */
};

static void *v1_register(void *arg)
{
    struct v1_reg *r = arg;
    int64_t t0 = now_ns();
    int n = 0;
    bool pl = false;
    char line[96];
    /* memory.pressure_level first: it costs no grace period. */
    if (r->ctl >= 0 && r->plevel >= 0 && r->pfd >= 0) {
        int len = snprintf(line, sizeof line, "%d %d medium", r->pfd, r->plevel);
        pl = write(r->ctl, line, (size_t)len) == len;
    }
    for (int i = 0; i < 3 && r->ctl >= 0 && r->usage >= 0 && r->efd >= 0 && r->bytes[i] != 0; i++) {
        int len = snprintf(line, sizeof line, "%d %d %llu", r->efd, r->usage, r->bytes[i]);
        n += write(r->ctl, line, (size_t)len) == len;
    }
    bool budget = r->bytes[0] != 0;
    svc_log_write(r->lg, (n > 0 || !budget) && pl ? 5 : 4,
                  "guard: kernel events registered in %.0fms: cgroup v1 usage thresholds %s (%d of %d), "
                  "memory.pressure_level %s",
                  (double)(now_ns() - t0) / 1e6, !budget ? "not set (no budget)" : n > 0 ? "on" : "unavailable",
                  n, budget ? 3 : 0, pl ? "on" : "unavailable");
    /* The kernel keeps the registrations while the eventfds live. */
    if (r->ctl >= 0)
        close(r->ctl);
    if (r->usage >= 0)
        close(r->usage);
    if (r->plevel >= 0)
        close(r->plevel);
    free(r);
    return NULL;
}

static void events_v1(svc_guard *g, uint64_t budget, char *said, size_t saidlen)
{
    struct v1_reg *r = malloc(sizeof *r);
    if (r == NULL) {
        snprintf(said, saidlen, "cgroup v1 events unavailable (out of memory)");
        return;
    }
    r->lg = g->lg;
    r->ctl = openat(g->cg.dirfd, "cgroup.event_control", O_WRONLY | O_CLOEXEC);
    r->usage = openat(g->cg.dirfd, "memory.usage_in_bytes", O_RDONLY | O_CLOEXEC);
    r->plevel = openat(g->cg.dirfd, "memory.pressure_level", O_RDONLY | O_CLOEXEC);
    r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    r->pfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    double fr[3] = {g->pol.soft, g->pol.hard, g->pol.critical};
    for (int i = 0; i < 3; i++)
        r->bytes[i] = budget == GD_UNLIMITED ? 0 : (unsigned long long)((double)budget * fr[i]);
    /* Watched from now on; one whose registration fails stays silent. */
    if (r->efd >= 0)
        add_event_fd(g, r->efd);
    if (r->pfd >= 0)
        add_event_fd(g, r->pfd);
    int e = pthread_create(&g->v1_thread, NULL, v1_register, r);
    if (e == 0) {
        g->v1_started = true;
        snprintf(said, saidlen, "cgroup v1 usage thresholds and memory.pressure_level registering");
        return;
    }
    svc_log_write(g->lg, 4, "guard: no thread to register cgroup v1 events (%s): registering them now",
                  strerror(e));
    v1_register(r);
    snprintf(said, saidlen, "cgroup v1 usage thresholds and memory.pressure_level (see above)");
}

/* cgroup v2: memory.events changes (high, max, oom, oom_kill) through inotify. */
static void events_v2(svc_guard *g, char *said, size_t saidlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/memory.events", g->cg.dir);
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd >= 0 && inotify_add_watch(fd, path, IN_MODIFY) >= 0) {
        add_event_fd(g, fd);
        snprintf(said, saidlen, "cgroup v2 memory.events on");
        return;
    }
    if (fd >= 0)
        close(fd);
    snprintf(said, saidlen, "cgroup v2 memory.events unavailable");
}

/* PSI: a trigger on /proc/pressure/memory signals with POLLPRI only, which
 * libev cannot wait for: it sits in a private epoll set (EPOLLPRI) whose own
 * descriptor becomes readable, and that one the loop watches. */
static void events_psi(svc_guard *g, char *said, size_t saidlen)
{
    int fd = open("/proc/pressure/memory", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    const char trig[] = "some 150000 2000000";   /* 150 ms stalled in a 2 s window */
    int ep = -1;
    if (fd >= 0 && write(fd, trig, sizeof trig) >= 0 && (ep = epoll_create1(EPOLL_CLOEXEC)) >= 0) {
        struct epoll_event e = {.events = EPOLLPRI, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) == 0) {
            g->psi_epoll = fd;          /* kept open: the trigger lives with it */
            g->psi_watch = ep;
            add_event_fd(g, ep);
            snprintf(said, saidlen, "PSI trigger on");
            return;
        }
    }
    int e = errno;
    if (ep >= 0)
        close(ep);
    if (fd >= 0)
        close(fd);
    snprintf(said, saidlen, "PSI trigger unavailable (%s)", strerror(e));
}

void svc_guard_event_drain(svc_guard *g, int fd)
{
    char buf[4096] __attribute__((aligned(8)));
    atomic_fetch_add(&g->events, 1);
    if (fd == g->psi_watch) {
        struct epoll_event e[4];
        (void)epoll_wait(fd, e, 4, 0);
        return;
    }
    while (read(fd, buf, sizeof buf) > 0)
        ;
}

/* ---------------------------------------------------------------- set-up */

static void configure(svc_guard *g, const svc_config *c)
{
    g->enabled = c->guard.enabled;
    g->budget_cfg = c->guard.budget;
    g->pol.soft = c->guard.soft / 100.0;
    g->pol.hard = c->guard.hard / 100.0;
    g->pol.critical = c->guard.critical / 100.0;
    g->pol.fd_soft = c->guard.fd_soft / 100.0;
    g->pol.fd_hard = c->guard.fd_hard / 100.0;
    g->pol.interval_ms = c->guard.interval_ms;
    g->pol.min_interval_ms = c->guard.min_interval_ms < c->guard.interval_ms ? c->guard.min_interval_ms
                                                                             : c->guard.interval_ms;
    g->file_idle_ns = c->guard.file_idle_ms * (uint64_t)MS;
    g->min_users = c->guard.batch_min_users;
    g->base_users = c->batch.users_per_batch;
}

int svc_guard_init(svc_guard *g, const svc_config *c, int nworkers, svc_log *lg)
{
    memset(g, 0, sizeof *g);
    g->lg = lg;
    g->psi_epoll = -1;
    g->psi_watch = -1;
    g->collect_spacing_ns = MIN_COLLECT_SPACING_NS;
    atomic_store(&g->spacing_pub, MIN_COLLECT_SPACING_NS);
    g->nworkers = nworkers;
    g->slots = calloc((size_t)nworkers, sizeof *g->slots);
    if (g->slots == NULL)
        return -1;
    gd_policy_defaults(&g->pol);
    configure(g, c);
    gd_cgroup_open(&g->cg);
    gd_sample s = {.budget = GD_UNLIMITED};
    if (gd_sample_read(&g->cg, &s) == 0) {
        gd_sample_derive(&s, g->budget_cfg);
        g->last = s;
        g->cg_oom_kills_at_start = s.cg.oom_kills;
    }
    if (!g->enabled) {
        svc_log_write(lg, 4, "guard disabled ([guard] enabled = off): nothing stops memory or descriptor leaks");
        return 0;
    }
    char ev1[160] = "no memory cgroup", ev2[96] = "PSI trigger off";
    if (!c->guard.events)
        snprintf(ev1, sizeof ev1, "off ([guard] kernel_events = off)");
    else if (g->cg.version == 1)
        events_v1(g, s.budget, ev1, sizeof ev1);
    else if (g->cg.version == 2)
        events_v2(g, ev1, sizeof ev1);
    if (c->guard.events)
        events_psi(g, ev2, sizeof ev2);
    char fig[160];
    figures(&s, fig, sizeof fig);
    svc_log_write(lg, 5,
                  "guard on: %s cgroup=%s soft=%.0f%% hard=%.0f%% critical=%.0f%% fd_soft=%.0f%% fd_hard=%.0f%% "
                  "interval=%llums..%llums events: %s; %s",
                  fig, g->cg.version ? g->cg.dir : "none", g->pol.soft * 100, g->pol.hard * 100,
                  g->pol.critical * 100, g->pol.fd_soft * 100, g->pol.fd_hard * 100,
                  (unsigned long long)g->pol.min_interval_ms, (unsigned long long)g->pol.interval_ms, ev1, ev2);
    return 0;
}

void svc_guard_reconfigure(svc_guard *g, const svc_config *c)
{
    bool was = g->enabled;
    configure(g, c);
    if (was != g->enabled)
        svc_log_write(g->lg, 5, "guard %s by reload", g->enabled ? "enabled" : "disabled");
    if (!g->enabled) {
        atomic_store(&g->intake_paused, 0);
        atomic_store(&g->users_cap, 0);
    }
}

void svc_guard_fini(svc_guard *g)
{
    if (g->v1_started) {
        pthread_join(g->v1_thread, NULL);   /* it writes the eventfds' numbers: they must live till then */
        g->v1_started = false;
    }
    for (int i = 0; i < g->nev_fds; i++)
        close(g->ev_fds[i]);
    if (g->psi_epoll >= 0)
        close(g->psi_epoll);
    gd_cgroup_close(&g->cg);
    free(g->slots);
    g->slots = NULL;
}

/* ------------------------------------------------------------- the ladder */

static bool collections_pending(const svc_guard *g)
{
    for (int i = 0; i < g->nworkers; i++)
        if (atomic_load(&g->slots[i].collect_done) < atomic_load(&g->slots[i].collect_req))
            return true;
    return false;
}

static bool aborts_pending(const svc_guard *g)
{
    for (int i = 0; i < g->nworkers; i++)
        if (g->slots[i].abort_req)
            return true;
    return false;
}

static void request_collect(svc_guard *g, const char *trigger, bool close_files, int64_t now)
{
    for (int i = 0; i < g->nworkers; i++) {
        svc_guard_slot *sl = &g->slots[i];
        snprintf(sl->trigger, sizeof sl->trigger, "%s", trigger);
        if (close_files)
            atomic_fetch_add(&sl->close_req, 1);
        atomic_fetch_add(&sl->collect_req, 1);
    }
    g->last_collect_ns = now;
    g->collect_outstanding = true;
    g->collect_pressure = g->last.pressure;
    if (g->wake != NULL)
        g->wake(g->wake_ud);
}

/* A restart gives back this process's memory, not what others in the
 * cgroup (or on the machine) use: restart only when that would bring usage
 * below hard. Says once why not. */
static bool restart_helps(svc_guard *g, const gd_sample *s, const char *fig)
{
    uint64_t others = s->usage > s->rss ? s->usage - s->rss : 0;
    if (s->budget == GD_UNLIMITED || (double)others < g->pol.hard * (double)s->budget)
        return true;
    if (!g->outside_said)
        svc_log_write(g->lg, 3, "guard: memory is held outside this process (%.1fMiB of the %.1fMiB counted; %s): "
                                "a restart would not help, intake stays paused until it falls",
                      mib(others), mib(s->usage), fig);
    g->outside_said = true;
    return false;
}

uint64_t svc_guard_evaluate(svc_guard *g, const char *trigger)
{
    gd_sample s;
    if (gd_sample_read(&g->cg, &s) != 0) {
        /* Blind until it reads again: soon, not a full interval later (the
         * last sample may have been at hard, with memory still climbing),
         * then backing off to the interval, so that a source gone for good
         * does not make the loop spin. */
        atomic_fetch_add(&g->sample_failures, 1);
        if (g->failed_streak++ == 0)
            svc_log_write(g->lg, 4, "guard: cannot read %s (%s): sample skipped, retrying after %llums, then "
                                    "less often up to every %llums until it reads (level stays %s)",
                          s.unread, strerror(errno), (unsigned long long)g->pol.min_interval_ms,
                          (unsigned long long)g->pol.interval_ms, gd_level_name(g->level));
        uint64_t wait = g->pol.min_interval_ms;
        for (uint64_t i = 1; i < g->failed_streak && wait < g->pol.interval_ms; i++)
            wait *= 2;
        return wait < g->pol.interval_ms ? wait : g->pol.interval_ms;
    }
    if (g->failed_streak != 0) {
        svc_log_write(g->lg, 5, "guard: sampling again after %llu unreadable sample(s)",
                      (unsigned long long)g->failed_streak);
        g->failed_streak = 0;
    }
    gd_sample_derive(&s, g->budget_cfg);
    atomic_fetch_add(&g->evaluations, 1);
    gd_level lvl = gd_level_of(&g->pol, s.pressure);
    int fdl = gd_fd_level_of(&g->pol, s.fd_ratio);
    int64_t t = now_ns();
    double rate = 0.0;
    if (g->last_sample_ns != 0 && t > g->last_sample_ns)
        rate = (s.pressure - g->last.pressure) * 1e9 / (double)(t - g->last_sample_ns);
    g->last_sample_ns = t;
    g->last = s;
    uint64_t files = 0;
    for (int i = 0; i < g->nworkers; i++)
        files += atomic_load(&g->slots[i].files_open);
    atomic_store(&g->fd_other, s.fds > 0 && (uint64_t)s.fds > files ? (uint64_t)s.fds - files : 0);
    atomic_store(&g->fd_soft_count, s.fd_limit ? (uint64_t)(g->pol.fd_soft * (double)s.fd_limit) : 0);
    /* Memory can also outrun the timer: tell workers how much heap (all
     * runtimes together) reaches soft, given what else the budget holds. */
    uint64_t heaps = 0;
    for (int i = 0; i < g->nworkers; i++)
        heaps += atomic_load(&g->slots[i].heap_bytes);
    uint64_t other = s.usage > heaps ? s.usage - heaps : 0;
    uint64_t soft_abs = s.budget == GD_UNLIMITED ? 0 : (uint64_t)(g->pol.soft * (double)s.budget);
    atomic_store(&g->heap_allow, soft_abs > other ? soft_abs - other : 1);
    uint64_t next = gd_next_interval_ms(&g->pol, s.pressure, s.fd_ratio, rate > 0.0 ? rate : 0.0);
    if (!g->enabled) {
        g->level = lvl;
        g->fd_level = fdl;
        return next;
    }
    int64_t now = now_ns();
    char fig[160];
    figures(&s, fig, sizeof fig);
    if (lvl != g->level || fdl != g->fd_level)
        svc_log_write(g->lg, lvl > g->level || fdl > g->fd_level ? 4 : 5,
                      "guard level %s -> %s, descriptors %s -> %s (trigger=%s %s)", gd_level_name(g->level),
                      gd_level_name(lvl), g->fd_level == 2 ? "hard" : g->fd_level ? "soft" : "ok",
                      fdl == 2 ? "hard" : fdl ? "soft" : "ok", trigger, fig);
    g->level = lvl;
    g->fd_level = fdl;
    if (s.cg.oom_kills > g->cg_oom_kills_at_start) {
        svc_log_write(g->lg, 3, "guard: the memory cgroup %s counts %llu OOM kill(s) since start", g->cg.dir,
                      (unsigned long long)(s.cg.oom_kills - g->cg_oom_kills_at_start));
        g->cg_oom_kills_at_start = s.cg.oom_kills;
    }

    /* A round of collections finished: did it help? Collections that free
     * nothing (leaked references) back off, so that a daemon stuck above
     * soft does not collect twenty times a second. */
    if (g->collect_outstanding && !collections_pending(g)) {
        g->collect_outstanding = false;
        if (g->collect_pressure - s.pressure < 0.01) {
            g->collect_spacing_ns *= 2;
            if (g->collect_spacing_ns > MAX_COLLECT_SPACING_NS)
                g->collect_spacing_ns = MAX_COLLECT_SPACING_NS;
        } else {
            g->collect_spacing_ns = MIN_COLLECT_SPACING_NS;
        }
        atomic_store(&g->spacing_pub, g->collect_spacing_ns);
        /* Intake paused at hard, nothing in flight, and a collection
         * changed nothing: what holds the memory is reachable from no
         * work, and only a restart gives it back. */
        if (g->idle_check && lvl >= GD_HARD && restart_helps(g, &s, fig)) {
            g->idle_check = false;
            g->restart = true;
            count(g, SVC_GA_RESTART, 1);
            svc_log_write(g->lg, 2, "guard hard: intake paused, no batch in flight, and a full collection left "
                                    "the level at %s (%s): exiting with code 6 for a clean restart; every input "
                                    "resumes from its checkpoint", gd_level_name(lvl), fig);
            return next;
        }
        g->idle_check = false;
    }

    /* 4. critical: after the abort and the collection it asked for, still
     * critical means what fills memory survives collection: restart. */
    if (g->restart_pending && !aborts_pending(g) && !collections_pending(g)) {
        g->restart_pending = false;
        if (lvl == GD_CRITICAL && restart_helps(g, &s, fig)) {
            g->restart = true;
            count(g, SVC_GA_RESTART, 1);
            svc_log_write(g->lg, 2, "guard critical: still critical after aborting a batch and collecting "
                                    "(%s): exiting with code 6 for a clean restart; every input resumes from its "
                                    "checkpoint", fig);
            return next;
        }
        svc_log_write(g->lg, 5, "guard: critical passed after the abort and collection (%s)", fig);
    }
    /* At once the first time; once a restart was found not to help (the
     * memory is held outside), spaced like other rounds, so that collections
     * that free nothing back off instead of repeating every sample. */
    if (lvl < GD_HARD)
        g->outside_said = false;
    bool spaced = !g->outside_said || now - g->last_collect_ns >= g->collect_spacing_ns;
    if (lvl == GD_CRITICAL && !g->restart_pending && spaced) {
        int victim = -1;
        uint64_t most = 0;
        for (int i = 0; i < g->nworkers; i++) {
            uint64_t h = atomic_load(&g->slots[i].heap_bytes);
            if (atomic_load(&g->slots[i].busy) && (victim < 0 || h > most)) {
                victim = i;
                most = h;
            }
        }
        if (victim >= 0) {
            g->slots[victim].abort_req = 1;
            /* Its input resumes in batches half the size of the one aborted. */
            uint64_t recs = atomic_load(&g->slots[victim].batch_records);
            unsigned cap = atomic_load(&g->users_cap);
            unsigned half = recs / 2 < g->min_users ? g->min_users : (unsigned)(recs / 2);
            if (recs != 0 && (cap == 0 || half < cap)) {
                atomic_store(&g->users_cap, half);
                count(g, SVC_GA_SHRINK_BATCH, 1);
                svc_log_write(g->lg, 4, "guard critical: batch size %u -> %u users", cap ? cap : g->base_users,
                              half);
            }
            count(g, SVC_GA_ABORT_BATCH, 1);
            svc_log_write(g->lg, 3, "guard critical: aborting the batch of worker=%d (heap %.1fMiB, the largest "
                                    "in flight; trigger=%s %s)", victim, mib(most), trigger, fig);
        }
        request_collect(g, "critical", fdl > 0, now);
        g->restart_pending = true;
        return g->pol.min_interval_ms;
    }

    /* 3. hard: no new inputs, smaller batches (caches go with the collection). */
    if ((lvl >= GD_HARD || fdl >= 2) && !atomic_load(&g->intake_paused)) {
        atomic_store(&g->intake_paused, 1);
        count(g, SVC_GA_PAUSE_INTAKE, 1);
        svc_log_write(g->lg, 4, "guard %s: intake paused (trigger=%s %s)", lvl >= GD_HARD ? "hard" : "fd_hard",
                      trigger, fig);
    }
    if (lvl >= GD_HARD && now - g->last_shrink_ns >= SHRINK_SPACING_NS) {
        /* Half of the smaller of the batch size and the largest batch in
         * flight: a batch already past the new size ends and commits at its
         * next safe point, which frees what it holds. */
        unsigned cap = atomic_load(&g->users_cap);
        unsigned cur = cap ? cap : g->base_users;
        uint64_t biggest = 0;
        for (int i = 0; i < g->nworkers; i++)
            if (atomic_load(&g->slots[i].batch_records) > biggest)
                biggest = atomic_load(&g->slots[i].batch_records);
        unsigned from = biggest != 0 && biggest < cur ? (unsigned)biggest : cur;
        unsigned want = from / 2 < g->min_users ? g->min_users : from / 2;
        if (want < cur) {
            atomic_store(&g->users_cap, want);
            count(g, SVC_GA_SHRINK_BATCH, 1);
            svc_log_write(g->lg, 4, "guard hard: batch size %u -> %u users (trigger=%s %s)", cur, want, trigger,
                          fig);
        }
        g->last_shrink_ns = now;
    }

    /* 1 and 2. soft, descriptors: collect everywhere (finalizers close
     * unreachable files), force-close files of finished batches. */
    if ((lvl >= GD_SOFT || fdl >= 1) && !collections_pending(g) && now - g->last_collect_ns >= g->collect_spacing_ns)
        request_collect(g, lvl >= GD_HARD ? "hard" : lvl >= GD_SOFT ? "soft" : "fd_soft", fdl >= 1, now);
    bool busy = false;
    for (int i = 0; i < g->nworkers; i++)
        busy |= atomic_load(&g->slots[i].busy) != 0;
    /* Paused at hard with nothing in flight: one more collection decides
     * whether a restart is needed (above). */
    if (lvl >= GD_HARD && atomic_load(&g->intake_paused) && !g->idle_check && !collections_pending(g) && spaced &&
        !busy) {
        request_collect(g, "hard-idle", fdl >= 1, now);
        g->idle_check = true;
    }

    /* Calm again: undo hard's measures once below soft with hysteresis, or,
     * with no batch in flight, once below soft at all: what holds the
     * memory then is not a batch (page cache of the inputs and outputs, other
     * processes of the cgroup), and a paused intake would wait on it for good
     * (a --once run would never end). Should the next batch push it over
     * again, hard pauses again. */
    bool calm = (s.pressure < g->pol.soft - HYSTERESIS && s.fd_ratio < g->pol.fd_soft - HYSTERESIS) ||
                (!busy && lvl == GD_OK && fdl == 0);
    if (!calm) {
        g->calm_since_ns = 0;
    } else if (g->calm_since_ns == 0) {
        g->calm_since_ns = now;
    } else if (now - g->calm_since_ns >= CALM_NS) {
        if (atomic_exchange(&g->intake_paused, 0)) {
            count(g, SVC_GA_RESUME_INTAKE, 1);
            svc_log_write(g->lg, 5, "guard: intake resumed (%s)", fig);
        }
        /* Batches grow back by doubling, one step per calm period, so that
         * a batch too big for the budget is not tried again at once. */
        unsigned cap = atomic_load(&g->users_cap);
        if (cap != 0) {
            unsigned next_cap = cap >= g->base_users / 2 ? 0 : cap * 2;
            atomic_store(&g->users_cap, next_cap);
            count(g, SVC_GA_RESTORE_BATCH, 1);
            svc_log_write(g->lg, 5, "guard: batch size %u -> %u users (%s)", cap, next_cap ? next_cap : g->base_users,
                          fig);
            g->calm_since_ns = now;
        }
    }
    return next;
}

/* ----------------------------------------------------- worker's side */

typedef struct close_item {
    ro_object *file;        /* new reference */
    char path[200], owner[120];
    int64_t age_ms, idle_ms;
} close_item;

typedef struct close_list {
    close_item *items;
    size_t n, cap;
    ro_object *current;     /* the running batch's owner (borrowed) */
    int64_t now, idle_ns;
} close_list;

static int pick_file(const ro_file_info *fi, void *arg)
{
    close_list *cl = arg;
    bool finished = fi->owner != NULL && fi->owner != cl->current;
    bool idle = cl->idle_ns > 0 && cl->now - fi->last_use_ns >= cl->idle_ns;
    if (!finished && !idle)
        return 0;
    if (cl->n == cl->cap) {
        size_t cap = cl->cap ? cl->cap * 2 : 64;
        close_item *it = realloc(cl->items, cap * sizeof *it);
        if (it == NULL)
            return 1;
        cl->items = it;
        cl->cap = cap;
    }
    close_item *it = &cl->items[cl->n++];
    ro_incref(fi->file);
    it->file = fi->file;
    snprintf(it->path, sizeof it->path, "%s", fi->path);
    snprintf(it->owner, sizeof it->owner, "%s",
             fi->owner == NULL ? "none" : ro_is_kind(fi->owner, RO_K_STR) ? ro_str_utf8(fi->owner) : fi->owner->ob_type->tp_name);
    it->age_ms = (cl->now - fi->opened_ns) / MS;
    it->idle_ms = (cl->now - fi->last_use_ns) / MS;
    return 0;
}

/* Force-close files owned by finished batches or idle too long, one log
 * line each (path, owner, age). Returns how many were closed. */
static uint64_t close_files(svc_guard *g, int worker, ro_state *rt)
{
    close_list cl = {.current = ro_file_default_owner(rt), .now = now_ns(), .idle_ns = (int64_t)g->file_idle_ns};
    ro_file_foreach(rt, pick_file, &cl);
    uint64_t closed = 0;
    for (size_t i = 0; i < cl.n; i++) {
        close_item *it = &cl.items[i];
        if (ro_file_force_close(rt, it->file) == 0) {
            closed++;
            svc_log_write(g->lg, 6, "guard close-file worker=%d path=%s owner=%s age_ms=%lld idle_ms=%lld", worker,
                          it->path, it->owner, (long long)it->age_ms, (long long)it->idle_ms);
        }
        ro_decref(rt, it->file);
    }
    free(cl.items);
    return closed;
}

static uint64_t rss_now(void)
{
    char buf[4096];
    uint64_t rss = 0, anon = 0;
    if (gd_read_file(AT_FDCWD, "/proc/self/status", buf, sizeof buf) >= 0)
        gd_parse_proc_status(buf, &rss, &anon);
    return rss;
}

void svc_guard_safe_point(svc_guard *g, int worker, ro_state *rt, bt_config *bcfg, uint32_t base_users,
                          uint64_t batch_records)
{
    svc_guard_slot *sl = &g->slots[worker];
    atomic_store(&sl->batch_records, batch_records);
    unsigned cap = atomic_load(&g->users_cap);
    bcfg->users_per_batch = cap != 0 && cap < base_users ? cap : base_users;
    ro_mem_stats st;
    ro_mem_get_stats(rt, &st);
    atomic_store(&sl->heap_bytes, st.bytes_in_use);
    atomic_store(&sl->files_open, ro_file_open_count(rt));
    /* Descriptors can run out between two samples (a batch may open
     * hundreds of files in a millisecond): estimate the process's count from
     * the last sample's other descriptors plus every registry now. The
     * worker then acts on its own, without waiting for the loop. */
    const char *why = NULL;
    bool close_now = false;
    int64_t now = now_ns();
    uint64_t fd_soft = atomic_load(&g->fd_soft_count);
    if (g->enabled && fd_soft != 0) {
        uint64_t total = atomic_load(&g->fd_other);
        for (int i = 0; i < g->nworkers; i++)
            total += atomic_load(&g->slots[i].files_open);
        if (total >= fd_soft) {
            why = "fd_soft(safe-point)";
            close_now = true;
        }
    }
    /* The same for memory: every runtime's heap against what reaches soft.
     * Only once this heap grew by a sixteenth of that allowance (at least
     * 1 MiB) since its last collection, and no sooner than the loop's
     * current spacing (which backs off while collections free nothing), so
     * that leaks no collection frees do not make every safe point collect. */
    uint64_t allow = atomic_load(&g->heap_allow);
    uint64_t step = allow / 16 > (1u << 20) ? allow / 16 : (1u << 20);
    /* Between batches at hard the spacing does not apply: the batch just
     * dropped is garbage now, the one change the spacing waits for, and the
     * next batch would pile up on top of it within milliseconds (seen: a
     * 60k-user batch ended at hard, the next one started over its garbage
     * and the cgroup went past its limit before the spacing let the guard
     * collect). */
    bool batch_end = batch_records == 0 && atomic_load(&g->intake_paused);
    if (why == NULL && g->enabled && allow != 0 && st.bytes_in_use > sl->heap_after + step &&
        (batch_end || now - sl->last_collect_ns >= atomic_load(&g->spacing_pub))) {
        uint64_t heaps = 0;
        for (int i = 0; i < g->nworkers; i++)
            heaps += atomic_load(&g->slots[i].heap_bytes);
        if (heaps >= allow)
            why = batch_end ? "hard(batch-end)" : "soft(safe-point)";
    }
    unsigned long long want = atomic_load(&sl->collect_req);
    bool asked = atomic_load(&sl->collect_done) < want;
    if (!asked && why == NULL)
        return;
    char trigger[sizeof sl->trigger];
    snprintf(trigger, sizeof trigger, "%s", asked ? sl->trigger : why);
    unsigned long long cwant = atomic_load(&sl->close_req);
    close_now |= atomic_load(&sl->close_done) < cwant;
    int64_t t0 = now_ns();
    uint64_t rss0 = rss_now(), heap0 = st.bytes_in_use;
    size_t files0 = ro_file_open_count(rt);
    ro_gc_report r;
    ro_gc_collect(rt, RO_GC_GENERATIONS - 1, &r);   /* also free lists, intern table, free pages */
    uint64_t closed = 0;
    if (close_now) {
        closed = close_files(g, worker, rt);
        atomic_store(&sl->close_done, cwant);
        count(g, SVC_GA_CLOSE_FILES, closed);
    }
    int64_t t_trim = now_ns();
    malloc_trim(0);
    t_trim = now_ns() - t_trim;
    ro_mem_get_stats(rt, &st);
    uint64_t rss1 = rss_now();
    atomic_store(&sl->heap_bytes, st.bytes_in_use);
    sl->heap_after = st.bytes_in_use;
    sl->last_collect_ns = now_ns();
    atomic_store(&sl->files_open, ro_file_open_count(rt));
    count(g, SVC_GA_COLLECT, 1);
    svc_log_write(g->lg, 5,
                  "guard collect worker=%d trigger=%s: heap %.1fMiB -> %.1fMiB, rss %.1fMiB -> %.1fMiB, "
                  "open files %zu -> %zu (%llu closed by finalizers, %llu force-closed), collected=%llu "
                  "released=%.1fMiB took=%.1fms (collection %.1fms, malloc_trim %.1fms)",
                  worker, trigger, mib(heap0), mib(st.bytes_in_use), mib(rss0), mib(rss1), files0,
                  ro_file_open_count(rt), (unsigned long long)r.files_closed, (unsigned long long)closed,
                  (unsigned long long)r.collected, mib(r.bytes_released), (double)(now_ns() - t0) / 1e6,
                  (double)r.pause_ns / 1e6, (double)t_trim / 1e6);
    if (asked)
        atomic_store(&sl->collect_done, want);
}

/* --------------------------------------------------------------- export */

int svc_guard_render(svc_guard *g, ro_state *rt, ro_sbuf *out)
{
    const gd_sample *s = &g->last;
    int r = ro_sbuf_appendf(rt, out,
                            "# HELP reclaimd_guard_enabled Whether the leak guard acts.\n"
                            "# TYPE reclaimd_guard_enabled gauge\nreclaimd_guard_enabled %d\n"
                            "# HELP reclaimd_guard_level Memory level: 0 ok, 1 soft, 2 hard, 3 critical.\n"
                            "# TYPE reclaimd_guard_level gauge\nreclaimd_guard_level %d\n"
                            "# HELP reclaimd_guard_fd_level Descriptor level: 0 ok, 1 fd_soft, 2 fd_hard.\n"
                            "# TYPE reclaimd_guard_fd_level gauge\nreclaimd_guard_fd_level %d\n"
                            "# HELP reclaimd_guard_budget_bytes Memory budget (min of memory_budget, cgroup limit, "
                            "MemTotal).\n# TYPE reclaimd_guard_budget_bytes gauge\nreclaimd_guard_budget_bytes %llu\n"
                            "# HELP reclaimd_guard_usage_bytes Memory counted against the budget (max of RSS and the "
                            "cgroup working set).\n# TYPE reclaimd_guard_usage_bytes gauge\n"
                            "reclaimd_guard_usage_bytes %llu\n"
                            "# HELP reclaimd_guard_pressure_ratio Usage divided by budget.\n"
                            "# TYPE reclaimd_guard_pressure_ratio gauge\nreclaimd_guard_pressure_ratio %.4f\n"
                            "# HELP reclaimd_guard_open_fds Open descriptors at the last sample.\n"
                            "# TYPE reclaimd_guard_open_fds gauge\nreclaimd_guard_open_fds %ld\n"
                            "# HELP reclaimd_guard_fd_limit RLIMIT_NOFILE soft limit.\n"
                            "# TYPE reclaimd_guard_fd_limit gauge\nreclaimd_guard_fd_limit %llu\n"
                            "# HELP reclaimd_guard_cgroup_oom_kills OOM kills counted by the memory cgroup.\n"
                            "# TYPE reclaimd_guard_cgroup_oom_kills counter\nreclaimd_guard_cgroup_oom_kills %llu\n"
                            "# HELP reclaimd_guard_evaluations_total Samples taken.\n"
                            "# TYPE reclaimd_guard_evaluations_total counter\nreclaimd_guard_evaluations_total %llu\n"
                            "# HELP reclaimd_guard_sample_failures_total Samples that could not be read (retried "
                            "after min_interval, then less often).\n"
                            "# TYPE reclaimd_guard_sample_failures_total counter\n"
                            "reclaimd_guard_sample_failures_total %llu\n"
                            "# HELP reclaimd_guard_kernel_events_total Kernel memory notifications received.\n"
                            "# TYPE reclaimd_guard_kernel_events_total counter\n"
                            "reclaimd_guard_kernel_events_total %llu\n"
                            "# HELP reclaimd_guard_actions_total Actions taken by the guard, by kind.\n"
                            "# TYPE reclaimd_guard_actions_total counter\n",
                            g->enabled, g->level, g->fd_level,
                            (unsigned long long)(s->budget == GD_UNLIMITED ? 0 : s->budget),
                            (unsigned long long)s->usage, s->pressure, s->fds, (unsigned long long)s->fd_limit,
                            (unsigned long long)s->cg.oom_kills, (unsigned long long)atomic_load(&g->evaluations),
                            (unsigned long long)atomic_load(&g->sample_failures),
                            (unsigned long long)atomic_load(&g->events));
    for (int a = 0; a < SVC_GA_COUNT && r == 0; a++)
        r = ro_sbuf_appendf(rt, out, "reclaimd_guard_actions_total{action=\"%s\"} %llu\n", action_names[a],
                            (unsigned long long)atomic_load(&g->actions[a]));
    return r;
}

void svc_guard_status(const svc_guard *g, char *buf, size_t len)
{
    if (!g->enabled)
        snprintf(buf, len, "guard off");
    else if (g->last.budget == GD_UNLIMITED)
        snprintf(buf, len, "guard %s", gd_level_name(g->level));
    else
        snprintf(buf, len, "guard %s %.0f%%", gd_level_name(g->level), g->last.pressure * 100.0);
}
