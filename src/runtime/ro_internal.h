/* ro_internal.h - runtime state and helpers shared by the runtime's own files. */
#ifndef RECLAIMD_RO_INTERNAL_H
#define RECLAIMD_RO_INTERNAL_H

#include "ro.h"
#include "ro_gc.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

#define RO_LIKELY(x) __builtin_expect(!!(x), 1)
#define RO_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ------------------------------------------------------------ allocator
 *
 * Pool states (a pool is RO_POOL_SIZE bytes inside an arena, header first):
 *   used   some blocks free: on mem.used[class] (doubly linked). Normally some
 *          are live too; a pool whose last block is freed while it is its
 *          class's only used pool stays here idle (no live block) so that
 *          alloc/free churn does not cycle it through the arena.
 *   full   every block live: on no list
 *   free   no block live: a bit in its arena's free_mask; its header is stale.
 *          A free pool is either resident (pages still in RAM: dirty_mask) or
 *          released (pages given back with MADV_DONTNEED: not in dirty_mask).
 * Arena lists: an arena with k free pools (0 < k < total) is on bucket[k]; a
 * full arena (k == 0) is on none; an arena whose pools are all free is unmapped
 * at once, except the last arena with free pools, kept (pages released) so that
 * alloc/free of a single object does not map and unmap in a loop.
 * New pools come from the lowest non-empty bucket: the fullest arena, so that
 * emptier arenas drain and can be unmapped.
 */

typedef struct ro_arena ro_arena;

typedef struct ro_pool {
    uint32_t p_nused;          /* live blocks */
    uint32_t p_class;          /* size class index */
    uint8_t *p_freeblock;      /* singly linked free blocks; NULL = use p_nextoffset */
    uint32_t p_nextoffset;     /* bytes: next never-used block */
    uint32_t p_maxnextoffset;  /* bytes: last offset a block can start at */
    struct ro_pool *p_next;    /* mem.used[class] list */
    struct ro_pool *p_prev;
    ro_arena *p_arena;
    uint32_t p_index;          /* position in the arena */
    uint32_t p_pad_;
} ro_pool;

/* Blocks start after the header, kept at a multiple of RO_ALIGN. */
#define RO_POOL_OVERHEAD ((sizeof(ro_pool) + RO_ALIGN - 1) & ~(size_t)(RO_ALIGN - 1))
_Static_assert(RO_POOL_OVERHEAD == 64, "pool header expected to round to 64 bytes");
_Static_assert(RO_POOLS_PER_ARENA == 64, "free/dirty masks are one 64-bit word");
_Static_assert((RO_POOL_SIZE & (RO_POOL_SIZE - 1)) == 0, "pool size must be a power of two");

struct ro_arena {
    uint8_t *a_base;           /* RO_ARENA_SIZE bytes, RO_POOL_SIZE aligned */
    uint64_t a_free_mask;      /* bit i: pool i is free */
    uint64_t a_dirty_mask;     /* bit i: pool i is free and its pages are resident */
    uint32_t a_nfree;          /* popcount(a_free_mask) */
    uint32_t a_bucket;         /* bucket it is on (= a_nfree), 0 = none */
    ro_arena *a_next;          /* bucket list */
    ro_arena *a_prev;
    ro_arena *a_all_next;      /* every mapped arena */
    ro_arena *a_all_prev;
};

typedef struct ro_mem {
    ro_pool *used[RO_NCLASSES];             /* pools with free blocks, per class */
    ro_arena *bucket[RO_POOLS_PER_ARENA + 1]; /* arenas by number of free pools */
    uint64_t bucket_bits;                   /* bit k: bucket[k] is not empty */
    ro_arena *all;                          /* every mapped arena */
    uint64_t dirty_pools;                   /* free pools still resident, all arenas */
    uint64_t dirty_max;                     /* release pass when dirty_pools exceeds this */
    bool release_held;                      /* ro_mem_hold_release: passes wait for the resume */
    bool release_owed;                      /* a pass or an empty arena's release waited */
    uint64_t inject_countdown;              /* fault injection; 0 = off */
    bool inject_retry_fails;                /* the emergency retry fails too */
    bool inject_fired;                      /* the last failure was injected */
    ro_mem_stats st;
} ro_mem;

