/* type.c - type objects: the `type` type, built-in type setup, heap types. */
#include "ro_internal.h"

#include <stdlib.h>
#include <string.h>

static int type_hash(ro_state *rt, ro_object *o, uint64_t *out)
{
    (void)rt;
    *out = ro_hash_i64((int64_t)((uintptr_t)o >> 4));
    return 0;
}

static int type_repr(ro_state *rt, ro_object *o, ro_sbuf *b)
{
    return ro_sbuf_appendf(rt, b, "<class '%s'>", ((ro_type *)o)->tp_name);
}

/* Heap types are freed when their last instance and reference go. */
static void heap_type_dealloc(ro_state *rt, ro_object *o)
{
    ro_type *t = (ro_type *)o;
    free((char *)t->tp_name);
    rt->heap_types_live--;
    ro_mem_free(rt, t, sizeof *t);
}

void ro_type_init_common(ro_state *rt, ro_type *t, ro_kind kind, const char *name,
                         size_t basicsize, size_t itemsize, uint32_t flags)
{
    t->ob_base.ob_refcnt = RO_IMMORTAL;
    t->ob_base.ob_aux = 0;
    t->ob_base.ob_type = &rt->types[RO_K_TYPE];
    t->tp_name = name;
    t->tp_basicsize = basicsize;
    t->tp_itemsize = itemsize;
    if ((flags & (RO_TPFLAG_GC | RO_TPFLAG_OWN_DEALLOC)) == RO_TPFLAG_GC)
        flags |= RO_TPFLAG_WRAPPED;
    t->tp_flags = flags;
    t->tp_kind = kind;
}

void ro_types_init(ro_state *rt)
{
    /* `type` first: every type object, itself included, points at it. */
    ro_type *tt = &rt->types[RO_K_TYPE];
    ro_type_init_common(rt, tt, RO_K_TYPE, "type", sizeof(ro_type), 0, RO_TPFLAG_NO_NEW);
    tt->tp_hash = type_hash;
    tt->tp_repr = type_repr;
    tt->tp_dealloc = heap_type_dealloc;
    ro_type_init_singletons(rt);
    ro_type_init_int(rt, &rt->types[RO_K_INT]);
    ro_type_init_float(rt, &rt->types[RO_K_FLOAT]);
    ro_type_init_str(rt, &rt->types[RO_K_STR]);
    ro_type_init_bytes(rt, &rt->types[RO_K_BYTES]);
    ro_type_init_tuple(rt, &rt->types[RO_K_TUPLE]);
    ro_type_init_list(rt, &rt->types[RO_K_LIST]);
    ro_type_init_dict(rt, &rt->types[RO_K_DICT]);
    ro_type_init_file(rt, &rt->types[RO_K_FILE]);
    /* RO_K_USER has no built-in type object; ro_builtin_type refuses it. */
}

ro_type *ro_builtin_type(ro_state *rt, ro_kind kind)
{
    if ((unsigned)kind >= RO_K_USER) {
        ro_err_set(rt, RO_E_VALUE, "no built-in type for kind %d", (int)kind);
        return NULL;
    }
    return &rt->types[kind];
}

/* ---------------------------------------------------------- heap types */

/* Instances of heap types die as CPython's: untrack, run the finalizer once
 * (it may resurrect the object), drop every reference with tp_clear, free. */
static void user_dealloc(ro_state *rt, ro_object *o)
{
    ro_type *t = o->ob_type;
    bool gc = (t->tp_flags & RO_TPFLAG_GC) != 0;
    if (gc)
        ro_gc_untrack(rt, o);
    if (t->tp_finalize != NULL && !(gc && (RO_GC_HEAD(o)->gc_flags & RO_GCF_FINALIZED))) {
        if (gc)
            RO_GC_HEAD(o)->gc_flags |= RO_GCF_FINALIZED;
        o->ob_refcnt = 1;             /* alive while the finalizer runs */
        t->tp_finalize(rt, o);
        if (--o->ob_refcnt != 0) {    /* resurrected: someone kept a reference */
            if (gc)
                ro_gc_track(rt, o);
            return;
        }
    }
    if (t->tp_clear != NULL)
        t->tp_clear(rt, o);
    ro_object_free(rt, o, ro_object_sizeof(o));
}

ro_type *ro_type_new(ro_state *rt, const ro_type_spec *spec)
{
    if (spec->name == NULL || spec->basicsize < sizeof(ro_object)) {
        ro_err_set(rt, RO_E_VALUE, "type spec needs a name and basicsize >= %zu", sizeof(ro_object));
        return NULL;
    }
    if ((spec->flags & RO_TPFLAG_GC) && (spec->traverse == NULL || spec->clear == NULL)) {
        ro_err_set(rt, RO_E_VALUE, "container type '%s' needs traverse and clear", spec->name);
        return NULL;
    }
    if ((spec->flags & RO_TPFLAG_PLAIN_CLEAR) && (!(spec->flags & RO_TPFLAG_GC) || spec->finalize != NULL)) {
        ro_err_set(rt, RO_E_VALUE, "type '%s': RO_TPFLAG_PLAIN_CLEAR needs RO_TPFLAG_GC and no finalizer",
                   spec->name);
        return NULL;
    }
    if ((spec->flags & RO_TPFLAG_VAR) && spec->basicsize < sizeof(ro_varobject)) {
        ro_err_set(rt, RO_E_VALUE, "variable-size type '%s' needs basicsize >= %zu", spec->name,
                   sizeof(ro_varobject));
        return NULL;
    }
    ro_type *t = ro_mem_alloc(rt, sizeof *t);
    if (t == NULL)
        return NULL;
    memset(t, 0, sizeof *t);
    char *name = strdup(spec->name);
    if (name == NULL) {
        ro_mem_free(rt, t, sizeof *t);
        return ro_err_nomem(rt, strlen(spec->name) + 1);
    }
    ro_type_init_common(rt, t, RO_K_USER, name, spec->basicsize, spec->itemsize,
                        (spec->flags & (RO_TPFLAG_GC | RO_TPFLAG_VAR | RO_TPFLAG_PLAIN_CLEAR)) | RO_TPFLAG_HEAP);
    t->ob_base.ob_refcnt = 1;
    t->tp_dealloc = user_dealloc;
    t->tp_traverse = spec->traverse;
    t->tp_clear = spec->clear;
    t->tp_finalize = spec->finalize;
    t->tp_hash = spec->hash;
    t->tp_eq = spec->eq;
    t->tp_repr = spec->repr;
    t->tp_user = spec->user;
    rt->heap_types_live++;
    return t;
}
