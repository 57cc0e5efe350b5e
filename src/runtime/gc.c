/* gc.c - generational cycle collector: tracking, thresholds, the gc_refs algorithm. */
#include "ro_internal.h"

/*
 * Tracked containers live on the circular lists gens[0..2]. A collection of
 * generation g merges the younger lists into gens[g] ("young") and then:
 *
 *  1. update_refs:   gc_refs = ob_refcnt and COLLECTING for each object in young.
 *  2. subtract_refs: for each object, every reference it holds to another
 *                    COLLECTING object decrements that object's gc_refs.
 *                    Now gc_refs counts only references from outside young.
 *  3. move_unreachable: scan young in order; an object with gc_refs > 0 is
 *                    reachable, and its referents get gc_refs >= 1 (and are
 *                    moved back from the unreachable list if they were put
 *                    there); an object still at 0 moves, tentatively, to the
 *                    unreachable list.
 *     Loop invariant: everything before the scan position in young is
 *     reachable; everything on `unreachable` has gc_refs == 0 and has not
 *     been found referenced by a reachable object yet.
 *  4. Survivors move to the next older generation.
 *  5. Finalizers run once per unreachable object (RO_GCF_FINALIZED). If any
 *     ran, steps 1-3 are repeated on the unreachable set: whatever a finalizer
 *     made reachable from outside (resurrected) goes back to the old generation.
 *  6. tp_clear on each object still unreachable breaks the cycles; reference
 *     counting frees them. Objects still alive after their clear are
 *     uncollectable: they go to the garbage list (which keeps them alive).
 *
 * Shortcuts: when step 2 brings every object of the set to 0 and all of
 * them are bulk_freeable, nothing is reachable, so step 3 is one splice of
 * the whole set; garbage of bulk_freeable objects with no finalizer run
 * skips step 6 for delete_plain_garbage, which frees it in one walk; and
 * when that whole set also holds no reference leaving it (step 2 counts
 * them), that walk frees it without reading its references.
 *
 * gc_refs is meaningful only on COLLECTING objects: ob_refcnt minus internal
 * references (>= 0), then >= 1 once known reachable. COLLECTING is cleared as
 * soon as an object is scanned as reachable (step 3) or cleared (step 6), so
 * after step 3 the garbage is exactly what still has it.
 */

static const uint32_t default_threshold[RO_GC_NGENS] = {700, 10, 10};

/* --------------------------------------------------------- list helpers */

static void list_init(ro_gchead *h)
{
    h->gc_next = h->gc_prev = h;
}

static bool list_empty(const ro_gchead *h)
{
    return h->gc_next == h;
}

static void list_append(ro_gchead *g, ro_gchead *h)
{
    g->gc_next = h;
    g->gc_prev = h->gc_prev;
    h->gc_prev->gc_next = g;
    h->gc_prev = g;
}

static void list_remove(ro_gchead *g)
{
    g->gc_prev->gc_next = g->gc_next;
    g->gc_next->gc_prev = g->gc_prev;
}

static void list_move(ro_gchead *g, ro_gchead *to)
{
    list_remove(g);
    list_append(g, to);
}

/* Move the segment first..last (linked, first to last, on one list) to the
 * end of list to. */
static void list_splice(ro_gchead *first, ro_gchead *last, ro_gchead *to)
{
    ro_gchead *before = first->gc_prev, *after = last->gc_next, *tail = to->gc_prev;
    before->gc_next = after;
    after->gc_prev = before;
    tail->gc_next = first;
    first->gc_prev = tail;
    last->gc_next = to;
    to->gc_prev = last;
}

/* Append every element of from to to; from becomes empty (splicing all of
 * it out leaves the sentinel linked to itself). */
static void list_merge(ro_gchead *from, ro_gchead *to)
{
    if (!list_empty(from))
        list_splice(from->gc_next, from->gc_prev, to);
}

static uint64_t list_size(const ro_gchead *h)
{
    uint64_t n = 0;
    for (const ro_gchead *g = h->gc_next; g != h; g = g->gc_next)
        n++;
    return n;
}

/* ------------------------------------------------------------ tracking */

void ro_gc_init(ro_state *rt)
{
    for (int i = 0; i < RO_GC_NGENS; i++) {
        list_init(&rt->gens[i].head);
        rt->gens[i].count = 0;
        rt->gens[i].threshold = default_threshold[i];
    }
    rt->gc_enabled = true;
}