#define RO_CLASS_OF(n) ((unsigned)(((n) - 1) >> 4))            /* n in 1..RO_SMALL_MAX */
#define RO_CLASS_BYTES(c) (((size_t)(c) + 1) << 4)
#define RO_POOL_OF(p) ((ro_pool *)((uintptr_t)(p) & ~(uintptr_t)(RO_POOL_SIZE - 1)))

/* Pool blocks are made visible to the memory checkers, so a use after free
 * or a leak inside a pool is reported as it would be with malloc:
 *   RO_LINK_READABLE(b)  before the allocator reads a free block's link
 *   RO_BLOCK_TAKEN(b, n) a block of class size n was handed out
 *   RO_BLOCK_FREED(b, n) a block was given back (after its link was written)
 * AddressSanitizer poisons free blocks; valgrind (RO_VALGRIND builds) treats
 * blocks as malloc'd ones. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define RO_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define RO_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define RO_LINK_READABLE(b) ASAN_UNPOISON_MEMORY_REGION((b), sizeof(void *))
#define RO_BLOCK_TAKEN(b, n) ASAN_UNPOISON_MEMORY_REGION((b), (n))
#define RO_BLOCK_FREED(b, n) ASAN_POISON_MEMORY_REGION((b), (n))
#elif defined(RO_VALGRIND)
#include <valgrind/memcheck.h>
#define RO_POISON(p, n) ((void)(p), (void)(n))
#define RO_UNPOISON(p, n) ((void)(p), (void)(n))
#define RO_LINK_READABLE(b) VALGRIND_MAKE_MEM_DEFINED((b), sizeof(void *))
#define RO_BLOCK_TAKEN(b, n) VALGRIND_MALLOCLIKE_BLOCK((b), (n), 0, 0)
#define RO_BLOCK_FREED(b, n) VALGRIND_FREELIKE_BLOCK((b), 0)
#else
#define RO_POISON(p, n) ((void)(p), (void)(n))
#define RO_UNPOISON(p, n) ((void)(p), (void)(n))
#define RO_LINK_READABLE(b) ((void)(b))
#define RO_BLOCK_TAKEN(b, n) ((void)(b), (void)(n))
#define RO_BLOCK_FREED(b, n) ((void)(b), (void)(n))
#endif

int ro_mem_init(ro_state *rt);
void ro_mem_fini(ro_state *rt);
void *ro_mem_alloc_nomsg(ro_state *rt, size_t n);   /* no error recorded on failure */

/* ------------------------------------------------------------- free lists */

#define RO_STRCACHE_BITS 8
#define RO_STRCACHE_SLOTS (1u << RO_STRCACHE_BITS)
/* One slot of the shared-string cache: s a new reference or NULL; a text of
 * up to 8 bytes also as its word (ro_str_shared_word), so that a lookup
 * compares two words and the length without reading the string. */
typedef struct ro_strcache_slot {
    ro_str *s;
    uint64_t word;          /* the bytes, little-endian, zero past them; 0 past 8 bytes */
    size_t nbytes;
} ro_strcache_slot;
/* Drop every string the shared-string cache holds (str.c). Returns how many. */
size_t ro_strcache_clear(ro_state *rt);

typedef struct ro_freelist {
    void *fl_head;      /* blocks chained through their first word */
    uint32_t fl_count;
} ro_freelist;

/* One free list per block shape: compact int, float, list and dict objects,
 * tuples of 1 to 4 items. */
enum {
    RO_FL_INT, RO_FL_FLOAT, RO_FL_LIST, RO_FL_DICT,
    RO_FL_TUPLE1, RO_FL_TUPLE2, RO_FL_TUPLE3, RO_FL_TUPLE4,
    RO_FL_COUNT
};
#define RO_FL_TUPLE_MAX 4
/* Parked lists keep an item array of at most this many slots, and parked
 * dicts their smallest table, so that making a small one again allocates
 * nothing; these free what a parked block keeps (list.c, dict.c). */
