/* gc.c - tracking containers in generations (the collector itself: collect.c). */
#include "ro_internal.h"

/* Default thresholds, as CPython's: generation 0 collects when allocations
 * minus deallocations of containers exceed 700; generation 1 after 10
 * collections of generation 0; generation 2 after 10 of generation 1. */
static const uint32_t default_threshold[RO_GC_NGENS] = {700, 10, 10};

static void list_init(ro_gchead *h)
{
    h->gc_next = h->gc_prev = h;
}

void ro_gc_init(ro_state *rt)
{
    for (int i = 0; i < RO_GC_NGENS; i++) {
        list_init(&rt->gens[i].head);
        rt->gens[i].count = 0;
        rt->gens[i].threshold = default_threshold[i];
    }
}

void ro_gc_track(ro_state *rt, ro_object *o)
{
    ro_gchead *g = RO_GC_HEAD(o);
    if (g->gc_next != NULL)
        return;
    ro_gchead *h = &rt->gens[0].head;
    g->gc_next = h;
    g->gc_prev = h->gc_prev;
    h->gc_prev->gc_next = g;
    h->gc_prev = g;
    rt->gc_tracked++;
}

void ro_gc_untrack(ro_state *rt, ro_object *o)
{
    ro_gchead *g = RO_GC_HEAD(o);
    if (g->gc_next == NULL)
        return;
    g->gc_prev->gc_next = g->gc_next;
    g->gc_next->gc_prev = g->gc_prev;
    g->gc_next = g->gc_prev = NULL;
    rt->gc_tracked--;
}