int ro_gc_is_tracked(const ro_object *o)
{
    return (o->ob_type->tp_flags & RO_TPFLAG_GC) && RO_GC_HEAD(o)->gc_next != NULL;
}

static void collect_generations(ro_state *rt);

void ro_gc_threshold_passed(ro_state *rt)
{
    if (rt->gc_collecting)
        return;                     /* it resets the counts when done */
    rt->gc_pending = false;
    if (rt->gens[0].threshold != 0 && rt->gc_enabled && rt->gens[0].count > rt->gens[0].threshold)
        collect_generations(rt);
}

/* ------------------------------------------------------ the algorithm */

/* tp_traverse, with the built-in containers' loops inlined into each pass of
 * the collector, so that their visits inline too: no call per reference. The
 * collector's visitors never stop a traversal. Returns whether o is freed
 * in bulk when garbage (bulk_freeable). A list's items are never NULL
 * (nothing stores NULL in one); a tuple's are until the tuple is filled. */
static inline __attribute__((always_inline)) bool traverse(ro_object *o, ro_visit_fn visit, void *arg)
{
    switch (o->ob_type->tp_kind) {
    case RO_K_LIST: {
        ro_object **items = ((ro_list *)o)->l_items;
        for (size_t i = 0, n = RO_SIZE(o); i < n; i++)
            visit(items[i], arg);
        return true;
    }
    case RO_K_TUPLE: {
        ro_object **items = ((ro_tuple *)o)->t_items;
        for (size_t i = 0, n = RO_SIZE(o); i < n; i++)
            if (items[i] != NULL)
                visit(items[i], arg);
        return true;
    }
    case RO_K_DICT: {
        const ro_dict *d = (const ro_dict *)o;
        for (size_t i = 0, n = d->d_nentries; i < n; i++) {
            const ro_dict_entry *e = &d->d_entries[i];
            if (e->e_key != NULL) {
                visit(e->e_key, arg);
                if (e->e_value != NULL)
                    visit(e->e_value, arg);
            }
        }
        return true;
    }
    default:
        o->ob_type->tp_traverse(o, visit, arg);
        return (o->ob_type->tp_flags & RO_TPFLAG_PLAIN_CLEAR) != 0;
    }
}

static bool collecting(const ro_object *o)
{
    return (o->ob_type->tp_flags & RO_TPFLAG_GC) && (RO_GC_HEAD(o)->gc_flags & RO_GCF_COLLECTING);
}

/* Returns the number of objects in young. */
static uint64_t update_refs(ro_gchead *young)
{
    uint64_t n = 0;
    for (ro_gchead *g = young->gc_next; g != young; g = g->gc_next) {
        g->gc_refs = RO_GC_OBJ(g)->ob_refcnt;
        g->gc_flags = (g->gc_flags & RO_GCF_FINALIZED) | RO_GCF_COLLECTING;
        n++;
    }
    return n;
}

/* What the subtract pass carries: the full collection's epoch; how many
 * objects it brought to gc_refs 0 (each gets there at most once: the counts
 * only go down), so that a set found entirely at 0 needs no move pass; and
 * how many references it saw leave the set (to atoms, untracked containers,
 * objects of other generations), so that garbage with none needs no walk
 * over its references to be freed. */
typedef struct subtract_ctx {
    uint32_t epoch;
    uint64_t zeros;
    uint64_t out;
} subtract_ctx;

static inline __attribute__((always_inline)) int visit_decref(ro_object *o, void *arg)
{
    subtract_ctx *sc = arg;
    if (collecting(o)) {
        ro_gchead *g = RO_GC_HEAD(o);
        assert(g->gc_refs > 0 && "a traverse visited a reference it does not own");
        sc->zeros += --g->gc_refs == 0;
    } else {
        sc->out++;
    }
    return 0;
}

/* Returns how many objects of young are not bulk_freeable. */
static uint64_t subtract_refs(ro_gchead *young, subtract_ctx *sc)
{
    uint64_t foreign = 0;
    for (ro_gchead *g = young->gc_next; g != young; g = g->gc_next) {
        ro_object *o = RO_GC_OBJ(g);
        foreign += !traverse(o, visit_decref, sc);
    }
    return foreign;
}

/* What move_unreachable's traversals need: where rescued objects go, and
 * the count of objects on the unreachable list. */