#define RO_LIST_KEEP_ITEMS 8
void ro_list_parked_release(ro_state *rt, ro_object *list);
void ro_dict_parked_release(ro_state *rt, ro_object *dict);
/* The blocks of a garbage list, dict or tuple, for the collector's bulk
 * free (it frees them without touching the items: it has dropped the
 * references that leave the garbage set, and the rest die with it). The
 * object's own block starts at its collector link; storage is its item
 * array or table, NULL when it has none. Sizes are as allocated. */
typedef struct ro_gc_blocks {
    size_t obj_size;
    void *storage;
    size_t storage_size;
} ro_gc_blocks;
void ro_list_gc_blocks(ro_object *list, ro_gc_blocks *b);
void ro_dict_gc_blocks(ro_object *dict, ro_gc_blocks *b);
void ro_tuple_gc_blocks(ro_object *tuple, ro_gc_blocks *b);


/* --------------------------------------------------------- intern table */

typedef struct ro_strset {
    ro_str **ss_slots;   /* open addressing; NULL = empty, RO_STRSET_DUMMY = deleted */
    size_t ss_mask;
    size_t ss_used;
    size_t ss_filled;    /* used + dummies */
} ro_strset;

/* ------------------------------------------------------------------ state */

typedef struct ro_file ro_file;

struct ro_state {
    ro_mem mem;
    ro_config cfg;

    /* error */
    ro_errkind err_kind;
    int err_errno;
    char err_msg[256];

    /* built-in types, singletons and shared small ints: immortal, owned here */
    ro_type types[RO_K_COUNT_];
    ro_object none;
    ro_object true_;
    ro_object false_;
    ro_object small_ints[RO_SMALLINT_MAX - RO_SMALLINT_MIN + 1];

    uint64_t hash_k0, hash_k1;      /* SipHash key */
    ro_strset interned;
    /* Recently interned strings by a cheap hash of their bytes (borrowed
     * references: emptied whenever the intern table drops entries). */
    ro_str *intern_cache[64];

    ro_freelist freelists[RO_FL_COUNT];
    ro_strcache_slot str_cache[RO_STRCACHE_SLOTS];   /* ro_str_shared_utf8 */

    /* collector: generations of tracked containers */
    ro_gcgen gens[RO_GC_NGENS];
    uint64_t gc_tracked;
    bool gc_enabled;
    bool gc_collecting;
    bool gc_pending;        /* generation 0 passed its threshold: ro_gc_after_alloc collects */
    uint64_t finalizable_live;        /* live objects whose type has tp_finalize */
    uint32_t gc_epoch;                /* full collections so far, 1..2^24-1, never 0 */
    uint64_t gc_long_lived_total;     /* survivors of the last full collection */
    uint64_t gc_long_lived_pending;   /* promoted to the oldest generation since */
    ro_gc_genstats gc_stats[RO_GC_NGENS];
    ro_object *gc_garbage;            /* list of uncollectable objects, or NULL */
    ro_gc_callback gc_callback;
    void *gc_callback_ud;

    /* deallocation of deep structures: objects past the depth limit wait here */
    uint32_t dealloc_depth;
    ro_gchead *trash;

    /* repr recursion guard */
    ro_object *repr_stack[64];
    uint32_t repr_depth;

    /* open file registry (doubly linked through the file objects) */
    ro_file *files_head, *files_tail;
    ro_object *file_default_owner;   /* new reference, or NULL (ro_file_set_default_owner) */
    size_t files_open;
    uint64_t files_unclosed;

    uint64_t heap_types_live;
};

/* Deallocation past this nesting depth is deferred to rt->trash, so freeing a
 * million-long chain does not overflow the C stack. */
#define RO_DEALLOC_DEPTH_MAX 64

/* ------------------------------------------------- allocator fast paths
 * The common cases inline: a block from the class's current pool, and a
 * free into a pool that neither was full nor becomes empty. Everything else
 * (new pools, large blocks, fault injection, list moves) is in alloc.c. */

/* Take p off mem.used (it became full, or empty). */
static inline void ro_pool_unlink_used(ro_mem *m, ro_pool *p)
{
    if (p->p_prev != NULL)
        p->p_prev->p_next = p->p_next;
    else
        m->used[p->p_class] = p->p_next;
    if (p->p_next != NULL)
        p->p_next->p_prev = p->p_prev;
    p->p_next = p->p_prev = NULL;
}

