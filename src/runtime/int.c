/* int.c - 64-bit signed integers: shared small ints, 16-byte compact ints. */
#include "ro_internal.h"

#include <inttypes.h>
#include <string.h>

static void int_dealloc(ro_state *rt, ro_object *o)
{
    if (o->ob_aux == RO_INT_BIG_MARK)
        ro_mem_free_fast(rt, o, sizeof(ro_int));
    else if (!ro_freelist_push(rt, RO_FL_INT, o))
        ro_mem_free_fast(rt, o, sizeof(ro_object));
}

static int int_hash(ro_state *rt, ro_object *o, uint64_t *out)
{
    (void)rt;
    *out = ro_hash_i64(ro_int_value(o));
    return 0;
}

static int int_eq(ro_state *rt, ro_object *a, ro_object *b)
{
    (void)rt;
    return ro_int_value(a) == ro_int_value(b);
}

static int int_repr(ro_state *rt, ro_object *o, ro_sbuf *b)
{
    char num[24];
    return ro_sbuf_append(rt, b, num, ro_format_i64(ro_int_value(o), num));
}

/* Decimal digits of u (1..20): log10 from the bit length (1233/4096 is just
 * under log10 2), corrected by one compare. */
static inline unsigned decimal_digits(uint64_t u)
{
    unsigned t = ((unsigned)(64 - __builtin_clzll(u | 1)) * 1233) >> 12;
    return t + (u >= ro_pow10[t]) + (u == 0);
}

const char ro_digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

size_t ro_format_i64(int64_t v, char *out)
{
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;   /* INT64_MIN too */
    size_t neg = v < 0, nd = decimal_digits(u);
    out[0] = '-';
    ro_write_digits(u, nd, out + neg);  /* from the end, in place: no copy */
    out[neg + nd] = '\0';
    return neg + nd;
}

void ro_type_init_int(ro_state *rt, ro_type *t)
{
    /* basicsize is the compact layout; the generic new makes a compact 0. */
    ro_type_init_common(rt, t, RO_K_INT, "int", sizeof(ro_object), 0, 0);
    t->tp_dealloc = int_dealloc;
    t->tp_hash = int_hash;
    t->tp_eq = int_eq;
    t->tp_repr = int_repr;
}

/* ro_int_from_i64 past the shared ints and the free list (found empty for a
 * compact value): a fresh block. int is built in: no heap type reference,
 * no finalizer to count, so the block's header is written here. */
static __attribute__((noinline)) ro_object *int_new(ro_state *rt, int64_t v)
{
    ro_object *o;
    if (v > INT32_MIN && v <= INT32_MAX) {
        o = ro_mem_alloc_fast(rt, sizeof(ro_object));
        if (RO_UNLIKELY(o == NULL) && (o = ro_mem_alloc_emergency(rt, sizeof(ro_object))) == NULL)
            return NULL;
        o->ob_aux = (int32_t)v;
    } else {
        o = ro_mem_alloc_fast(rt, sizeof(ro_int));
        if (RO_UNLIKELY(o == NULL) && (o = ro_mem_alloc_emergency(rt, sizeof(ro_int))) == NULL)
            return NULL;
        o->ob_aux = RO_INT_BIG_MARK;
        ((ro_int *)o)->i_big = v;
    }
    o->ob_refcnt = 1;
    o->ob_type = &rt->types[RO_K_INT];
    return o;
}

/* Small enough to be inlined into callers (link-time optimisation). */
ro_object *ro_int_from_i64(ro_state *rt, int64_t v)
{
    if (v >= RO_SMALLINT_MIN && v <= RO_SMALLINT_MAX)
        return &rt->small_ints[v - RO_SMALLINT_MIN];   /* immortal: no incref needed */
    ro_freelist *fl = &rt->freelists[RO_FL_INT];
    ro_object *o = fl->fl_head;
    if (RO_LIKELY(o != NULL && v > INT32_MIN && v <= INT32_MAX)) {
        RO_LINK_READABLE(o);
        fl->fl_head = *(void **)o;
        fl->fl_count--;
        o->ob_refcnt = 1;
        o->ob_aux = (int32_t)v;
        o->ob_type = &rt->types[RO_K_INT];
        return o;
    }
    return int_new(rt, v);
}

int ro_int_as_i64(ro_state *rt, ro_object *o, int64_t *out)
{
    switch (o->ob_type->tp_kind) {
    case RO_K_INT:
        *out = ro_int_value(o);
        return 0;
    case RO_K_BOOL:
        *out = ro_bool_value(o);
        return 0;
    default:
        ro_err_set(rt, RO_E_TYPE, "expected an int, got '%s'", o->ob_type->tp_name);
        return -1;
    }
}
