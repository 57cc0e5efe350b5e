/* list.c - mutable growable sequences (containers). */
#include "ro_internal.h"

#include <string.h>

static void items_free(ro_state *rt, ro_list *l)
{
    if (l->l_items == NULL)
        return;                     /* never grown, or emptied by a clear */
    ro_mem_free_fast(rt, l->l_items, l->l_allocated * sizeof(ro_object *));
    l->l_items = NULL;
    l->l_allocated = 0;
}

/* Park a dead list, keeping a small item array ([x] again then allocates
 * nothing), or free it when its free list is full. */
static void list_park(ro_state *rt, ro_list *l)
{
    bool keep = l->l_allocated <= RO_LIST_KEEP_ITEMS;
    if (!keep)
        items_free(rt, l);
    if (!ro_freelist_push(rt, RO_FL_LIST, RO_GC_HEAD(l))) {
        if (keep)
            items_free(rt, l);
        ro_object_free(rt, RO_OBJ(l), sizeof(ro_list));
    }
}

/* Tracked, or longer than the kept array: the general case. */
static __attribute__((noinline)) void list_dealloc_slow(ro_state *rt, ro_object *o)
{
    ro_list *l = (ro_list *)o;
    bool nested;
    if (!ro_container_dealloc_begin(rt, o, &nested))
        return;
    size_t n = RO_SIZE(o);
    RO_SIZE(o) = 0;
    if (!nested) {
        ro_drop_atoms(rt, l->l_items, n);   /* untracked: atoms, or a deep list drained from rt->trash */
    } else {
        for (size_t i = 0; i < n; i++)
            ro_decref(rt, l->l_items[i]);
    }
    list_park(rt, l);
    ro_container_dealloc_end(rt, nested);
}

/* Free the n items in dead, whose counts reached zero, then park the list. */
static __attribute__((noinline)) void list_dealloc_dead(ro_state *rt, ro_list *l, ro_object **dead, size_t n)
{
    ro_dealloc_dead(rt, dead, n);
    list_park(rt, l);
}

/* The common case without a call: an untracked list (atoms only) of at most
 * RO_LIST_KEEP_ITEMS drops its items' counts, then frees the dead ones. */
static void list_dealloc(ro_state *rt, ro_object *o)
{
    ro_list *l = (ro_list *)o;
    size_t n = RO_SIZE(o);
    if (RO_UNLIKELY(RO_GC_HEAD(o)->gc_next != NULL || l->l_allocated > RO_LIST_KEEP_ITEMS)) {
        list_dealloc_slow(rt, o);
        return;
    }
    RO_SIZE(o) = 0;
    ro_object *dead[RO_LIST_KEEP_ITEMS];
    size_t ndead = 0;
    for (size_t i = 0; i < n; i++)
        if (ro_drop_ref(l->l_items[i]))
            dead[ndead++] = l->l_items[i];
    if (ndead != 0 || !ro_freelist_push(rt, RO_FL_LIST, RO_GC_HEAD(o)))
        list_dealloc_dead(rt, l, dead, ndead);   /* (parks it, or frees it when the free list is full) */
}

void ro_list_gc_blocks(ro_object *o, ro_gc_blocks *b)
{
    ro_list *l = (ro_list *)o;
    b->obj_size = sizeof(ro_gchead) + sizeof(ro_list);
    b->storage = l->l_items;
    b->storage_size = l->l_allocated * sizeof(ro_object *);
}

void ro_list_parked_release(ro_state *rt, ro_object *o)
{
    items_free(rt, (ro_list *)o);
}

static int list_traverse(ro_object *o, ro_visit_fn visit, void *arg)
{
    ro_list *l = (ro_list *)o;
    for (size_t i = 0; i < RO_SIZE(o); i++)
        RO_VISIT(l->l_items[i], visit, arg);
    return 0;
}