static inline void ro_mem_account_alloc(ro_mem *m, size_t n)
{
    m->st.bytes_in_use += n;
    m->st.allocs_total++;
    m->st.bytes_requested_total += n;
    if (m->st.bytes_in_use > m->st.bytes_in_use_peak)
        m->st.bytes_in_use_peak = m->st.bytes_in_use;
}

/* Emergency path of ro_object_alloc: one full collection, then one retry.
 * Returns NULL with RO_E_NOMEM set when that fails too. */
void *ro_mem_alloc_emergency(ro_state *rt, size_t n);

/* New pools, large blocks and fault injection (alloc.c). */
void *ro_mem_alloc_slow(ro_state *rt, size_t n);

/* Take a block of class c from p, a pool on mem.used[c] (so it has one). */
static inline uint8_t *ro_pool_take(ro_mem *m, ro_pool *p, unsigned c)
{
    uint8_t *b = p->p_freeblock;
    if (b != NULL) {
        RO_LINK_READABLE(b);
        p->p_freeblock = *(uint8_t **)b;
    } else {
        b = (uint8_t *)p + p->p_nextoffset;
        p->p_nextoffset += (uint32_t)RO_CLASS_BYTES(c);
    }
    RO_BLOCK_TAKEN(b, RO_CLASS_BYTES(c));
    p->p_nused++;
    if (p->p_freeblock == NULL && p->p_nextoffset > p->p_maxnextoffset)
        ro_pool_unlink_used(m, p);          /* now full */
    return b;
}

static inline void *ro_mem_alloc_fast(ro_state *rt, size_t n)
{
    ro_mem *m = &rt->mem;
    unsigned c = RO_CLASS_OF(n);
    ro_pool *p;
    if (RO_UNLIKELY(n - 1 >= RO_SMALL_MAX || m->inject_countdown != 0 || (p = m->used[c]) == NULL))
        return ro_mem_alloc_slow(rt, n);
    uint8_t *b = ro_pool_take(m, p, c);
    m->st.blocks_in_use++;
    ro_mem_account_alloc(m, n);
    return b;
}

/* Emptied pools and large blocks (alloc.c). */
void ro_mem_free_slow(ro_state *rt, void *ptr, size_t n);

static inline void ro_mem_free_fast(ro_state *rt, void *ptr, size_t n)
{
    ro_mem *m = &rt->mem;
    if (RO_UNLIKELY(n - 1 >= RO_SMALL_MAX)) {
        ro_mem_free_slow(rt, ptr, n);       /* large (or zero-size) */
        return;
    }
    ro_pool *p = RO_POOL_OF(ptr);
    assert(p->p_class == RO_CLASS_OF(n) && "ro_mem_free: size does not match the block's class");
    if (RO_UNLIKELY((p->p_freeblock == NULL && p->p_nextoffset > p->p_maxnextoffset) ||
                    (p->p_nused == 1 && (m->used[p->p_class] != p || p->p_next != NULL)))) {
        ro_mem_free_slow(rt, ptr, n);       /* was full, or empties a pool that goes back */
        return;
    }
    *(uint8_t **)ptr = p->p_freeblock;
    p->p_freeblock = ptr;
    RO_BLOCK_FREED(ptr, RO_CLASS_BYTES(RO_CLASS_OF(n)));
    p->p_nused--;
    m->st.blocks_in_use--;
    m->st.bytes_in_use -= n;
    m->st.frees_total++;
}

/* Free n pooled blocks, all allocated with the same size (1..RO_SMALL_MAX),
 * as n calls of ro_mem_free would. Consecutive blocks of one pool go back
 * together; a run that holds all of its pool's live blocks frees the pool
 * without writing into the blocks. Blocks in allocation order free fastest. */
void ro_mem_free_many(ro_state *rt, void *const *blocks, size_t n, size_t size);

/* Around a free of many blocks (a collection's garbage): pool frees give no
 * pages back until the resume, which then runs the page release they would
 * have (one madvise per run of free pools, not one every dirty_max pools
 * while arenas are still emptying, pages that munmap frees again moments
 * later). Arenas that empty are still unmapped at once. */
void ro_mem_hold_release(ro_state *rt);
void ro_mem_resume_release(ro_state *rt);

