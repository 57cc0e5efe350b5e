/* object.c - generic allocation and deallocation, hashing, equality, repr. */
#include "ro_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t ro_object_sizeof(const ro_object *o)
{
    const ro_type *t = o->ob_type;
    if (t->tp_kind == RO_K_INT)
        return o->ob_aux == RO_INT_BIG_MARK ? sizeof(ro_int) : sizeof(ro_object);
    if (t->tp_itemsize == 0)
        return t->tp_basicsize;
    return t->tp_basicsize + t->tp_itemsize * RO_SIZE(o);
}

ro_object *ro_object_new(ro_state *rt, ro_type *type, size_t nitems)
{
    if (type->tp_flags & RO_TPFLAG_NO_NEW) {
        ro_err_set(rt, RO_E_TYPE, "cannot create '%s' instances", type->tp_name);
        return NULL;
    }
    if (!(type->tp_flags & RO_TPFLAG_VAR) && nitems != 0) {
        ro_err_set(rt, RO_E_VALUE, "'%s' is not a variable-size type", type->tp_name);
        return NULL;
    }
    if (type->tp_itemsize != 0 && nitems > (SIZE_MAX - type->tp_basicsize) / type->tp_itemsize / 2) {
        ro_err_set(rt, RO_E_OVERFLOW, "%zu items of '%s' do not fit in memory", nitems, type->tp_name);
        return NULL;
    }
    size_t size = type->tp_basicsize + type->tp_itemsize * nitems;
    bool gc = (type->tp_flags & RO_TPFLAG_GC) != 0;
    ro_object *o = ro_object_alloc(rt, type, size, gc);
    if (o == NULL)
        return NULL;
    memset((uint8_t *)o + sizeof(ro_object), 0, size - sizeof(ro_object));
    if (type->tp_flags & RO_TPFLAG_VAR)
        RO_SIZE(o) = nitems;
    if (gc) {
        ro_gc_track(rt, o);
        ro_gc_after_alloc(rt);
    }
    return o;
}

/* Deallocation is iterative past RO_DEALLOC_DEPTH_MAX nested container
 * deallocs: deeper ones are untracked and chained on rt->trash through their
 * collector link, then freed by the outermost call. Only containers can nest
 * (atoms hold no references), so only they need the chain. */
void ro_dealloc(ro_state *rt, ro_object *o)
{
    ro_type *t = o->ob_type;
    if (!(t->tp_flags & RO_TPFLAG_WRAPPED)) {
        t->tp_dealloc(rt, o);
        return;
    }
    if (rt->dealloc_depth >= RO_DEALLOC_DEPTH_MAX) {
        ro_gc_untrack(rt, o);
        ro_gchead *g = RO_GC_HEAD(o);
        g->gc_next = rt->trash;   /* gc_prev stays NULL: "not tracked" is gc_prev == NULL too */
        rt->trash = g;
        return;
    }
    rt->dealloc_depth++;
    t->tp_dealloc(rt, o);
    if (--rt->dealloc_depth == 0 && rt->trash != NULL)
        ro_dealloc_trash(rt);
}

void ro_dealloc_dead_many(ro_state *rt, ro_object *const *dead, size_t n)
{
    assert(n <= RO_DEAD_CHUNK);
    const ro_type *tint = &rt->types[RO_K_INT], *tfloat = &rt->types[RO_K_FLOAT];
    void *ints[RO_DEAD_CHUNK], *floats[RO_DEAD_CHUNK];
    size_t ni = 0, nf = 0;
    for (size_t i = 0; i < n; i++) {
        ro_object *x = dead[i];
        if (x->ob_type == tint && x->ob_aux != RO_INT_BIG_MARK) {
            if (!ro_freelist_push(rt, RO_FL_INT, x))
                ints[ni++] = x;
        } else if (x->ob_type == tfloat) {
            if (!ro_freelist_push(rt, RO_FL_FLOAT, x))
                floats[nf++] = x;
        } else {
            x->ob_refcnt = 0;
            ro_dealloc_dead(rt, &dead[i], 1);
        }
    }
    if (ni != 0)
        ro_mem_free_many(rt, ints, ni, sizeof(ro_object));
    if (nf != 0)
        ro_mem_free_many(rt, floats, nf, sizeof(ro_float));
}

