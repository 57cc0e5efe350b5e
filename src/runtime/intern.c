/* intern.c - the intern table: one str object per interned text. */
#include "ro_internal.h"

#include <string.h>

/* Open addressing over ro_str pointers; the table owns one reference to each
 * string in it. Deleted slots hold DUMMY until the next resize. */
#define DUMMY ((ro_str *)(uintptr_t)1)
#define MIN_SLOTS 64

/* Slot of bytes in the intern cache: length and the first and last bytes. A
 * collision only costs a miss (the table is then probed as usual). */
static unsigned cache_slot(const char *data, size_t n)
{
    unsigned a = n ? (uint8_t)data[0] : 0, b = n ? (uint8_t)data[n - 1] : 0;
    unsigned c = n > 2 ? (uint8_t)data[n / 2] : 0;
    return (unsigned)(n * 131u + a * 7u + b * 31u + c) & 63u;
}

static void cache_clear(ro_state *rt)
{
    memset(rt->intern_cache, 0, sizeof rt->intern_cache);
}

static size_t probe(const ro_strset *set, uint64_t h, const char *data, size_t n, bool *found)
{
    size_t mask = set->ss_mask, i = (size_t)h & mask, first_free = SIZE_MAX;
    uint64_t perturb = h;
    for (;;) {
        ro_str *s = set->ss_slots[i];
        if (s == NULL) {
            *found = false;
            return first_free != SIZE_MAX ? first_free : i;
        }
        if (s == DUMMY) {
            if (first_free == SIZE_MAX)
                first_free = i;
        } else if (s->s_hash == h && RO_SIZE(s) == n && ro_text_eq(s->s_data, data, n)) {
            *found = true;
            return i;
        }
        perturb >>= 5;
        i = (i * 5 + 1 + (size_t)perturb) & mask;
    }
}

static int resize(ro_state *rt, size_t want_used)
{
    ro_strset *set = &rt->interned;
    size_t n = MIN_SLOTS;
    while (n < want_used * 2)
        n <<= 1;
    ro_str **slots = ro_mem_alloc(rt, n * sizeof *slots);
    if (slots == NULL)
        return -1;
    memset(slots, 0, n * sizeof *slots);
    ro_str **old = set->ss_slots;
    size_t old_n = old ? set->ss_mask + 1 : 0;
    set->ss_slots = slots;
    set->ss_mask = n - 1;
    set->ss_filled = set->ss_used;
    for (size_t i = 0; i < old_n; i++) {
        ro_str *s = old[i];
        if (s == NULL || s == DUMMY)
            continue;
        bool found;
        size_t j = probe(set, s->s_hash, s->s_data, RO_SIZE(s), &found);
        slots[j] = s;
    }
    ro_mem_free(rt, old, old_n * sizeof *old);
    return 0;
}

int ro_intern_init(ro_state *rt)
{
    memset(&rt->interned, 0, sizeof rt->interned);
    return resize(rt, 0);
}

void ro_intern_fini(ro_state *rt)
{
    cache_clear(rt);
    ro_strset *set = &rt->interned;
    size_t n = set->ss_mask + 1;
    for (size_t i = 0; i < n; i++) {
        ro_str *s = set->ss_slots[i];
        if (s == NULL || s == DUMMY)
            continue;
        set->ss_slots[i] = NULL;
        s->s_state &= ~RO_STR_INTERNED;
        ro_decref(rt, RO_OBJ(s));
    }
    ro_mem_free(rt, set->ss_slots, n * sizeof *set->ss_slots);
    memset(set, 0, sizeof *set);
}

int ro_str_intern(ro_state *rt, ro_object **p)
{
    ro_object *o = *p;
    if (!ro_is_kind(o, RO_K_STR)) {
        ro_err_set(rt, RO_E_TYPE, "can only intern str, not '%s'", o->ob_type->tp_name);
        return -1;
    }
    ro_str *s = (ro_str *)o;
    if (s->s_state & RO_STR_INTERNED)
        return 0;
    uint64_t h;
    ro_hash(rt, o, &h);
    ro_strset *set = &rt->interned;
    bool found;
    size_t i = probe(set, h, s->s_data, RO_SIZE(o), &found);
    if (found) {
        ro_object *t = RO_OBJ(set->ss_slots[i]);
        ro_incref(t);
        ro_decref(rt, o);
        *p = t;
        return 0;
    }
    if ((set->ss_filled + 1) * 3 >= (set->ss_mask + 1) * 2) {
        if (resize(rt, set->ss_used + 1) != 0)
            return -1;
        i = probe(set, h, s->s_data, RO_SIZE(o), &found);
    }
    if (set->ss_slots[i] == NULL)
        set->ss_filled++;
    set->ss_slots[i] = s;
    set->ss_used++;
    s->s_state |= RO_STR_INTERNED;
    ro_incref(o);   /* the table's reference */
    return 0;
}

ro_object *ro_str_intern_utf8(ro_state *rt, const char *data, size_t n)
{
    unsigned slot = cache_slot(data, n);
    ro_str *hit = rt->intern_cache[slot];
    if (hit != NULL && RO_SIZE(hit) == n && ro_text_eq(hit->s_data, data, n)) {
        ro_incref(RO_OBJ(hit));
        return RO_OBJ(hit);
    }
    uint64_t h = ro_hash_bytes(rt, data, n);
    bool found;
    size_t i = probe(&rt->interned, h, data, n, &found);
    if (found) {
        ro_object *t = RO_OBJ(rt->interned.ss_slots[i]);
        rt->intern_cache[slot] = (ro_str *)t;
        ro_incref(t);
        return t;
    }
    ro_object *s = ro_str_from_utf8(rt, data, n);
    if (s == NULL)
        return NULL;
    if (ro_str_intern(rt, &s) != 0) {
        ro_decref(rt, s);
        return NULL;
    }
    rt->intern_cache[slot] = (ro_str *)s;
    return s;
}

ro_object *ro_str_intern_cstr(ro_state *rt, const char *cs)
{
    return ro_str_intern_utf8(rt, cs, strlen(cs));
}

size_t ro_str_interned_count(const ro_state *rt)
{
    return rt->interned.ss_used;
}

size_t ro_str_intern_prune(ro_state *rt)
{
    cache_clear(rt);
    ro_strset *set = &rt->interned;
    size_t dropped = 0, n = set->ss_mask + 1;
    for (size_t i = 0; i < n; i++) {
        ro_str *s = set->ss_slots[i];
        if (s == NULL || s == DUMMY || s->ob_base.ob_base.ob_refcnt != 1)
            continue;
        set->ss_slots[i] = DUMMY;
        set->ss_used--;
        s->s_state &= ~RO_STR_INTERNED;
        ro_decref(rt, RO_OBJ(s));
        dropped++;
    }
    /* Shrink; if that fails the old table stays valid and nothing is lost. */
    if (dropped != 0 && set->ss_used * 8 < n && n > MIN_SLOTS && resize(rt, set->ss_used) != 0)
        ro_err_clear(rt);
    return dropped;
}
