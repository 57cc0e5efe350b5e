/* layoutcache.c - a few dict layouts kept for dicts whose key sequences repeat (see ro.h). */
#include "ro_internal.h"

ro_object *ro_layout_cache_miss_steal(ro_state *rt, ro_layout_cache *c, ro_object *const *kv, size_t npairs)
{
    struct ro_layout_slot *s = npairs != 0 ? &c->slot[ro_layout_cache_slot(kv, npairs)] : NULL;
    ro_object *d = ro_dict_from_pairs_steal(rt, kv, npairs);
    if (d == NULL || s == NULL || ro_dict_len(d) != npairs)   /* (none, or a duplicate key: no layout) */
        return d;
    if (s->layout != NULL && ++s->misses < 2)
        return d;
    if (c->debt >= RO_LAYOUT_CACHE_DEBT_MAX && ++c->passed % RO_LAYOUT_CACHE_RETRY != 0)
        return d;
    ro_dict_layout *l = ro_dict_layout_of(rt, d);
    if (l == NULL) {
        ro_err_clear(rt);               /* out of memory: the dict is made all the same, nothing learnt */
        return d;
    }
    ro_dict_layout_free(rt, s->layout);
    s->layout = l;
    s->misses = 0;
    c->debt += c->debt < RO_LAYOUT_CACHE_DEBT_MAX;
    c->learnt++;
    return d;
}

void ro_layout_cache_clear(ro_state *rt, ro_layout_cache *c)
{
    for (size_t i = 0; i < RO_LAYOUT_CACHE_SLOTS; i++) {
        ro_dict_layout_free(rt, c->slot[i].layout);
        c->slot[i].layout = NULL;
        c->slot[i].misses = 0;
    }
    c->debt = c->passed = 0;
}