/* Generation 0's counter, as CPython 3.11's: container blocks taken from the
 * allocator minus container blocks given back to it. A container recycled
 * through a free list is neither (it stays counted while parked), so churn of
 * small containers touches no counter. Past the threshold the collection
 * waits for ro_gc_after_alloc, where the new object is whole. */
static inline void ro_gc_count_alloc(ro_state *rt)
{
    if (++rt->gens[0].count > rt->gens[0].threshold && rt->gc_enabled)
        rt->gc_pending = true;
}

static inline void ro_gc_count_free(ro_state *rt)
{
    if (rt->gens[0].count > 0)
        rt->gens[0].count--;
}

/* Allocate the block of an object of `size` bytes, with a collector link in
 * front when gc is true, and initialise the header (refcount 1). The object is
 * not tracked yet. Returns NULL with RO_E_NOMEM set. */
static inline ro_object *ro_object_alloc(ro_state *rt, ro_type *type, size_t size, bool gc)
{
    size_t total = size + (gc ? sizeof(ro_gchead) : 0);
    uint8_t *block = ro_mem_alloc_fast(rt, total);
    if (RO_UNLIKELY(block == NULL)) {
        block = ro_mem_alloc_emergency(rt, total);
        if (block == NULL)
            return NULL;
    }
    ro_object *o;
    if (gc) {
        ro_gchead *g = (ro_gchead *)block;
        g->gc_next = g->gc_prev = NULL;
        g->gc_flags = 0;
        g->gc_refs = 0;
        o = RO_GC_OBJ(g);
        ro_gc_count_alloc(rt);
    } else {
        o = (ro_object *)block;
    }
    o->ob_refcnt = 1;
    o->ob_aux = 0;
    o->ob_type = type;
    if (type->tp_flags & RO_TPFLAG_HEAP)
        ro_incref(RO_OBJ(type));
    if (type->tp_finalize != NULL)
        rt->finalizable_live++;     /* lets a collection skip the finalizer pass */
    return o;
}

/* Free the block of an object (its references already dropped); size as
 * allocated, without the collector link. */
static inline void ro_object_free(ro_state *rt, ro_object *o, size_t size)
{
    ro_type *type = o->ob_type;
    if (type->tp_finalize != NULL)
        rt->finalizable_live--;
    if (type->tp_flags & RO_TPFLAG_GC) {
        ro_gc_count_free(rt);
        ro_mem_free_fast(rt, RO_GC_HEAD(o), size + sizeof(ro_gchead));
    } else
        ro_mem_free_fast(rt, o, size);
    if (type->tp_flags & RO_TPFLAG_HEAP)
        ro_decref(rt, RO_OBJ(type));
}

/* ---------------------------------------------------------- free lists */

static inline void *ro_freelist_pop(ro_state *rt, int which)
{
    ro_freelist *fl = &rt->freelists[which];
    void *b = fl->fl_head;
    if (b != NULL) {
        RO_LINK_READABLE(b);
        fl->fl_head = *(void **)b;
        fl->fl_count--;
    }
    return b;
}

/* Park a dead block (its size is the list's shape). Returns false when the
 * list is full: the caller frees the block. */
static inline bool ro_freelist_push(ro_state *rt, int which, void *block)
{
    ro_freelist *fl = &rt->freelists[which];
    if (fl->fl_count >= rt->cfg.freelist_max)
        return false;
    *(void **)block = fl->fl_head;
    fl->fl_head = block;
    fl->fl_count++;
    return true;
}

/* Initialise the header of a block taken from a free list, as
 * ro_object_alloc does (built-in types only: no heap type reference, no
 * finalizer count). Returns the object. */
static inline ro_object *ro_freelist_init(void *block, ro_type *type, bool gc)
{
    ro_object *o = block;
    if (gc) {
        ro_gchead *g = block;
        g->gc_next = g->gc_prev = NULL;
        g->gc_flags = 0;
        g->gc_refs = 0;
        o = RO_GC_OBJ(g);
    }
    o->ob_refcnt = 1;
    o->ob_aux = 0;
    o->ob_type = type;
    return o;
}