void ro_drop_atoms(ro_state *rt, ro_object *const *items, size_t n)
{
    ro_object *dead[RO_DEAD_CHUNK];
    size_t i = 0;
    while (i < n) {
        size_t end = n - i > RO_DEAD_CHUNK ? i + RO_DEAD_CHUNK : n, ndead = 0;
        for (; i < end; i++) {
            /* The last reference: the block is about to be freed, so its
             * count is not written (the line stays clean; this loop is
             * bound by memory traffic). */
            ro_object *x = items[i];
            if (x->ob_refcnt == 1)
                dead[ndead++] = x;
            else if (x->ob_refcnt != RO_IMMORTAL)
                x->ob_refcnt--;
        }
        if (ndead != 0)
            ro_dealloc_dead_many(rt, dead, ndead);
    }
}

void ro_dealloc_trash(ro_state *rt)
{
    while (rt->trash != NULL) {
        ro_gchead *g = rt->trash;
        rt->trash = g->gc_next;
        g->gc_next = NULL;
        ro_object *d = RO_GC_OBJ(g);
        rt->dealloc_depth++;
        d->ob_type->tp_dealloc(rt, d);
        rt->dealloc_depth--;
    }
}

/* ------------------------------------------------------- hash and eq */

int ro_hash(ro_state *rt, ro_object *o, uint64_t *out)
{
    ro_hash_fn h = o->ob_type->tp_hash;
    if (h == NULL) {
        ro_err_set(rt, RO_E_TYPE, "unhashable type: '%s'", o->ob_type->tp_name);
        return -1;
    }
    return h(rt, o, out);
}

static bool is_number(const ro_object *o)
{
    ro_kind k = o->ob_type->tp_kind;
    return k == RO_K_INT || k == RO_K_FLOAT || k == RO_K_BOOL;
}

