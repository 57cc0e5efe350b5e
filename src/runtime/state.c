/* state.c - creating and closing a runtime; errors; logging. */
#include "ro_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static void seed_hash(ro_state *rt)
{
    uint64_t k[2] = {0, 0};
    if (rt->cfg.hash_seed != 0) {
        k[0] = rt->cfg.hash_seed;
        k[1] = rt->cfg.hash_seed * 0x9e3779b97f4a7c15ull;
    } else if (getrandom(k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
        /* No entropy yet (early boot): fall back to address and clock. The
         * key only defends against hash flooding; it never affects results. */
        k[0] = (uint64_t)(uintptr_t)rt ^ (uint64_t)ro_realtime_ns();
        k[1] = (uint64_t)ro_now_ns() * 0x9e3779b97f4a7c15ull;
    }
    rt->hash_k0 = k[0];
    rt->hash_k1 = k[1];
}

ro_state *ro_open(const ro_config *cfg)
{
    ro_state *rt = calloc(1, sizeof *rt);
    if (rt == NULL)
        return NULL;
    if (cfg != NULL)
        rt->cfg = *cfg;
    if (rt->cfg.freelist_max == 0)
        rt->cfg.freelist_max = RO_FREELIST_MAX;
    ro_mem_init(rt);
    seed_hash(rt);
    ro_gc_init(rt);
    ro_types_init(rt);
    ro_singletons_init(rt);
    if (ro_intern_init(rt) != 0) {
        ro_mem_fini(rt);
        free(rt);
        return NULL;
    }
    return rt;
}

size_t ro_close(ro_state *rt)
{
    if (rt == NULL)
        return 0;
    RO_CLEAR(rt, rt->file_default_owner);
    /* Free what cycles hold (closing files in them), then what is left. */
    ro_gc_collect(rt, RO_GC_NGENS - 1, NULL);
    ro_err_clear(rt);
    RO_CLEAR(rt, rt->gc_garbage);   /* uncollectable cycles stay: reported below */
    ro_files_fini(rt);
    ro_intern_fini(rt);
    ro_freelists_clear(rt);
    size_t leaked = (size_t)rt->mem.st.bytes_in_use;
    if (leaked != 0)
        ro_log(rt, RO_LOG_WARNING,
               "runtime closed with %zu bytes in %llu blocks still referenced (leaked references)",
               leaked, (unsigned long long)rt->mem.st.blocks_in_use);
    ro_mem_fini(rt);
    free(rt);
    return leaked;
}

/* ------------------------------------------------------------- errors */

static void err_vset(ro_state *rt, ro_errkind kind, int err, const char *fmt, va_list ap)
{
    rt->err_kind = kind;
    rt->err_errno = err;
    vsnprintf(rt->err_msg, sizeof rt->err_msg, fmt, ap);
}

void ro_err_set(ro_state *rt, ro_errkind kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(rt, kind, 0, fmt, ap);
    va_end(ap);
}

void ro_err_set_os(ro_state *rt, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(rt, RO_E_OS, err, fmt, ap);
    va_end(ap);
    size_t n = strlen(rt->err_msg);
    char ebuf[128];
    const char *es = strerror_r(err, ebuf, sizeof ebuf);
    snprintf(rt->err_msg + n, sizeof rt->err_msg - n, ": %s", es);
}

void *ro_err_nomem(ro_state *rt, size_t nbytes)
{
    ro_err_set(rt, RO_E_NOMEM, "out of memory allocating %zu bytes", nbytes);
    return NULL;
}

ro_errkind ro_err_kind(const ro_state *rt) { return rt->err_kind; }
const char *ro_err_msg(const ro_state *rt) { return rt->err_msg; }
int ro_err_errno(const ro_state *rt) { return rt->err_errno; }

void ro_err_clear(ro_state *rt)
{
    rt->err_kind = RO_OK;
    rt->err_errno = 0;
    rt->err_msg[0] = '\0';
}

const char *ro_errkind_name(ro_errkind kind)
{
    static const char *const names[] = {
        [RO_OK] = "OK", [RO_E_NOMEM] = "MemoryError", [RO_E_TYPE] = "TypeError",
        [RO_E_VALUE] = "ValueError", [RO_E_KEY] = "KeyError", [RO_E_INDEX] = "IndexError",
        [RO_E_OVERFLOW] = "OverflowError", [RO_E_UNICODE] = "UnicodeError",
        [RO_E_OS] = "OSError", [RO_E_CLOSED] = "ClosedFileError",
        [RO_E_RECURSION] = "RecursionError", [RO_E_RUNTIME] = "RuntimeError",
    };
    if ((unsigned)kind >= sizeof names / sizeof names[0] || names[kind] == NULL)
        return "UnknownError";
    return names[kind];
}

/* ------------------------------------------------------------ logging */

void ro_log(ro_state *rt, int level, const char *fmt, ...)
{
    if (rt->cfg.log == NULL)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    rt->cfg.log(rt->cfg.log_ud, level, line);
}

int64_t ro_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ro_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