void ro_list_clear_items(ro_state *rt, ro_object *o)
{
    ro_list *l = (ro_list *)o;
    ro_object **items = l->l_items;
    size_t n = RO_SIZE(o), alloc = l->l_allocated;
    /* Detach first: a dealloc below may look at this list again. */
    l->l_items = NULL;
    l->l_allocated = 0;
    RO_SIZE(o) = 0;
    for (size_t i = 0; i < n; i++)
        ro_decref(rt, items[i]);
    ro_mem_free(rt, items, alloc * sizeof(ro_object *));
}

static void list_clear(ro_state *rt, ro_object *o)
{
    ro_list_clear_items(rt, o);
}

static int list_eq(ro_state *rt, ro_object *a, ro_object *b)
{
    if (RO_SIZE(a) != RO_SIZE(b))
        return 0;
    for (size_t i = 0; i < RO_SIZE(a) && i < RO_SIZE(b); i++) {
        int r = ro_equal(rt, ((ro_list *)a)->l_items[i], ((ro_list *)b)->l_items[i]);
        if (r <= 0)
            return r;
    }
    return RO_SIZE(a) == RO_SIZE(b);
}

static int list_repr(ro_state *rt, ro_object *o, ro_sbuf *b)
{
    if (ro_sbuf_append(rt, b, "[", 1) != 0)
        return -1;
    for (size_t i = 0; i < RO_SIZE(o); i++) {
        if (i != 0 && ro_sbuf_append(rt, b, ", ", 2) != 0)
            return -1;
        if (ro_repr_into(rt, ((ro_list *)o)->l_items[i], b) != 0)
            return -1;
    }
    return ro_sbuf_append(rt, b, "]", 1);
}

void ro_type_init_list(ro_state *rt, ro_type *t)
{
    ro_type_init_common(rt, t, RO_K_LIST, "list", sizeof(ro_list), 0, RO_TPFLAG_GC | RO_TPFLAG_OWN_DEALLOC);
    t->tp_dealloc = list_dealloc;
    t->tp_traverse = list_traverse;
    t->tp_clear = list_clear;
    t->tp_eq = list_eq;
    t->tp_repr = list_repr;
}

/* Grow to hold at least need items, over-allocating by about 1/8 as CPython
 * does, so n appends cost O(n) in total; or, with exact, to hold need items
 * (a size the caller knows up front, as CPython's PyList_New). */
static int list_reserve(ro_state *rt, ro_list *l, size_t need, bool exact)
{
    if (need <= l->l_allocated)
        return 0;
    if (need > SIZE_MAX / sizeof(ro_object *) / 2) {
        ro_err_set(rt, RO_E_OVERFLOW, "list of %zu items does not fit in memory", need);
        return -1;
    }
    /* Exact sizes below four get four: a parked list keeps its array, and
     * the next list made from it (a record's next short array of tags, say)
     * then mostly fits without a realloc. */
    size_t alloc = exact ? (need < 4 ? 4 : need) : (need + (need >> 3) + 6) & ~(size_t)3;
    ro_object **items = ro_mem_realloc(rt, l->l_items, l->l_allocated * sizeof(ro_object *),
                                       alloc * sizeof(ro_object *));
    if (items == NULL)
        return -1;
    l->l_items = items;
    l->l_allocated = alloc;
    return 0;
}

/* ro_list_new, inlined into ro_list_from_array_steal too (the parser's
 * every array: a call and its frame each saved). */
static inline __attribute__((always_inline)) ro_object *list_make(ro_state *rt, size_t hint)
{
    ro_type *t = &rt->types[RO_K_LIST];
    void *parked = ro_freelist_pop(rt, RO_FL_LIST);
    ro_object *o;
    if (parked != NULL) {
        o = ro_freelist_init(parked, t, true);   /* empty, its small item array kept */
    } else {
        o = ro_object_alloc(rt, t, sizeof(ro_list), true);
        if (o == NULL)
            return NULL;
        ((ro_list *)o)->l_items = NULL;
        ((ro_list *)o)->l_allocated = 0;
    }
    ro_list *l = (ro_list *)o;
    RO_SIZE(o) = 0;
    if (hint != 0 && list_reserve(rt, l, hint, true) != 0) {
        items_free(rt, l);
        ro_object_free(rt, o, sizeof(ro_list));
        return NULL;
    }
    ro_gc_after_alloc(rt);     /* untracked until it holds a container */
    return o;
}