/* An object from free list `which` if it has one, else a fresh block, with
 * its header initialised. Returns NULL with RO_E_NOMEM. */
static inline ro_object *ro_freelist_alloc(ro_state *rt, int which, ro_type *type, size_t size, bool gc)
{
    void *block = ro_freelist_pop(rt, which);
    if (RO_UNLIKELY(block == NULL))
        return ro_object_alloc(rt, type, size, gc);
    return ro_freelist_init(block, type, gc);
}

/* -------------------------------------------------- collector links */

static inline void ro_gc_track(ro_state *rt, ro_object *o)
{
    ro_gchead *g = RO_GC_HEAD(o), *h = &rt->gens[0].head;
    if (g->gc_next != NULL)
        return;
    g->gc_next = h;
    g->gc_prev = h->gc_prev;
    h->gc_prev->gc_next = g;
    h->gc_prev = g;
    rt->gc_tracked++;
}

static inline void ro_gc_untrack(ro_state *rt, ro_object *o)
{
    ro_gchead *g = RO_GC_HEAD(o);
    if (g->gc_next == NULL)
        return;
    g->gc_prev->gc_next = g->gc_next;
    g->gc_next->gc_prev = g->gc_prev;
    g->gc_next = g->gc_prev = NULL;
    g->gc_flags &= RO_GCF_FINALIZED;   /* epoch 0: re-initialised on its next collection */
    rt->gc_tracked--;
}

/* Lists, dicts and tuples holding only atoms cannot be part of a cycle, so
 * they start untracked (as CPython does for dicts and tuples) and are tracked
 * the moment a container is stored in them. Invariant: an untracked list,
 * dict or tuple references no object of a container type. Every store of an
 * item into one of them goes through this. */
static inline void ro_gc_track_for(ro_state *rt, ro_object *container, const ro_object *item)
{
    if (RO_UNLIKELY(item->ob_type->tp_flags & RO_TPFLAG_GC))
        ro_gc_track(rt, container);
}

/* ------------------------------------------ built-in container deallocs
 * Types with RO_TPFLAG_OWN_DEALLOC (tuple, list, dict) are not wrapped by
 * ro_dealloc: their dealloc starts with ro_container_dealloc_begin and ends
 * with ro_container_dealloc_end. An untracked one holds atoms only (see
 * ro_gc_track_for), so freeing it cannot nest: it skips the depth count. */

/* Drop one reference to x without freeing it: true when its count reached
 * zero, and the caller must free it with ro_dealloc_dead. An untracked
 * container's dealloc drops all its items' counts first, with no call in
 * the loop (so no frame), and frees the dead ones after: its items are atoms,
 * which free nothing else, so the order cannot matter. */
static inline bool ro_drop_ref(ro_object *x)
{
    return x->ob_refcnt != RO_IMMORTAL && --x->ob_refcnt == 0;
}

/* Free the n objects in dead, whose counts ro_drop_ref took to zero, as
 * ro_decref would. */
static inline void ro_dealloc_dead(ro_state *rt, ro_object *const *dead, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ro_object *x = dead[i];
        if (x->ob_type->tp_flags & RO_TPFLAG_WRAPPED)
            ro_dealloc(rt, x);
        else
            x->ob_type->tp_dealloc(rt, x);
    }
}

/* The big-container forms (object.c). ro_dealloc_dead_many frees up to
 * RO_DEAD_CHUNK dead objects as ro_dealloc_dead does, but compact ints and
 * floats, once their free lists are full, go back to their pools together
 * (ro_mem_free_many). ro_drop_atoms drops one reference to each of n objects
 * (the items of an untracked container: atoms, unless it is a deep one
 * drained from rt->trash) and frees the dead a chunk at a time; one at count
 * 1 is held by nothing else, so no other dealloc can reach it first. */
#define RO_DEAD_CHUNK 256
void ro_dealloc_dead_many(ro_state *rt, ro_object *const *dead, size_t n);
void ro_drop_atoms(ro_state *rt, ro_object *const *items, size_t n);