typedef struct reach {
    ro_gchead *young;
    uint64_t unreachable_n; /* objects taken back off the unreachable list */
    uint64_t foreign_n;     /* of those, objects that are not bulk_freeable */
} reach;

/* Built-in lists, dicts and tuples, and heap types that promise a plain
 * clear (RO_TPFLAG_PLAIN_CLEAR): each drops exactly the references it
 * reports, and delete_plain_garbage knows how to free them. */
static bool bulk_freeable(const ro_object *o)
{
    return (o->ob_type->tp_flags & (RO_TPFLAG_OWN_DEALLOC | RO_TPFLAG_PLAIN_CLEAR)) != 0;
}

static int visit_reachable(ro_object *o, void *arg)
{
    if (!collecting(o))
        return 0;
    reach *rc = arg;
    ro_gchead *g = RO_GC_HEAD(o);
    if (g->gc_flags & RO_GCF_UNREACHABLE) {
        /* Scanned already and found at 0, but something reachable holds it:
         * back to young, behind the scan position, to be scanned again. */
        g->gc_flags &= ~RO_GCF_UNREACHABLE;
        list_move(g, rc->young);
        rc->unreachable_n++;
        rc->foreign_n += !bulk_freeable(o);
        g->gc_refs = 1;
    } else if (g->gc_refs == 0) {
        g->gc_refs = 1;          /* ahead of the scan: will be seen as reachable */
    }
    return 0;
}

/* Returns how many objects ended on unreachable, and in *foreign how many of
 * those are not bulk_freeable (counted when count_foreign is set, else
 * known to be 0). They keep UNREACHABLE (and COLLECTING)
 * until the garbage is deleted, or a second update_refs resets their flags:
 * nothing else reads it, so no pass clears it. */
static inline __attribute__((always_inline)) uint64_t move_unreachable(ro_gchead *young, ro_gchead *unreachable,
                                                                        bool count_foreign, uint64_t *foreign)
{
    reach rc = {young, 0, 0};       /* rc counts the rescued, the loop the found */
    uint64_t found = 0, found_foreign = 0;
    ro_gchead *g = young->gc_next, *run = NULL;
    /* Objects found at 0 wait in place, a run of neighbours at a time, and
     * move to unreachable together (one splice, not one unlink and append
     * each) before anything is traversed: visit_reachable then only ever
     * rescues objects that are on the unreachable list. */
    while (g != young) {
        if (g->gc_refs > 0) {
            if (run != NULL) {
                list_splice(run, g->gc_prev, unreachable);
                run = NULL;
            }
            ro_object *o = RO_GC_OBJ(g);
            traverse(o, visit_reachable, &rc);
            /* Known reachable and scanned: out of the collecting set, so
             * later visits skip it and no separate pass clears the flag. */
            g->gc_flags &= RO_GCF_FINALIZED;
        } else {
            g->gc_flags |= RO_GCF_UNREACHABLE;
            found++;
            if (count_foreign)
                found_foreign += !bulk_freeable(RO_GC_OBJ(g));
            if (run == NULL)
                run = g;
        }
        g = g->gc_next;
    }
    if (run != NULL)
        list_splice(run, young->gc_prev, unreachable);
    *foreign = found_foreign - rc.foreign_n;
    return found - rc.unreachable_n;
}

/* Full collections: every tracked object is in the set, so membership is
 * "tracked", and gc_refs can be initialised on first touch instead of in a
 * separate pass (one memory pass fewer over the whole heap). An object's
 * epoch bits say which full collection initialised it; 0 (never) and stale
 * epochs both mean "not yet". Every live tracked object is touched by every
 * full collection, so an epoch can only be stale by one, never by a wrap. */
static inline void lazy_init(ro_gchead *g, uint32_t epoch)
{
    if ((g->gc_flags >> RO_GCF_EPOCH_SHIFT) != epoch) {
        g->gc_refs = RO_GC_OBJ(g)->ob_refcnt;
        g->gc_flags = (g->gc_flags & RO_GCF_FINALIZED) | RO_GCF_COLLECTING | (epoch << RO_GCF_EPOCH_SHIFT);
    }
}

