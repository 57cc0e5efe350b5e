/* bytes.c - immutable byte strings. */
#include "ro_internal.h"

#include <string.h>

#define BYTES_HEAD offsetof(ro_bytes, b_data)

static void bytes_dealloc(ro_state *rt, ro_object *o)
{
    ro_mem_free(rt, o, BYTES_HEAD + RO_SIZE(o) + 1);
}

static int bytes_hash(ro_state *rt, ro_object *o, uint64_t *out)
{
    ro_bytes *b = (ro_bytes *)o;
    if (o->ob_aux == 0) {
        b->b_hash = ro_hash_bytes(rt, b->b_data, RO_SIZE(o));
        o->ob_aux = 1;
    }
    *out = b->b_hash;
    return 0;
}

static int bytes_eq(ro_state *rt, ro_object *a, ro_object *b)
{
    (void)rt;
    return RO_SIZE(a) == RO_SIZE(b) && memcmp(ro_bytes_data(a), ro_bytes_data(b), RO_SIZE(a)) == 0;
}

static int bytes_repr(ro_state *rt, ro_object *o, ro_sbuf *b)
{
    const uint8_t *s = (const uint8_t *)ro_bytes_data(o);
    if (ro_sbuf_append(rt, b, "b'", 2) != 0)
        return -1;
    for (size_t i = 0; i < RO_SIZE(o); i++) {
        uint8_t c = s[i];
        int r;
        if (c == '\\' || c == '\'')
            r = ro_sbuf_appendf(rt, b, "\\%c", c);
        else if (c == '\n')
            r = ro_sbuf_append(rt, b, "\\n", 2);
        else if (c < 0x20 || c >= 0x7f)
            r = ro_sbuf_appendf(rt, b, "\\x%02x", c);
        else
            r = ro_sbuf_append(rt, b, (const char *)&c, 1);
        if (r != 0)
            return -1;
    }
    return ro_sbuf_append(rt, b, "'", 1);
}

void ro_type_init_bytes(ro_state *rt, ro_type *t)
{
    ro_type_init_common(rt, t, RO_K_BYTES, "bytes", BYTES_HEAD + 1, 1, RO_TPFLAG_VAR);
    t->tp_dealloc = bytes_dealloc;
    t->tp_hash = bytes_hash;
    t->tp_eq = bytes_eq;
    t->tp_repr = bytes_repr;
}

ro_object *ro_bytes_from(ro_state *rt, const void *data, size_t n)
{
    if (n > SIZE_MAX / 4) {
        ro_err_set(rt, RO_E_OVERFLOW, "bytes of length %zu is too long", n);
        return NULL;
    }
    ro_bytes *b = (ro_bytes *)ro_object_alloc(rt, &rt->types[RO_K_BYTES], BYTES_HEAD + n + 1, false);
    if (b == NULL)
        return NULL;
    b->ob_base.ob_size = n;
    b->b_hash = 0;
    if (n != 0)
        memcpy(b->b_data, data, n);
    b->b_data[n] = '\0';
    return RO_OBJ(b);
}