/* Blocks gathered to go back together, a run of one pool at a time (as
 * ro_mem_free_many does), for frees that come one by one but in allocation
 * order, such as a collection's garbage. Up to RO_FREEBATCH_LANES size
 * classes at once, a lane each: a block of another class takes the oldest
 * lane over (its run goes back first). A lane holds the run of blocks of
 * one pool that arrived in a row; a block of another pool sends the run
 * back, so a pool whose blocks arrive together empties in one piece with no
 * link written. A block's bytes leave the statistics when it is added;
 * large blocks go back at once. */
/* More blocks than a pool holds: a run's blocks stay allocated until it goes
 * back, so no block of its pool can come again to the same run. */
#define RO_FREEBATCH_MAX (RO_POOL_SIZE / RO_ALIGN)
#define RO_FREEBATCH_LANES 4
#define RO_FREELANE_NONE UINT32_MAX
typedef struct ro_freelane {
    uint32_t cls;               /* size class, or RO_FREELANE_NONE */
    uint32_t n;                 /* blocks of the run */
    ro_pool *pool;              /* the run's pool, or NULL */
    void *blocks[RO_FREEBATCH_MAX];
} ro_freelane;

typedef struct ro_freebatch {
    ro_freelane *lane_of[RO_NCLASSES];  /* lane holding each class, or NULL */
    unsigned victim;                    /* next lane to take over */
    ro_freelane lanes[RO_FREEBATCH_LANES];
} ro_freebatch;

/* Out of line (alloc.c): give a lane to class c; send a lane's run back and
 * start one in pool p (NULL: none); send every run back. */
ro_freelane *ro_freebatch_lane(ro_state *rt, ro_freebatch *b, unsigned c);
void ro_freebatch_run(ro_state *rt, ro_freelane *lane, ro_pool *p);
void ro_freebatch_flush(ro_state *rt, ro_freebatch *b);

static inline void ro_freebatch_init(ro_freebatch *b)
{
    memset(b->lane_of, 0, sizeof b->lane_of);
    b->victim = 0;
    for (unsigned l = 0; l < RO_FREEBATCH_LANES; l++) {
        b->lanes[l].cls = RO_FREELANE_NONE;
        b->lanes[l].n = 0;
        b->lanes[l].pool = NULL;
    }
}

static inline void ro_freebatch_add(ro_state *rt, ro_freebatch *b, void *block, size_t size)
{
    if (RO_UNLIKELY(size - 1 >= RO_SMALL_MAX)) {
        ro_mem_free(rt, block, size);
        return;
    }
    unsigned c = RO_CLASS_OF(size);
    ro_freelane *ln = b->lane_of[c];
    if (RO_UNLIKELY(ln == NULL))
        ln = ro_freebatch_lane(rt, b, c);
    ro_pool *p = RO_POOL_OF(block);
    if (RO_UNLIKELY(p != ln->pool))
        ro_freebatch_run(rt, ln, p);
    rt->mem.st.bytes_in_use -= size;
    ln->blocks[ln->n++] = block;
}

/* Free every container deferred to rt->trash (object.c). */
void ro_dealloc_trash(ro_state *rt);

/* Returns false when o was deferred to rt->trash (too deep): the dealloc
 * returns at once, and runs again from the outermost one. Otherwise o is
 * untracked, and *nested says whether ro_container_dealloc_end must unwind. */
static inline bool ro_container_dealloc_begin(ro_state *rt, ro_object *o, bool *nested)
{
    *nested = false;
    if (RO_GC_HEAD(o)->gc_next == NULL)
        return true;
    ro_gc_untrack(rt, o);
    if (RO_UNLIKELY(rt->dealloc_depth >= RO_DEALLOC_DEPTH_MAX)) {
        ro_gchead *g = RO_GC_HEAD(o);
        g->gc_next = rt->trash;     /* gc_prev stays NULL: "not tracked" */
        rt->trash = g;
        return false;
    }
    rt->dealloc_depth++;
    *nested = true;
    return true;
}

static inline void ro_container_dealloc_end(ro_state *rt, bool nested)
{
    if (nested && --rt->dealloc_depth == 0 && rt->trash != NULL)
        ro_dealloc_trash(rt);
}

/* ------------------------------------------------------------- helpers */

/* 10^0 .. 10^19, every power of ten a uint64_t holds. Defined here, not in
 * one file, so that a division by an entry the compiler can see is one by a
 * constant (a multiply), not a divide instruction. */