static inline __attribute__((always_inline)) int visit_decref_full(ro_object *o, void *arg)
{
    subtract_ctx *sc = arg;
    if (o->ob_type->tp_flags & RO_TPFLAG_GC) {
        ro_gchead *g = RO_GC_HEAD(o);
        if (g->gc_next == NULL) {
            sc->out++;                     /* not tracked: not in the set */
            return 0;
        }
        lazy_init(g, sc->epoch);
        assert(g->gc_refs > 0 && "a traverse visited a reference it does not own");
        sc->zeros += --g->gc_refs == 0;
    } else {
        sc->out++;
    }
    return 0;
}

/* Returns how many objects all holds; *foreign, how many of them are not
 * bulk_freeable. */
static uint64_t subtract_refs_full(ro_gchead *all, subtract_ctx *sc, uint64_t *foreign)
{
    uint64_t n = 0, f = 0;
    for (ro_gchead *g = all->gc_next; g != all; g = g->gc_next, n++) {
        __builtin_prefetch(g->gc_next->gc_next);
        lazy_init(g, sc->epoch);
        ro_object *o = RO_GC_OBJ(g);
        f += !traverse(o, visit_decref_full, sc);
    }
    *foreign = f;
    return n;
}

/* Steps 1-3 on base: base keeps the reachable (no longer COLLECTING), the
 * rest moves to unreachable (still COLLECTING; UNREACHABLE too unless the
 * whole set moved in one splice). *closed: the whole set is garbage, all
 * bulk_freeable, and none of its references leaves it. Returns how many
 * objects base held. */
static uint64_t deduce_unreachable(ro_gchead *base, ro_gchead *unreachable, uint64_t *n_unreachable,
                                   uint64_t *n_foreign, bool *closed, uint32_t full_epoch)
{
    uint64_t n, foreign;
    subtract_ctx sc = {full_epoch, 0, 0};
    *closed = false;
    if (full_epoch != 0) {
        n = subtract_refs_full(base, &sc, &foreign);
    } else {
        n = update_refs(base);
        foreign = subtract_refs(base, &sc);
    }
    if (sc.zeros == n && foreign == 0) {
        /* Nothing is held from outside the set, so none of it is reachable:
         * all of it is garbage, for the bulk free (which tells membership by
         * COLLECTING alone), and the move pass would learn nothing. */
        list_merge(base, unreachable);
        *n_unreachable = n;
        *n_foreign = 0;
        *closed = sc.out == 0;
        return n;
    }
    /* With none in base, none can be among the unreachable. */
    if (foreign == 0)
        *n_unreachable = move_unreachable(base, unreachable, false, n_foreign);
    else
        *n_unreachable = move_unreachable(base, unreachable, true, n_foreign);
    return n;
}

/* Run each pending finalizer once. Objects move to `seen` as they are
 * handled, so a finalizer that frees objects cannot derail the walk. */
static uint64_t finalize_garbage(ro_state *rt, ro_gchead *unreachable)
{
    ro_gchead seen;
    uint64_t n = 0;
    /* Most garbage has no finalizer to run. With no finalizable object alive
     * at all there is nothing to walk; otherwise find out with a read-only
     * walk before paying for moving every object. */
    if (rt->finalizable_live == 0)
        return 0;
    ro_gchead *g0 = unreachable->gc_next;
    while (g0 != unreachable &&
           (RO_GC_OBJ(g0)->ob_type->tp_finalize == NULL || (g0->gc_flags & RO_GCF_FINALIZED)))
        g0 = g0->gc_next;
    if (g0 == unreachable)
        return 0;
    list_init(&seen);
    while (!list_empty(unreachable)) {
        ro_gchead *g = unreachable->gc_next;
        list_move(g, &seen);
        ro_object *o = RO_GC_OBJ(g);
        ro_finalize_fn fin = o->ob_type->tp_finalize;
        if (fin == NULL || (g->gc_flags & RO_GCF_FINALIZED))
            continue;
        g->gc_flags |= RO_GCF_FINALIZED;
        ro_incref(o);
        fin(rt, o);
        ro_decref(rt, o);
        n++;
    }
    list_merge(&seen, unreachable);
    return n;
}

static int garbage_append(ro_state *rt, ro_object *o)
{
    if (rt->gc_garbage == NULL) {
        rt->gc_garbage = ro_list_new(rt, 0);
        if (rt->gc_garbage == NULL)
            return -1;
    }
    return ro_list_append(rt, rt->gc_garbage, o);
}

