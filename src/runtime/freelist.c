/* freelist.c - small bounded per-type free lists (int, float, list, dict, tuple objects). */
#include "ro_internal.h"

/* Block size of each free list, as handed to ro_mem_free. */
static size_t block_size(int which)
{
    switch (which) {
    case RO_FL_INT:
        return sizeof(ro_object);
    case RO_FL_FLOAT:
        return sizeof(ro_float);
    case RO_FL_LIST:
        return sizeof(ro_gchead) + sizeof(ro_list);
    case RO_FL_DICT:
        return sizeof(ro_gchead) + sizeof(ro_dict);
    default:
        return sizeof(ro_gchead) + offsetof(ro_tuple, t_items) +
               (size_t)(which - RO_FL_TUPLE1 + 1) * sizeof(ro_object *);
    }
}

size_t ro_freelists_clear(ro_state *rt)
{
    size_t n = ro_strcache_clear(rt);
    for (int i = 0; i < RO_FL_COUNT; i++) {
        void *b;
        while ((b = ro_freelist_pop(rt, i)) != NULL) {
            if (i == RO_FL_LIST)
                ro_list_parked_release(rt, RO_GC_OBJ(b));
            else if (i == RO_FL_DICT)
                ro_dict_parked_release(rt, RO_GC_OBJ(b));
            if (i != RO_FL_INT && i != RO_FL_FLOAT)
                ro_gc_count_free(rt);       /* a container block goes back */
            ro_mem_free(rt, b, block_size(i));
            n++;
        }
    }
    return n;
}