static const uint64_t ro_pow10[20] = {
    1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull,
    1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull,
    100000000000000ull, 1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
    1000000000000000000ull, 10000000000000000000ull,
};
/* "00" "01" ... "99": two decimal digits a lookup (int.c). */
extern const char ro_digit_pairs[201];

/* Write u, which has exactly n decimal digits (n >= 1), at out[0..n),
 * from the end, two digits a division. */
static inline void ro_write_digits(uint64_t u, size_t n, char *out)
{
    char *p = out + n;
    /* The last eight digits of a longer number with 32-bit arithmetic (a
     * division by 100 of a 32-bit value is one 32-bit multiply), the rest
     * as below. */
    if (u >= 100000000) {
        uint32_t lo = (uint32_t)(u % 100000000);
        u /= 100000000;
        for (int i = 0; i < 4; i++) {
            uint32_t r = lo % 100;
            lo /= 100;
            p -= 2;
            memcpy(p, ro_digit_pairs + 2 * r, 2);
        }
    }
    while (u >= 100) {
        unsigned r = (unsigned)(u % 100);
        u /= 100;
        p -= 2;
        memcpy(p, ro_digit_pairs + 2 * r, 2);
    }
    if (u >= 10)
        memcpy(p - 2, ro_digit_pairs + 2 * u, 2);
    else
        p[-1] = (char)('0' + u);
}

void ro_log(ro_state *rt, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));


void ro_types_init(ro_state *rt);
void ro_type_init_common(ro_state *rt, ro_type *t, ro_kind kind, const char *name,
                         size_t basicsize, size_t itemsize, uint32_t flags);

void ro_singletons_init(ro_state *rt);
int ro_intern_init(ro_state *rt);
void ro_intern_fini(ro_state *rt);
void ro_files_fini(ro_state *rt);

/* Type setup for each built-in, one per file. */
void ro_type_init_int(ro_state *rt, ro_type *t);
void ro_type_init_float(ro_state *rt, ro_type *t);
void ro_type_init_str(ro_state *rt, ro_type *t);
void ro_type_init_bytes(ro_state *rt, ro_type *t);
void ro_type_init_tuple(ro_state *rt, ro_type *t);
void ro_type_init_list(ro_state *rt, ro_type *t);
void ro_type_init_dict(ro_state *rt, ro_type *t);
void ro_type_init_file(ro_state *rt, ro_type *t);
void ro_type_init_singletons(ro_state *rt);

/* Keyed hashing (SipHash-1-3 with the runtime's key). */
uint64_t ro_hash_bytes(const ro_state *rt, const void *data, size_t n);
uint64_t ro_siphash(uint64_t k0, uint64_t k1, int crounds, int drounds, const void *data, size_t n);
uint64_t ro_hash_i64(int64_t v);
uint64_t ro_hash_double(double v);
/* ro_format_double by printf and strtod alone (float.c): the slow path the
 * fast ones must agree with, for the tests. */
size_t ro_format_double_printf(double v, char *out);


/* Collector link maintenance (gc.c). */
void ro_gc_init(ro_state *rt);
/* The part of ro_gc_after_alloc past the threshold: collect if enabled (gc.c). */
void ro_gc_threshold_passed(ro_state *rt);
/* A container was created: collect if generation 0 passed its threshold
 * (ro_gc_track counts). Call once the object is complete. */
static inline void ro_gc_after_alloc(ro_state *rt)
{
    if (RO_UNLIKELY(rt->gc_pending))
        ro_gc_threshold_passed(rt);
}
int64_t ro_gc_collect_reason(ro_state *rt, int generation, int reason, ro_gc_report *report);
int ro_sbuf_vappendf(ro_state *rt, ro_sbuf *b, const char *fmt, va_list ap);
int ro_repr_into(ro_state *rt, ro_object *o, ro_sbuf *b);
int ro_repr_str_into(ro_state *rt, const ro_object *s, ro_sbuf *b);

int64_t ro_now_ns(void);           /* CLOCK_MONOTONIC */
int64_t ro_realtime_ns(void);      /* CLOCK_REALTIME */

#endif /* RECLAIMD_RO_INTERNAL_H */