/* Break the cycles with tp_clear. Returns how many objects could not be
 * freed: those move to `old`, kept alive by the garbage list. */
static uint64_t delete_garbage(ro_state *rt, ro_gchead *unreachable, ro_gchead *old)
{
    ro_gchead parked;
    uint64_t uncollectable = 0;
    list_init(&parked);
    while (!list_empty(unreachable)) {
        ro_gchead *g = unreachable->gc_next;
        ro_object *o = RO_GC_OBJ(g);
        g->gc_flags &= RO_GCF_FINALIZED;   /* no longer being collected */
        ro_clear_fn clear = o->ob_type->tp_clear;
        ro_incref(o);
        if (clear != NULL)
            clear(rt, o);
        /* Still referenced after its clear: a later clear in this set may
         * free it (it then leaves `parked` by itself), or nothing can. */
        if (o->ob_refcnt > 1)
            list_move(g, &parked);
        ro_decref(rt, o);
    }
    /* What is still parked survived the clearing of its whole set. */
    for (ro_gchead *g = parked.gc_next; g != &parked; g = g->gc_next) {
        uncollectable++;
        if (garbage_append(rt, RO_GC_OBJ(g)) != 0)
            ro_err_clear(rt);   /* still counted and kept tracked: not lost */
    }
    list_merge(&parked, old);
    return uncollectable;
}

/* Garbage made only of objects whose clear is plain - built-in containers,
 * and heap types that promise it (bulk_freeable) - with no finalizer run,
 * needs neither clears nor the decref/dealloc chain they set off. One walk over the
 * set, in order, drops every object's references: one to an object outside
 * the set is an ordinary decref (it may free that object, which cannot reach
 * back: anything that refers to garbage is garbage); one to garbage only
 * lowers its count. A garbage object is freed once both its count is zero
 * (every reference to it is dropped) and its own references are dropped
 * (its gc_refs set to 1): whichever comes second frees it. So no freed
 * block is ever read, and the whole set goes in one pass over memory. */
typedef struct drop_ctx {
    ro_state *rt;
    ro_freebatch blocks;          /* they go back in pool runs */
    uint64_t freed;
} drop_ctx;

static inline __attribute__((always_inline)) void free_garbage_object(drop_ctx *c, ro_object *o)
{
    ro_gc_blocks b;
    ro_type *heap = NULL;
    switch (o->ob_type->tp_kind) {
    case RO_K_LIST:
        ro_list_gc_blocks(o, &b);
        break;
    case RO_K_DICT:
        ro_dict_gc_blocks(o, &b);
        break;
    case RO_K_TUPLE:
        ro_tuple_gc_blocks(o, &b);
        break;
    default:            /* a heap type with a plain clear: one block, and a reference to its type */
        heap = o->ob_type;
        b.obj_size = sizeof(ro_gchead) + ro_object_sizeof(o);
        b.storage = NULL;
        break;
    }
    if (b.storage != NULL)
        ro_freebatch_add(c->rt, &c->blocks, b.storage, b.storage_size);
    ro_freebatch_add(c->rt, &c->blocks, RO_GC_HEAD(o), b.obj_size);
    if (heap != NULL)
        ro_decref(c->rt, RO_OBJ(heap));     /* the last instance may take the type with it */
    c->freed++;
}

/* In the garbage set: COLLECTING (the move pass cleared it on everything it
 * found reachable; objects outside the set never have it). Handled: gc_refs
 * set to 1 (it is 0 on all garbage). */
static inline __attribute__((always_inline)) int visit_drop(ro_object *o, void *arg)
{
    drop_ctx *c = arg;
    if ((o->ob_type->tp_flags & RO_TPFLAG_GC) && (RO_GC_HEAD(o)->gc_flags & RO_GCF_COLLECTING)) {
        if (--o->ob_refcnt == 0 && RO_GC_HEAD(o)->gc_refs != 0)
            free_garbage_object(c, o);
    } else {
        ro_decref(c->rt, o);
    }
    return 0;
}

/* closed: the garbage was found by the subtract pass alone and holds no
 * reference leaving it (deduce_unreachable's *closed): every reference its
 * objects hold is to another of them and every reference to them is from
 * another of them, so nothing outside loses a reference and each object
 * goes as the walk reaches it, its references never read (the subtract
 * pass has checked the counts: each gc_refs went from its reference count
 * to zero). Always inlined, so each caller's walk has one of the two. */
