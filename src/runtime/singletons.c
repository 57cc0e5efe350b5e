/* singletons.c - None, True, False and the shared small ints. */
#include "ro_internal.h"

static int none_hash(ro_state *rt, ro_object *o, uint64_t *out)
{
    (void)rt;
    (void)o;
    *out = 0xfca86420u;   /* any constant: there is one None */
    return 0;
}

static int none_repr(ro_state *rt, ro_object *o, ro_sbuf *b)
{
    (void)o;
    return ro_sbuf_append(rt, b, "None", 4);
}

static int bool_hash(ro_state *rt, ro_object *o, uint64_t *out)
{
    (void)rt;
    *out = ro_hash_i64(ro_bool_value(o));   /* True == 1, so they hash alike */
    return 0;
}

static int bool_repr(ro_state *rt, ro_object *o, ro_sbuf *b)
{
    return ro_bool_value(o) ? ro_sbuf_append(rt, b, "True", 4) : ro_sbuf_append(rt, b, "False", 5);
}

void ro_type_init_singletons(ro_state *rt)
{
    ro_type *nt = &rt->types[RO_K_NONE];
    ro_type_init_common(rt, nt, RO_K_NONE, "NoneType", sizeof(ro_object), 0, RO_TPFLAG_NO_NEW);
    nt->tp_hash = none_hash;
    nt->tp_repr = none_repr;
    ro_type *bt = &rt->types[RO_K_BOOL];
    ro_type_init_common(rt, bt, RO_K_BOOL, "bool", sizeof(ro_object), 0, RO_TPFLAG_NO_NEW);
    bt->tp_hash = bool_hash;
    bt->tp_repr = bool_repr;
}

static void immortal(ro_object *o, ro_type *t, int32_t aux)
{
    o->ob_refcnt = RO_IMMORTAL;
    o->ob_aux = aux;
    o->ob_type = t;
}

void ro_singletons_init(ro_state *rt)
{
    immortal(&rt->none, &rt->types[RO_K_NONE], 0);
    immortal(&rt->false_, &rt->types[RO_K_BOOL], 0);
    immortal(&rt->true_, &rt->types[RO_K_BOOL], 1);
    for (int v = RO_SMALLINT_MIN; v <= RO_SMALLINT_MAX; v++)
        immortal(&rt->small_ints[v - RO_SMALLINT_MIN], &rt->types[RO_K_INT], v);
}

ro_object *ro_none(ro_state *rt) { return &rt->none; }
ro_object *ro_true(ro_state *rt) { return &rt->true_; }
ro_object *ro_false(ro_state *rt) { return &rt->false_; }
ro_object *ro_bool(ro_state *rt, int v) { return v ? &rt->true_ : &rt->false_; }
