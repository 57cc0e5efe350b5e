/* freelist.c - small bounded per-type free lists (float, list, dict objects). */
#include "ro_internal.h"

/* Block size of each free list, as handed to ro_mem_free. */
static size_t block_size(int which)
{
    switch (which) {
    case RO_FL_FLOAT:
        return sizeof(ro_float);
    case RO_FL_LIST:
        return sizeof(ro_gchead) + sizeof(ro_list);
    case RO_FL_DICT:
        return sizeof(ro_gchead) + sizeof(ro_dict);
    case RO_FL_DICTTABLE:
        return ro_dict_min_table_bytes();
    default:
        return sizeof(ro_gchead) + offsetof(ro_tuple, t_items) +
               (size_t)(which - RO_FL_TUPLE1 + 1) * sizeof(ro_object *);
    }
}

ro_object *ro_freelist_alloc(ro_state *rt, int which, ro_type *type, size_t size, bool gc)
{
    void *block = ro_freelist_pop(rt, which);
    if (block == NULL)
        return ro_object_alloc(rt, type, size, gc);
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

size_t ro_freelists_clear(ro_state *rt)
{
    size_t n = 0;
    for (int i = 0; i < RO_FL_COUNT; i++) {
        void *b;
        while ((b = ro_freelist_pop(rt, i)) != NULL) {
            ro_mem_free(rt, b, block_size(i));
            n++;
        }
    }
    return n;
}