static inline __attribute__((always_inline)) void delete_plain_garbage(ro_state *rt, ro_gchead *unreachable,
                                                                       uint64_t n, bool closed)
{
    drop_ctx c;                   /* not zeroed whole: the lanes' block arrays are 32 KiB */
    c.rt = rt;
    c.freed = 0;
    ro_freebatch_init(&c.blocks);
    ro_mem_hold_release(rt);
    ro_gchead *g = unreachable->gc_next;
    while (g != unreachable) {
        /* What follows g is not freed while g is handled: only objects
         * whose references are dropped already, which precede it, are. */
        ro_gchead *next = g->gc_next;
        __builtin_prefetch(next->gc_next);
        ro_object *o = RO_GC_OBJ(g);
        assert(g->gc_refs == 0 && (g->gc_flags & RO_GCF_COLLECTING));
        if (closed) {
            free_garbage_object(&c, o);
        } else {
            traverse(o, visit_drop, &c);
            g->gc_refs = 1;
            if (o->ob_refcnt == 0)
                free_garbage_object(&c, o);
        }
        g = next;
    }
    /* Generation 0's count is not decremented per object: the collection
     * zeroes it when it ends. */
    ro_freebatch_flush(rt, &c.blocks);
    ro_mem_resume_release(rt);
    assert(c.freed == n && "garbage left alive after its references were dropped");
    list_init(unreachable);
    rt->gc_tracked -= n;
}

int64_t ro_gc_collect_reason(ro_state *rt, int generation, int reason, ro_gc_report *out)
{
    if (generation < 0 || generation >= RO_GC_NGENS) {
        ro_err_set(rt, RO_E_VALUE, "generation must be 0..%d, not %d", RO_GC_NGENS - 1, generation);
        return -1;
    }
    if (rt->gc_collecting) {
        ro_err_set(rt, RO_E_RUNTIME, "collection requested while one is running");
        return -1;
    }
    rt->gc_collecting = true;
    int64_t t0 = ro_now_ns();
    ro_gc_report r = {.generation = generation, .reason = reason};
    uint64_t unmapped0 = rt->mem.st.arenas_unmapped_total;
    uint64_t unclosed0 = rt->files_unclosed;

    for (int i = 0; i < generation; i++)
        list_merge(&rt->gens[i].head, &rt->gens[generation].head);
    ro_gchead *young = &rt->gens[generation].head;
    ro_gchead *old = generation + 1 < RO_GC_NGENS ? &rt->gens[generation + 1].head : young;

    ro_gchead unreachable;
    uint64_t doomed, foreign;
    list_init(&unreachable);
    uint32_t epoch = 0;
    if (generation == RO_GC_NGENS - 1) {
        rt->gc_epoch = rt->gc_epoch + 1 < (1u << (32 - RO_GCF_EPOCH_SHIFT)) ? rt->gc_epoch + 1 : 1;
        epoch = rt->gc_epoch;
    }
    bool closed;
    r.examined = deduce_unreachable(young, &unreachable, &doomed, &foreign, &closed, epoch);
    uint64_t survivors = r.examined - doomed;
    if (young != old) {
        list_merge(young, old);
        if (generation == RO_GC_NGENS - 2)
            rt->gc_long_lived_pending += survivors;
    } else {
        rt->gc_long_lived_pending = 0;
        rt->gc_long_lived_total = survivors;
    }

    r.finalized = finalize_garbage(rt, &unreachable);
    if (r.finalized != 0) {
        /* A finalizer may have stored a reference to garbage somewhere live:
         * run steps 1-3 again on the garbage; what is reachable now survives. */
        ro_gchead still;
        list_init(&still);
        uint64_t n = deduce_unreachable(&unreachable, &still, &doomed, &foreign, &closed, 0);
        r.resurrected = n - doomed;
        list_merge(&unreachable, old);
        list_merge(&still, &unreachable);
    }
    r.files_closed = rt->files_unclosed - unclosed0;
    if (foreign == 0 && r.finalized == 0 && closed)
        delete_plain_garbage(rt, &unreachable, doomed, true);
    else if (foreign == 0 && r.finalized == 0)
        delete_plain_garbage(rt, &unreachable, doomed, false);
    else
        r.uncollectable = delete_garbage(rt, &unreachable, old);
    r.collected = doomed - r.uncollectable;

    /* Counters: this generation starts over, the next one saw a collection. */
    for (int i = 0; i <= generation; i++)
        rt->gens[i].count = 0;
    rt->gc_pending = false;
    if (generation + 1 < RO_GC_NGENS)
        rt->gens[generation + 1].count++;

    if (generation == RO_GC_NGENS - 1) {
        r.freelist_freed = ro_freelists_clear(rt);
        r.interned_dropped = ro_str_intern_prune(rt);
        r.bytes_released = ro_mem_release(rt);
        r.arenas_released = rt->mem.st.arenas_unmapped_total - unmapped0;
    }
    r.pause_ns = ro_now_ns() - t0;
    ro_gc_genstats *st = &rt->gc_stats[generation];
    st->collections++;
    st->collected += r.collected;
    st->uncollectable += r.uncollectable;
    st->pause_ns_total += r.pause_ns;
    rt->gc_collecting = false;
    if (out != NULL)
        *out = r;
    if (rt->gc_callback != NULL)
        rt->gc_callback(rt->gc_callback_ud, &r);
    return (int64_t)r.collected;
}

