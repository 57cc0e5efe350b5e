/* tuple.c - immutable fixed-size sequences (containers). */
#include "ro_internal.h"

#include <stdarg.h>
#include <stdlib.h>

#define TUPLE_SIZE(n) (offsetof(ro_tuple, t_items) + (n) * sizeof(ro_object *))

/* The general case: tracked (may hold containers, so nesting is bounded),
 * or too long for a free list. */
static __attribute__((noinline)) void tuple_dealloc_slow(ro_state *rt, ro_object *o)
{
    ro_tuple *t = (ro_tuple *)o;
    size_t n = RO_SIZE(o);
    bool nested;
    if (!ro_container_dealloc_begin(rt, o, &nested))
        return;
    for (size_t i = 0; i < n; i++)
        ro_xdecref(rt, t->t_items[i]);
    if (!(n - 1 < RO_FL_TUPLE_MAX && ro_freelist_push(rt, RO_FL_TUPLE1 + (int)n - 1, RO_GC_HEAD(o))))
        ro_object_free(rt, o, TUPLE_SIZE(n));
    ro_container_dealloc_end(rt, nested);
}

/* An untracked tuple of 1..4 items: free the ndead in dead, whose counts
 * reached zero, as ro_decref would, then park the tuple. (Its items are
 * atoms, unless it was a deep tuple deferred to rt->trash, which the drain
 * frees with the depth raised.) */
static __attribute__((noinline)) void tuple_dealloc_atoms(ro_state *rt, ro_object *o, ro_object **dead, size_t ndead)
{
    size_t n = RO_SIZE(o);
    ro_dealloc_dead(rt, dead, ndead);
    if (!ro_freelist_push(rt, RO_FL_TUPLE1 + (int)n - 1, RO_GC_HEAD(o)))
        ro_object_free(rt, o, TUPLE_SIZE(n));
}

/* The common case without a call: an untracked tuple (atoms only) drops its
 * items' counts first and frees the dead ones after (see ro_drop_ref). */
static void tuple_dealloc(ro_state *rt, ro_object *o)
{
    ro_tuple *t = (ro_tuple *)o;
    size_t n = RO_SIZE(o);
    if (RO_UNLIKELY(RO_GC_HEAD(o)->gc_next != NULL || n - 1 >= RO_FL_TUPLE_MAX)) {
        tuple_dealloc_slow(rt, o);
        return;
    }
    ro_object *dead[RO_FL_TUPLE_MAX];
    size_t ndead = 0;
    for (size_t i = 0; i < n; i++) {
        ro_object *x = t->t_items[i];
        if (x != NULL && ro_drop_ref(x))
            dead[ndead++] = x;
    }
    if (ndead != 0 || !ro_freelist_push(rt, RO_FL_TUPLE1 + (int)n - 1, RO_GC_HEAD(o)))
        tuple_dealloc_atoms(rt, o, dead, ndead);
}

void ro_tuple_gc_blocks(ro_object *o, ro_gc_blocks *b)
{
    b->obj_size = sizeof(ro_gchead) + TUPLE_SIZE(RO_SIZE(o));
    b->storage = NULL;
    b->storage_size = 0;
}

static int tuple_traverse(ro_object *o, ro_visit_fn visit, void *arg)
{
    ro_tuple *t = (ro_tuple *)o;
    for (size_t i = 0; i < RO_SIZE(o); i++)
        RO_VISIT(t->t_items[i], visit, arg);
    return 0;
}

static void tuple_clear(ro_state *rt, ro_object *o)
{
    ro_tuple *t = (ro_tuple *)o;
    for (size_t i = 0; i < RO_SIZE(o); i++)
        RO_CLEAR(rt, t->t_items[i]);
}

/* Combine item hashes as xxHash's round does (CPython 3.8+ tuples), fold
 * to 32 bits and keep that in ob_aux (0: not computed yet), so that each
 * tuple is hashed once: tuples sharing sub-tuples, ((t, t), (t, t)) and so
 * on, would otherwise cost 2^depth. Dicts hold at most 2^30 entries, so 32
 * bits of hash lose nothing there. ro_tuple_set_item forgets it. */
static int tuple_hash(ro_state *rt, ro_object *o, uint64_t *out)
{
    const uint64_t p1 = 11400714785074694791ull, p2 = 14029467366897019727ull;
    const uint64_t p5 = 2870177450012600261ull;
    if (o->ob_aux != 0) {
        *out = (uint32_t)o->ob_aux;
        return 0;
    }
    ro_tuple *t = (ro_tuple *)o;
    uint64_t acc = p5;
    for (size_t i = 0; i < RO_SIZE(o); i++) {
        uint64_t h;
        if (t->t_items[i] == NULL || ro_hash(rt, t->t_items[i], &h) != 0) {
            if (t->t_items[i] == NULL)
                ro_err_set(rt, RO_E_VALUE, "hash of a tuple with an unfilled slot");
            return -1;
        }
        acc += h * p2;
        acc = (acc << 31) | (acc >> 33);
        acc *= p1;
    }
    acc += RO_SIZE(o) ^ (p5 ^ 3527539ull);
    uint32_t h = (uint32_t)(acc ^ (acc >> 32));
    if (h == 0)
        h = 1;
    o->ob_aux = (int32_t)h;
    *out = h;
    return 0;
}

