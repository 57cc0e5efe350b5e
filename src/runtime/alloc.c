/* alloc.c - size-class pools in mmap'd arenas, page release, large blocks from malloc. */
#include "ro_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/*
 * Requests up to RO_SMALL_MAX bytes are rounded up to a multiple of RO_ALIGN
 * (class c holds blocks of (c + 1) * RO_ALIGN bytes). The state machine of
 * pools and arenas is described in ro_internal.h. Frees are sized (the caller
 * passes the size it asked for, as Lua's allocator does), so a block's pool is
 * found by masking the address and no per-block header is needed.
 *
 * Page release: a pool that becomes free keeps its pages ("resident"). When
 * more than mem.dirty_max resident free pools have piled up over all arenas,
 * one pass gives the pages of every resident free pool back with
 * MADV_DONTNEED, one call per run of adjacent pools. MADV_DONTNEED rather than
 * MADV_FREE because the RSS and cgroup usage the guard (and the OOM killer)
 * watch drop at once; MADV_FREE pages keep counting until the kernel is short
 * of memory. Reusing a released pool costs only the page faults of touching it
 * again. New pools are taken from the fullest arena and, inside it, resident
 * pools first, so survivors concentrate and released pages stay released.
 */

#define CLASS_OF(n) RO_CLASS_OF(n)
#define CLASS_BYTES(c) RO_CLASS_BYTES(c)
#define POOL_OF(p) RO_POOL_OF(p)
#define POISON(p, n) RO_POISON(p, n)
#define UNPOISON(p, n) RO_UNPOISON(p, n)
#define ALL_POOLS UINT64_MAX

_Static_assert(RO_ALIGN == 16, "CLASS_OF shifts by 4");

/* Free resident pools tolerated before a release pass: 1 MiB. Large enough
 * that alloc/free churn inside a batch makes no system calls, small enough that
 * RSS after a batch dies stays within a megabyte of what survivors need. */
#define RO_DIRTY_MAX_DEFAULT (RO_ARENA_SIZE / RO_POOL_SIZE)


int ro_mem_init(ro_state *rt)
{
    ro_mem *m = &rt->mem;
    memset(m, 0, sizeof *m);
    m->dirty_max = RO_DIRTY_MAX_DEFAULT;
    return 0;
}

void ro_mem_set_release_threshold(ro_state *rt, uint64_t bytes)
{
    rt->mem.dirty_max = bytes / RO_POOL_SIZE;
}

/* ------------------------------------------------------------- arenas */

static void bucket_remove(ro_mem *m, ro_arena *a)
{
    unsigned k = a->a_bucket;
    if (k == 0)
        return;
    if (a->a_prev != NULL)
        a->a_prev->a_next = a->a_next;
    else
        m->bucket[k] = a->a_next;
    if (a->a_next != NULL)
        a->a_next->a_prev = a->a_prev;
    if (m->bucket[k] == NULL)
        m->bucket_bits &= ~(1ull << (k - 1));
    a->a_next = a->a_prev = NULL;
    a->a_bucket = 0;
}

static void bucket_insert(ro_mem *m, ro_arena *a)
{
    unsigned k = a->a_nfree;
    if (k == 0)
        return;             /* full arenas are on no list */
    a->a_bucket = k;
    a->a_prev = NULL;
    a->a_next = m->bucket[k];
    if (a->a_next != NULL)
        a->a_next->a_prev = a;
    m->bucket[k] = a;
    m->bucket_bits |= 1ull << (k - 1);
}

static ro_arena *arena_new(ro_mem *m)
{
    ro_arena *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    /* Map one pool more than needed and trim, so pools are RO_POOL_SIZE
     * aligned and all 64 usable (CPython instead loses a partial pool). */
    size_t span = RO_ARENA_SIZE + RO_POOL_SIZE;
    uint8_t *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    /* A runtime that already filled one arena is growing: fault the next
     * arena's pages in with one call instead of 256 page faults (3x faster
     * here). The first arena stays lazy so a small runtime stays small. */
    bool populate = m->st.arenas_mapped != 0;
    if (raw == MAP_FAILED) {
        free(a);
        return NULL;
    }
    uint8_t *base = (uint8_t *)(((uintptr_t)raw + RO_POOL_SIZE - 1) & ~(uintptr_t)(RO_POOL_SIZE - 1));
    size_t head = (size_t)(base - raw);
    size_t tail = span - head - RO_ARENA_SIZE;
    if (head != 0)
        munmap(raw, head);
    if (tail != 0)
        munmap(base + RO_ARENA_SIZE, tail);
    a->a_base = base;
    a->a_free_mask = ALL_POOLS;
    a->a_dirty_mask = 0;      /* fresh pages are not resident until touched */
    if (populate && madvise(base, RO_ARENA_SIZE, MADV_POPULATE_WRITE) == 0)
        a->a_dirty_mask = ALL_POOLS;
    a->a_nfree = RO_POOLS_PER_ARENA;
    a->a_all_next = m->all;
    if (m->all != NULL)
        m->all->a_all_prev = a;
    m->all = a;
    bucket_insert(m, a);
    m->st.arenas_mapped++;
    m->st.bytes_mapped += RO_ARENA_SIZE;
    if (a->a_dirty_mask != 0) {
        m->dirty_pools += RO_POOLS_PER_ARENA;
        m->st.pools_free_resident += RO_POOLS_PER_ARENA;
    } else {
        m->st.pools_released += RO_POOLS_PER_ARENA;
    }
    if (m->st.arenas_mapped > m->st.arenas_mapped_peak)
        m->st.arenas_mapped_peak = m->st.arenas_mapped;
    return a;
}

static void arena_unmap(ro_mem *m, ro_arena *a)
{
    unsigned dirty = (unsigned)__builtin_popcountll(a->a_dirty_mask);
    bucket_remove(m, a);
    if (a->a_all_prev != NULL)
        a->a_all_prev->a_all_next = a->a_all_next;
    else
        m->all = a->a_all_next;
    if (a->a_all_next != NULL)
        a->a_all_next->a_all_prev = a->a_all_prev;
    UNPOISON(a->a_base, RO_ARENA_SIZE);
    munmap(a->a_base, RO_ARENA_SIZE);
    m->dirty_pools -= dirty;
    m->st.pools_free_resident -= dirty;
    m->st.pools_released -= RO_POOLS_PER_ARENA - dirty;
    m->st.arenas_mapped--;
    m->st.arenas_unmapped_total++;
    m->st.bytes_mapped -= RO_ARENA_SIZE;
    free(a);
}

/* Give back the pages of the resident free pools in mask, one madvise per run
 * of adjacent pools. Returns bytes given back. */
static uint64_t arena_release(ro_mem *m, ro_arena *a, uint64_t mask)
{
    uint64_t released = 0;
    mask &= a->a_dirty_mask;
    while (mask != 0) {
        unsigned start = (unsigned)__builtin_ctzll(mask);
        uint64_t rest = ~(mask >> start);
        unsigned len = rest == 0 ? 64 - start : (unsigned)__builtin_ctzll(rest);
        uint64_t run = (len == 64 ? ALL_POOLS : ((1ull << len) - 1)) << start;
        uint8_t *p = a->a_base + (size_t)start * RO_POOL_SIZE;
        size_t n = (size_t)len * RO_POOL_SIZE;
        m->st.madvise_calls_total++;
        if (madvise(p, n, MADV_DONTNEED) == 0) {
            a->a_dirty_mask &= ~run;
            m->dirty_pools -= len;
            m->st.pools_free_resident -= len;
            m->st.pools_released += len;
            m->st.bytes_released_total += n;
            released += n;
        }
        mask &= ~run;
    }
    return released;
}

static void pool_free(ro_mem *m, ro_pool *p);

/* One release pass: every resident free pool of every arena goes back. */
static uint64_t release_pass(ro_mem *m)
{
    uint64_t released = 0;
    for (ro_arena *a = m->all; a != NULL && m->dirty_pools != 0; a = a->a_all_next)
        if (a->a_dirty_mask != 0)
            released += arena_release(m, a, ALL_POOLS);
    return released;
}

uint64_t ro_mem_release(ro_state *rt)
{
    ro_mem *m = &rt->mem;
    uint64_t released = 0;
    for (unsigned c = 0; c < RO_NCLASSES; c++) {
        ro_pool *next;
        for (ro_pool *p = m->used[c]; p != NULL; p = next) {
            next = p->p_next;
            if (p->p_nused == 0)
                pool_free(m, p);    /* an idle pool kept against churn */
        }
    }
    ro_arena *next;
    for (ro_arena *a = m->all; a != NULL; a = next) {
        next = a->a_all_next;
        if (a->a_nfree == RO_POOLS_PER_ARENA) {
            released += (uint64_t)__builtin_popcountll(a->a_dirty_mask) * RO_POOL_SIZE;
            arena_unmap(m, a);
        } else if (a->a_dirty_mask != 0) {
            released += arena_release(m, a, ALL_POOLS);
        }
    }
    return released;
}

/* -------------------------------------------------------------- pools */

static void used_push(ro_mem *m, ro_pool *p)
{
    ro_pool *head = m->used[p->p_class];
    p->p_prev = NULL;
    p->p_next = head;
    if (head != NULL)
        head->p_prev = p;
    m->used[p->p_class] = p;
}

/* Take a free pool for class c from the fullest arena and hand out its first
 * block. Returns NULL when no arena can be mapped. */
static uint8_t *pool_new(ro_mem *m, unsigned c)
{
    ro_arena *a;
    if (m->bucket_bits != 0) {
        a = m->bucket[__builtin_ctzll(m->bucket_bits) + 1];
    } else {
        a = arena_new(m);
        if (a == NULL)
            return NULL;
    }
    uint64_t pick = a->a_dirty_mask != 0 ? a->a_dirty_mask : a->a_free_mask;
    unsigned i = (unsigned)__builtin_ctzll(pick);
    uint64_t bit = 1ull << i;
    if (a->a_dirty_mask & bit) {
        a->a_dirty_mask &= ~bit;
        m->dirty_pools--;
        m->st.pools_free_resident--;
    } else {
        m->st.pools_released--;
    }
    a->a_free_mask &= ~bit;
    bucket_remove(m, a);
    a->a_nfree--;
    bucket_insert(m, a);
    m->st.pools_in_use++;

    size_t size = CLASS_BYTES(c);
    ro_pool *p = (ro_pool *)(a->a_base + (size_t)i * RO_POOL_SIZE);
    p->p_nused = 1;
    p->p_class = c;
    p->p_freeblock = NULL;
    p->p_nextoffset = (uint32_t)(RO_POOL_OVERHEAD + size);
    p->p_maxnextoffset = (uint32_t)(RO_POOL_SIZE - size);
    p->p_arena = a;
    p->p_index = i;
    used_push(m, p);
    uint8_t *block = (uint8_t *)p + RO_POOL_OVERHEAD;
    POISON(block + size, RO_POOL_SIZE - RO_POOL_OVERHEAD - size);
    return block;
}

/* The last block of p was freed: give the pool back to its arena. */
static void pool_free(ro_mem *m, ro_pool *p)
{
    ro_arena *a = p->p_arena;
    uint64_t bit = 1ull << p->p_index;
    ro_pool_unlink_used(m, p);
    m->st.pools_in_use--;
    a->a_free_mask |= bit;
    a->a_dirty_mask |= bit;
    m->dirty_pools++;
    m->st.pools_free_resident++;
    bucket_remove(m, a);
    a->a_nfree++;
    if (a->a_nfree == RO_POOLS_PER_ARENA) {
        if (m->bucket_bits != 0) {
            arena_unmap(m, a);              /* another arena can serve new pools */
            return;
        }
        bucket_insert(m, a);                /* keep the last one, but not its pages */
        if (m->release_held)
            m->release_owed = true;
        else
            arena_release(m, a, ALL_POOLS);
        return;
    }
    bucket_insert(m, a);
    if (m->dirty_pools > m->dirty_max) {
        if (m->release_held)
            m->release_owed = true;
        else
            release_pass(m);
    }
}

void ro_mem_hold_release(ro_state *rt)
{
    rt->mem.release_held = true;
}

void ro_mem_resume_release(ro_state *rt)
{
    ro_mem *m = &rt->mem;
    m->release_held = false;
    if (!m->release_owed)
        return;
    m->release_owed = false;
    if (m->dirty_pools > m->dirty_max) {
        release_pass(m);
        return;
    }
    /* Only an emptied last arena's pages are owed (it is kept, not unmapped). */
    for (ro_arena *a = m->bucket[RO_POOLS_PER_ARENA]; a != NULL; a = a->a_next)
        arena_release(m, a, ALL_POOLS);
}

/* ------------------------------------------------------------ public */

static inline bool inject_fail(ro_mem *m)
{
    if (RO_UNLIKELY(m->inject_countdown != 0) && --m->inject_countdown == 0) {
        m->st.alloc_failures_total++;
        m->inject_fired = true;
        return true;
    }
    return false;
}

void *ro_mem_alloc_nomsg(ro_state *rt, size_t n)
{
    return ro_mem_alloc_fast(rt, n);
}

void *ro_mem_alloc_slow(ro_state *rt, size_t n)
{
    ro_mem *m = &rt->mem;
    if (inject_fail(m))
        return NULL;
    if (n <= RO_SMALL_MAX) {
        unsigned c = n == 0 ? 0 : CLASS_OF(n);
        ro_pool *p = m->used[c];
        uint8_t *b;
        if (RO_LIKELY(p != NULL)) {
            b = ro_pool_take(m, p, c);
        } else {
            b = pool_new(m, c);
            if (b == NULL) {
                m->st.alloc_failures_total++;
                return NULL;
            }
            RO_BLOCK_TAKEN(b, CLASS_BYTES(c));
        }
        m->st.blocks_in_use++;
        ro_mem_account_alloc(m, n);
        return b;
    }
    void *q = malloc(n);
    if (q == NULL) {
        m->st.alloc_failures_total++;
        return NULL;
    }
    m->st.large_bytes_in_use += n;
    ro_mem_account_alloc(m, n);
    return q;
}

void *ro_mem_alloc(ro_state *rt, size_t n)
{
    void *p = ro_mem_alloc_nomsg(rt, n);
    if (p == NULL)
        return ro_err_nomem(rt, n);
    return p;
}

void ro_mem_free(ro_state *rt, void *ptr, size_t n)
{
    if (ptr != NULL)
        ro_mem_free_fast(rt, ptr, n);
}

void ro_mem_free_slow(ro_state *rt, void *ptr, size_t n)
{
    ro_mem *m = &rt->mem;
    m->st.bytes_in_use -= n;
    m->st.frees_total++;
    if (n > RO_SMALL_MAX) {
        m->st.large_bytes_in_use -= n;
        free(ptr);
        return;
    }
    unsigned c = n == 0 ? 0 : CLASS_OF(n);
    ro_pool *p = POOL_OF(ptr);
    assert(p->p_class == c && "ro_mem_free: size does not match the block's class");
    uint8_t *old = p->p_freeblock;
    bool was_full = old == NULL && p->p_nextoffset > p->p_maxnextoffset;
    *(uint8_t **)ptr = old;
    p->p_freeblock = ptr;
    RO_BLOCK_FREED(ptr, CLASS_BYTES(c));
    m->st.blocks_in_use--;
    if (was_full)
        used_push(m, p);        /* back to "used": it has a free block now */
    if (--p->p_nused == 0) {
        /* The class's only used pool stays, empty, on its list: alloc/free of
         * one object in a loop must not hand the pool back and take it again
         * every time (at most one idle pool per class; ro_mem_release frees it). */
        if (m->used[c] == p && p->p_next == NULL)
            return;
        pool_free(m, p);
    }
}

/* k blocks of pool p, a run of one pool (found by free_runs, or gathered by
 * a free batch's lane), go back at once (their bytes are accounted for by
 * the caller). */
static void pool_free_run(ro_mem *m, ro_pool *p, void *const *run, size_t k)
{
    unsigned c = p->p_class;
    bool was_full = p->p_freeblock == NULL && p->p_nextoffset > p->p_maxnextoffset;
    m->st.blocks_in_use -= k;
    m->st.frees_total += k;
    if (k < p->p_nused) {
        uint8_t *head = p->p_freeblock;
        for (size_t i = 0; i < k; i++) {
            *(uint8_t **)run[i] = head;
            head = run[i];
            RO_BLOCK_FREED(run[i], CLASS_BYTES(c));
        }
        p->p_freeblock = head;
        p->p_nused -= (uint32_t)k;
        if (was_full)
            used_push(m, p);
        return;
    }
    /* The run holds every live block: the pool empties with no link written
     * into the dead blocks (their cache lines stay clean). */
    assert(k == p->p_nused && "ro_mem_free_many: more blocks than the pool has live");
    for (size_t i = 0; i < k; i++)
        RO_BLOCK_FREED(run[i], CLASS_BYTES(c));
    p->p_nused = 0;
    if (was_full)
        used_push(m, p);
    if (m->used[c] == p && p->p_next == NULL) {
        /* Kept idle, as ro_mem_free_slow keeps its class's only used pool:
         * fresh again, its blocks handed out by bumping from the start. */
        p->p_freeblock = NULL;
        p->p_nextoffset = (uint32_t)RO_POOL_OVERHEAD;
        return;
    }
    pool_free(m, p);
}

/* Give back n pooled blocks of class c, a run of one pool at a time. */
static void free_runs(ro_mem *m, void *const *blocks, size_t n, unsigned c)
{
    size_t i = 0;
    (void)c;
    while (i < n) {
        ro_pool *p = POOL_OF(blocks[i]);
        assert(p->p_class == c && "ro_mem_free_many: size does not match the block's class");
        size_t j = i + 1;
        while (j < n && POOL_OF(blocks[j]) == p)
            j++;
        pool_free_run(m, p, blocks + i, j - i);
        i = j;
    }
}

void ro_mem_free_many(ro_state *rt, void *const *blocks, size_t n, size_t size)
{
    ro_mem *m = &rt->mem;
    assert(size != 0 && size <= RO_SMALL_MAX);
    m->st.bytes_in_use -= n * size;
    free_runs(m, blocks, n, CLASS_OF(size));
}

void ro_freebatch_run(ro_state *rt, ro_freelane *lane, ro_pool *p)
{
    if (lane->n != 0) {
        assert(lane->pool->p_class == lane->cls && "ro_freebatch_add: size does not match the block's class");
        pool_free_run(&rt->mem, lane->pool, lane->blocks, lane->n);
        lane->n = 0;
    }
    lane->pool = p;
}

ro_freelane *ro_freebatch_lane(ro_state *rt, ro_freebatch *b, unsigned c)
{
    ro_freelane *ln = &b->lanes[b->victim];
    b->victim = (b->victim + 1) % RO_FREEBATCH_LANES;
    if (ln->cls != RO_FREELANE_NONE) {
        ro_freebatch_run(rt, ln, NULL);
        b->lane_of[ln->cls] = NULL;
    }
    ln->cls = c;
    b->lane_of[c] = ln;
    return ln;
}

void ro_freebatch_flush(ro_state *rt, ro_freebatch *b)
{
    for (unsigned l = 0; l < RO_FREEBATCH_LANES; l++)
        ro_freebatch_run(rt, &b->lanes[l], NULL);
}

void *ro_mem_realloc(ro_state *rt, void *p, size_t old_n, size_t new_n)
{
    ro_mem *m = &rt->mem;
    if (p == NULL)
        return ro_mem_alloc(rt, new_n);
    if (old_n > RO_SMALL_MAX && new_n > RO_SMALL_MAX) {
        if (inject_fail(m))
            return ro_err_nomem(rt, new_n);
        void *q = realloc(p, new_n);
        if (q == NULL) {
            m->st.alloc_failures_total++;
            return ro_err_nomem(rt, new_n);
        }
        m->st.bytes_in_use += new_n - old_n;   /* modular arithmetic: shrink works too */
        m->st.large_bytes_in_use += new_n - old_n;
        if (m->st.bytes_in_use > m->st.bytes_in_use_peak)
            m->st.bytes_in_use_peak = m->st.bytes_in_use;
        return q;
    }
    if (old_n <= RO_SMALL_MAX && new_n <= RO_SMALL_MAX && old_n != 0 && new_n != 0 &&
        CLASS_OF(old_n) == CLASS_OF(new_n)) {
        m->st.bytes_in_use += new_n - old_n;
        return p;
    }
    void *q = ro_mem_alloc(rt, new_n);
    if (q == NULL)
        return NULL;
    memcpy(q, p, old_n < new_n ? old_n : new_n);
    ro_mem_free(rt, p, old_n);
    return q;
}

void ro_mem_inject_failure(ro_state *rt, uint64_t nth, int retry_fails)
{
    rt->mem.inject_countdown = nth;
    rt->mem.inject_retry_fails = retry_fails != 0;
    rt->mem.inject_fired = false;
}

/* A failed object allocation gets one full collection and one retry, as in
 * Lua: cycles waiting for the next automatic collection may hold the memory.
 * Never from inside a collection. */
void *ro_mem_alloc_emergency(ro_state *rt, size_t n)
{
    ro_mem *m = &rt->mem;
    bool injected = m->inject_fired;
    m->inject_fired = false;
    void *p = NULL;
    if (!rt->gc_collecting && !(injected && m->inject_retry_fails)) {
        ro_gc_collect_reason(rt, RO_GC_NGENS - 1, RO_GC_REASON_EMERGENCY, NULL);
        p = ro_mem_alloc_nomsg(rt, n);
    }
    if (p == NULL)
        return ro_err_nomem(rt, n);
    return p;
}

void ro_mem_get_stats(const ro_state *rt, ro_mem_stats *out)
{
    *out = rt->mem.st;
    out->bytes_resident_pools = (out->pools_in_use + out->pools_free_resident) * RO_POOL_SIZE;
}

void ro_mem_fini(ro_state *rt)
{
    ro_mem *m = &rt->mem;
    while (m->all != NULL)
        arena_unmap(m, m->all);
    memset(m->used, 0, sizeof m->used);
}