int64_t ro_gc_collect(ro_state *rt, int generation, ro_gc_report *report)
{
    return ro_gc_collect_reason(rt, generation, RO_GC_REASON_EXPLICIT, report);
}

/* Collect the oldest generation whose counter passed its threshold. A full
 * collection also waits until the objects promoted since the last one are a
 * quarter of those that survived it, so a growing heap is not rescanned in
 * full at every step (quadratic), as in CPython. */
static void collect_generations(ro_state *rt)
{
    for (int i = RO_GC_NGENS - 1; i >= 0; i--) {
        if (rt->gens[i].count > rt->gens[i].threshold) {
            if (i == RO_GC_NGENS - 1 && rt->gc_long_lived_pending < rt->gc_long_lived_total / 4)
                continue;
            ro_gc_collect_reason(rt, i, RO_GC_REASON_AUTO, NULL);
            return;
        }
    }
}

/* ------------------------------------------------------------- control */

/* Whether generation 0 is over its threshold with automatic collection on. */
static void update_pending(ro_state *rt)
{
    rt->gc_pending = rt->gc_enabled && rt->gens[0].threshold != 0 && rt->gens[0].count > rt->gens[0].threshold;
}

void ro_gc_enable(ro_state *rt)
{
    rt->gc_enabled = true;
    update_pending(rt);
}

void ro_gc_disable(ro_state *rt) { rt->gc_enabled = false; }
int ro_gc_is_enabled(const ro_state *rt) { return rt->gc_enabled; }

void ro_gc_set_threshold(ro_state *rt, uint32_t t0, uint32_t t1, uint32_t t2)
{
    rt->gens[0].threshold = t0;
    rt->gens[1].threshold = t1;
    rt->gens[2].threshold = t2;
    update_pending(rt);
}

uint32_t ro_gc_get_threshold(const ro_state *rt, int generation)
{
    return generation >= 0 && generation < RO_GC_NGENS ? rt->gens[generation].threshold : 0;
}

uint64_t ro_gc_get_count(const ro_state *rt, int generation)
{
    return generation >= 0 && generation < RO_GC_NGENS ? rt->gens[generation].count : 0;
}

uint64_t ro_gc_generation_size(const ro_state *rt, int generation)
{
    return generation >= 0 && generation < RO_GC_NGENS ? list_size(&rt->gens[generation].head) : 0;
}

uint64_t ro_gc_tracked(const ro_state *rt)
{
    return rt->gc_tracked;
}

void ro_gc_get_stats(const ro_state *rt, int generation, ro_gc_genstats *out)
{
    static const ro_gc_genstats zero;
    *out = generation >= 0 && generation < RO_GC_NGENS ? rt->gc_stats[generation] : zero;
}

ro_object *ro_gc_garbage(ro_state *rt)
{
    if (rt->gc_garbage == NULL) {
        rt->gc_garbage = ro_list_new(rt, 0);
        if (rt->gc_garbage == NULL)
            return NULL;
    }
    return rt->gc_garbage;
}

void ro_gc_set_callback(ro_state *rt, ro_gc_callback fn, void *ud)
{
    rt->gc_callback = fn;
    rt->gc_callback_ud = ud;
}