/* Exact comparison of an int64 with a double (no rounding through double). */
static int int_eq_double(int64_t i, double d)
{
    if (d != d || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
        return 0;
    int64_t t = (int64_t)d;
    return (double)t == d && t == i;
}

int ro_equal(ro_state *rt, ro_object *a, ro_object *b)
{
    if (a == b)
        return 1;
    ro_type *ta = a->ob_type, *tb = b->ob_type;
    if (ta != tb) {
        if (!is_number(a) || !is_number(b))
            return 0;
        bool fa = ta->tp_kind == RO_K_FLOAT, fb = tb->tp_kind == RO_K_FLOAT;
        int64_t ia = 0, ib = 0;
        if (fa && fb)
            return ro_float_value(a) == ro_float_value(b);
        if (!fa)
            ia = ta->tp_kind == RO_K_BOOL ? ro_bool_value(a) : ro_int_value(a);
        if (!fb)
            ib = tb->tp_kind == RO_K_BOOL ? ro_bool_value(b) : ro_int_value(b);
        if (fa)
            return int_eq_double(ib, ro_float_value(a));
        if (fb)
            return int_eq_double(ia, ro_float_value(b));
        return ia == ib;
    }
    if (ta->tp_eq == NULL)
        return 0;
    return ta->tp_eq(rt, a, b);
}

/* --------------------------------------------------------------- repr */

int ro_sbuf_reserve(ro_state *rt, ro_sbuf *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return 0;
    if (n > SIZE_MAX / 4 - b->len) {
        ro_err_nomem(rt, SIZE_MAX);
        return -1;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (d == NULL) {
        ro_err_nomem(rt, cap);
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

int ro_sbuf_append(ro_state *rt, ro_sbuf *b, const char *s, size_t n)
{
    if (RO_UNLIKELY(b->limit != 0 && b->len + n > b->limit))
        n = b->len < b->limit ? b->limit - b->len : 0;     /* full: the rest is dropped */
    if (ro_sbuf_reserve(rt, b, n) != 0)
        return -1;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

void ro_sbuf_free(ro_sbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int ro_sbuf_vappendf(ro_state *rt, ro_sbuf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    size_t room = b->cap - b->len;      /* cap > len whenever data is set (NUL kept) */
    int n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? room : 0, fmt, ap);
    if (n >= 0 && (b->data == NULL || (size_t)n >= room)) {
        /* Did not fit: grow, then format again into the new room. */
        size_t need = b->len + (size_t)n + 1, cap = b->cap ? b->cap : 64;
        while (cap < need)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            va_end(again);
            ro_err_nomem(rt, cap);
            return -1;
        }
        b->data = d;
        b->cap = cap;
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
    }
    va_end(again);
    if (n < 0) {
        ro_err_set(rt, RO_E_VALUE, "bad format '%s'", fmt);
        return -1;
    }
    if (b->limit != 0 && b->len + (size_t)n > b->limit) {
        n = b->len < b->limit ? (int)(b->limit - b->len) : 0;  /* full: the rest is dropped */
        b->data[b->len + (size_t)n] = '\0';
    }
    b->len += (size_t)n;
    return 0;
}

int ro_sbuf_appendf(ro_state *rt, ro_sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = ro_sbuf_vappendf(rt, b, fmt, ap);
    va_end(ap);
    return r;
}

/* repr with a guard: an object already being printed shows as "..." (so a
 * list containing itself prints as [[...]]), and nesting deeper than the
 * guard's stack is RO_E_RECURSION. Into a buffer with a limit (a message),
 * it stops once the buffer is full, so a bounded repr of anything costs about
 * its limit (tuples sharing sub-tuples print 2^depth bytes in full), and
 * prints "..." for nesting past the guard instead of failing. */
int ro_repr_into(ro_state *rt, ro_object *o, ro_sbuf *b)
{
    if (b->limit != 0 && b->len >= b->limit)
        return 0;
    for (uint32_t i = 0; i < rt->repr_depth; i++) {
        if (rt->repr_stack[i] != o)
            continue;
        switch (o->ob_type->tp_kind) {
        case RO_K_LIST: return ro_sbuf_append(rt, b, "[...]", 5);
        case RO_K_DICT: return ro_sbuf_append(rt, b, "{...}", 5);
        case RO_K_TUPLE: return ro_sbuf_append(rt, b, "(...)", 5);
        default: return ro_sbuf_append(rt, b, "...", 3);
        }
    }
    if (rt->repr_depth == sizeof rt->repr_stack / sizeof rt->repr_stack[0]) {
        if (b->limit != 0)
            return ro_sbuf_append(rt, b, "...", 3);    /* a bounded repr (a message) never fails on depth */
        ro_err_set(rt, RO_E_RECURSION, "repr nested deeper than %u levels", rt->repr_depth);
        return -1;
    }
    ro_repr_fn fn = o->ob_type->tp_repr;
    if (fn == NULL)
        return ro_sbuf_appendf(rt, b, "<%s object at %p>", o->ob_type->tp_name, (void *)o);
    rt->repr_stack[rt->repr_depth++] = o;
    int r = fn(rt, o, b);
    rt->repr_depth--;
    return r;
}

int ro_sbuf_append_repr(ro_state *rt, ro_sbuf *b, ro_object *o)
{
    return ro_repr_into(rt, o, b);
}

ro_object *ro_repr(ro_state *rt, ro_object *o)
{
    ro_sbuf b = {0};
    ro_object *s = NULL;
    if (ro_repr_into(rt, o, &b) == 0)
        s = ro_str_from_utf8(rt, b.data ? b.data : "", b.len);
    free(b.data);
    return s;
}