ro_object *ro_list_new(ro_state *rt, size_t hint)
{
    return list_make(rt, hint);
}

ro_object *ro_list_from_array_steal(ro_state *rt, ro_object *const *items, size_t n)
{
    ro_object *o = list_make(rt, n);
    if (o == NULL) {
        for (size_t i = 0; i < n; i++)
            ro_decref(rt, items[i]);
        return NULL;
    }
    ro_object **to = ((ro_list *)o)->l_items;
    uint32_t flags = 0;
    for (size_t i = 0; i < n; i++) {
        flags |= items[i]->ob_type->tp_flags;
        to[i] = items[i];
    }
    RO_SIZE(o) = n;
    if (flags & RO_TPFLAG_GC)          /* as ro_gc_track_for for each item */
        ro_gc_track(rt, o);
    return o;
}

static int check_list(ro_state *rt, ro_object *l)
{
    if (ro_is_kind(l, RO_K_LIST))
        return 0;
    ro_err_set(rt, RO_E_TYPE, "expected a list, got '%s'", l->ob_type->tp_name);
    return -1;
}

/* ro_list_append_steal when the item is NULL, o is not a list or the items
 * array is full: kept out of line so that the common case needs no frame. */
static __attribute__((noinline)) int append_slow(ro_state *rt, ro_object *o, ro_object *item)
{
    if (item == NULL)
        return -1;
    if (check_list(rt, o) != 0) {
        ro_decref(rt, item);
        return -1;
    }
    ro_list *l = (ro_list *)o;
    size_t n = RO_SIZE(o);
    if (n == l->l_allocated && list_reserve(rt, l, n + 1, false) != 0) {
        ro_decref(rt, item);
        return -1;
    }
    ro_gc_track_for(rt, o, item);
    l->l_items[n] = item;
    RO_SIZE(o) = n + 1;
    return 0;
}

int ro_list_append_steal(ro_state *rt, ro_object *o, ro_object *item)
{
    ro_list *l = (ro_list *)o;
    size_t n;
    if (RO_UNLIKELY(item == NULL || !ro_is_kind(o, RO_K_LIST) || (n = RO_SIZE(o)) == l->l_allocated))
        return append_slow(rt, o, item);
    ro_gc_track_for(rt, o, item);
    l->l_items[n] = item;
    RO_SIZE(o) = n + 1;
    return 0;
}

int ro_list_append(ro_state *rt, ro_object *l, ro_object *item)
{
    ro_incref(item);
    return ro_list_append_steal(rt, l, item);
}

ro_object *ro_list_get_item(ro_state *rt, ro_object *l, size_t i)
{
    if (check_list(rt, l) != 0)
        return NULL;
    if (i >= RO_SIZE(l)) {
        ro_err_set(rt, RO_E_INDEX, "list index %zu out of range (length %zu)", i, RO_SIZE(l));
        return NULL;
    }
    return ((ro_list *)l)->l_items[i];
}

int ro_list_set_item(ro_state *rt, ro_object *l, size_t i, ro_object *item)
{
    if (check_list(rt, l) != 0 || i >= RO_SIZE(l)) {
        if (i >= RO_SIZE(l) && ro_is_kind(l, RO_K_LIST))
            ro_err_set(rt, RO_E_INDEX, "list assignment index %zu out of range (length %zu)", i,
                       RO_SIZE(l));
        ro_xdecref(rt, item);
        return -1;
    }
    ro_gc_track_for(rt, l, item);
    ro_object **slot = &((ro_list *)l)->l_items[i];
    ro_object *old = *slot;
    *slot = item;
    ro_decref(rt, old);
    return 0;
}

ro_object *ro_list_pop(ro_state *rt, ro_object *l)
{
    if (check_list(rt, l) != 0)
        return NULL;
    if (RO_SIZE(l) == 0) {
        ro_err_set(rt, RO_E_INDEX, "pop from empty list");
        return NULL;
    }
    RO_SIZE(l)--;
    return ((ro_list *)l)->l_items[RO_SIZE(l)];
}