static int tuple_eq(ro_state *rt, ro_object *a, ro_object *b)
{
    if (RO_SIZE(a) != RO_SIZE(b))
        return 0;
    if (a->ob_aux != 0 && b->ob_aux != 0 && a->ob_aux != b->ob_aux)
        return 0;                   /* both hashed, differently: not equal */
    ro_tuple *x = (ro_tuple *)a, *y = (ro_tuple *)b;
    for (size_t i = 0; i < RO_SIZE(a); i++) {
        /* The same pair as the one before, just found equal: (t, t) against
         * (u, u) compares t with u once (nested, 2^depth times otherwise). */
        if (i != 0 && x->t_items[i] == x->t_items[i - 1] && y->t_items[i] == y->t_items[i - 1])
            continue;
        int r = ro_equal(rt, x->t_items[i], y->t_items[i]);
        if (r <= 0)
            return r;
    }
    return 1;
}

static int tuple_repr(ro_state *rt, ro_object *o, ro_sbuf *b)
{
    ro_tuple *t = (ro_tuple *)o;
    size_t n = RO_SIZE(o);
    if (ro_sbuf_append(rt, b, "(", 1) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (i != 0 && ro_sbuf_append(rt, b, ", ", 2) != 0)
            return -1;
        if (t->t_items[i] == NULL ? ro_sbuf_append(rt, b, "<NULL>", 6) : ro_repr_into(rt, t->t_items[i], b))
            return -1;
    }
    return ro_sbuf_append(rt, b, n == 1 ? ",)" : ")", n == 1 ? 2 : 1);
}

void ro_type_init_tuple(ro_state *rt, ro_type *t)
{
    ro_type_init_common(rt, t, RO_K_TUPLE, "tuple", offsetof(ro_tuple, t_items), sizeof(ro_object *),
                        RO_TPFLAG_GC | RO_TPFLAG_VAR | RO_TPFLAG_OWN_DEALLOC);
    t->tp_dealloc = tuple_dealloc;
    t->tp_traverse = tuple_traverse;
    t->tp_clear = tuple_clear;
    t->tp_hash = tuple_hash;
    t->tp_eq = tuple_eq;
    t->tp_repr = tuple_repr;
}

/* An n-item tuple with its items unset (the caller fills all n before any
 * other call can see it); untracked until a container is stored in it. */
static inline ro_object *tuple_alloc(ro_state *rt, size_t n)
{
    ro_object *o;
    if (RO_LIKELY(n - 1 < RO_FL_TUPLE_MAX))
        o = ro_freelist_alloc(rt, RO_FL_TUPLE1 + (int)n - 1, &rt->types[RO_K_TUPLE], TUPLE_SIZE(n), true);
    else
        o = ro_object_new(rt, &rt->types[RO_K_TUPLE], n);
    if (o != NULL)
        RO_SIZE(o) = n;
    return o;
}

ro_object *ro_tuple_new(ro_state *rt, size_t n)
{
    if (n == 0 || n > RO_FL_TUPLE_MAX)
        return ro_object_new(rt, &rt->types[RO_K_TUPLE], n);
    ro_object *o = tuple_alloc(rt, n);
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        ((ro_tuple *)o)->t_items[i] = NULL;
    ro_gc_after_alloc(rt);
    return o;
}

ro_object *ro_tuple_from_array(ro_state *rt, ro_object *const *items, size_t n)
{
    ro_object *t = n == 0 || n > RO_FL_TUPLE_MAX ? ro_tuple_new(rt, n) : tuple_alloc(rt, n);
    if (t == NULL)
        return NULL;
    bool holds_container = false;
    for (size_t i = 0; i < n; i++) {
        ro_object *item = items[i];
        ro_incref(item);
        holds_container |= (item->ob_type->tp_flags & RO_TPFLAG_GC) != 0;
        ((ro_tuple *)t)->t_items[i] = item;
    }
    if (holds_container)
        ro_gc_track(rt, t);
    if (n != 0 && n <= RO_FL_TUPLE_MAX)
        ro_gc_after_alloc(rt);      /* ro_tuple_new did it for the others */
    return t;
}

ro_object *(ro_tuple_pack)(ro_state *rt, size_t n, ...)
{
    ro_object *items[16] = {NULL}, **v = n <= 16 ? items : malloc(n * sizeof *v);
    if (v == NULL) {
        ro_err_set(rt, RO_E_NOMEM, "tuple of %zu items: out of memory", n);
        return NULL;
    }
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        v[i] = va_arg(ap, ro_object *);
    va_end(ap);
    ro_object *t = ro_tuple_from_array(rt, v, n);
    if (v != items)
        free(v);
    return t;
}

int ro_tuple_set_item(ro_state *rt, ro_object *t, size_t i, ro_object *item)
{
    if (!ro_is_kind(t, RO_K_TUPLE) || i >= RO_SIZE(t)) {
        if (item != NULL)
            ro_decref(rt, item);
        ro_err_set(rt, ro_is_kind(t, RO_K_TUPLE) ? RO_E_INDEX : RO_E_TYPE,
                   "tuple assignment index %zu out of range", i);
        return -1;
    }
    if (item != NULL)
        ro_gc_track_for(rt, t, item);
    ro_object **slot = &((ro_tuple *)t)->t_items[i];
    ro_object *old = *slot;
    *slot = item;
    t->ob_aux = 0;                  /* a hash taken before it was filled is stale */
    ro_xdecref(rt, old);
    return 0;
}

ro_object *ro_tuple_get_item(ro_state *rt, ro_object *t, size_t i)
{
    if (!ro_is_kind(t, RO_K_TUPLE)) {
        ro_err_set(rt, RO_E_TYPE, "expected a tuple, got '%s'", t->ob_type->tp_name);
        return NULL;
    }
    if (i >= RO_SIZE(t)) {
        ro_err_set(rt, RO_E_INDEX, "tuple index %zu out of range (length %zu)", i, RO_SIZE(t));
        return NULL;
    }
    return ((ro_tuple *)t)->t_items[i];
}
