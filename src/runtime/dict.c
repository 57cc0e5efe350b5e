/* dict.c - insertion-ordered hash tables (containers). */
#include "ro_internal.h"

#include <stdlib.h>
#include <string.h>

/*
 * Layout as CPython's compact dict: d_entries holds (hash, key, value) in
 * insertion order; d_index is an open-addressing table of int32 entry numbers
 * probed with the perturbation recurrence i = 5i + 1 + perturb, perturb >>= 5,
 * so every slot is eventually visited and all hash bits take part.
 *   index slot states: EMPTY (-1, never used), DUMMY (-2, entry deleted),
 *   n >= 0 (entry n; d_entries[n].e_key != NULL).
 * Invariants: d_used <= d_nentries <= d_usable <= 2/3 of the table size, so
 * a probe always reaches an EMPTY slot. d_usable is that 2/3 but in a dict
 * presized for n entries, whose entries are sized to n (an 11-key result in
 * a 32-slot index: 392 bytes, pooled, instead of 632 from malloc). Deleted
 * entries stay as holes (key NULL) until the next resize compacts them.
 */

#define IX_EMPTY (-1)
#define IX_DUMMY (-2)
#define MIN_SIZE 8
#define CLEAR_KEEP_SIZE 64   /* ro_dict_clear keeps a table up to this size */
#define USABLE(size) (((size) << 1) / 3)
#define TABLE_BYTES(size, usable) ((size) * sizeof(int32_t) + (usable) * sizeof(ro_dict_entry))

static void table_release(ro_state *rt, int32_t *index, size_t size, size_t usable)
{
    ro_mem_free(rt, index, TABLE_BYTES(size, usable));
}

/* Rebuild with a table big enough for `want` live entries, compacting; with
 * exact, room for no more than want (the smallest table keeps its usual
 * room: parked tables are all alike). */
static int dict_resize(ro_state *rt, ro_dict *d, size_t want, bool exact)
{
    size_t size = MIN_SIZE;
    while (USABLE(size) < want) {
        if (size > ((size_t)1 << 31) / 2) {
            ro_err_set(rt, RO_E_OVERFLOW, "dict cannot hold more than 2^30 entries");
            return -1;
        }
        size <<= 1;
    }
    size_t usable = exact && size > MIN_SIZE ? want : USABLE(size);
    int32_t *index = ro_mem_alloc(rt, TABLE_BYTES(size, usable));
    if (index == NULL)
        return -1;
    memset(index, 0xff, size * sizeof(int32_t));   /* every slot IX_EMPTY */
    ro_dict_entry *entries = (ro_dict_entry *)(index + size);
    size_t mask = size - 1, n = 0;
    for (size_t j = 0; j < d->d_nentries; j++) {
        ro_dict_entry *e = &d->d_entries[j];
        if (e->e_key == NULL)
            continue;
        entries[n] = *e;
        size_t i = (size_t)e->e_hash & mask;
        for (uint64_t perturb = e->e_hash; index[i] != IX_EMPTY;) {
            perturb >>= 5;
            i = (i * 5 + 1 + (size_t)perturb) & mask;
        }
        index[i] = (int32_t)n++;
    }
    if (d->d_index != NULL)
        table_release(rt, d->d_index, d->d_mask + 1, d->d_usable);
    d->d_index = index;
    d->d_entries = entries;
    d->d_mask = mask;
    d->d_usable = usable;
    d->d_nentries = n;
    d->d_used = n;
    return 0;
}

/* The probe, by identity only: from slot *i (perturbation *perturb) to the
 * first slot that is EMPTY (returns -1), holds key itself (returns its entry
 * number), or holds another key of the same hash (returns -3: only equality
 * can tell, which may call out). *i is left at that slot. */
static inline int64_t probe_identity(const ro_dict *d, const ro_object *key, uint64_t hash, size_t *i,
                                     uint64_t *perturb)
{
    size_t mask = d->d_mask, j = *i;
    uint64_t p = *perturb;
    for (;;) {
        int32_t ix = d->d_index[j];
        if (ix == IX_EMPTY || (ix >= 0 && (d->d_entries[ix].e_key == key || d->d_entries[ix].e_hash == hash))) {
            *i = j;
            *perturb = p;
            return ix == IX_EMPTY ? -1 : d->d_entries[ix].e_key == key ? ix : -3;
        }
        p >>= 5;
        j = (j * 5 + 1 + (size_t)p) & mask;
    }
}

/* For a str key whose hash is cached, in a dict with a table (the keys a
 * parser interns): *h, and probe_identity from the key's first slot, *slot
 * left where it stopped. Returns what probe_identity returns, or -4 when the
 * key or the dict does not qualify (the caller takes its general path). */
static inline __attribute__((always_inline)) int64_t probe_cached_str(const ro_dict *d, const ro_object *key,
                                                                     uint64_t *h, size_t *slot)
{
    if (!ro_is_kind(key, RO_K_STR) || !(((const ro_str *)key)->s_state & RO_STR_HASHED) || d->d_index == NULL)
        return -4;
    uint64_t perturb = *h = ((const ro_str *)key)->s_hash;
    *slot = (size_t)*h & d->d_mask;
    return probe_identity(d, key, *h, slot, &perturb);
}

/* Drop the dict's references in the n entries at e (holes skipped). */
static void drop_entries(ro_state *rt, const ro_dict_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (e[i].e_key != NULL) {
            ro_decref(rt, e[i].e_key);
            ro_decref(rt, e[i].e_value);
        }
    }
}

/* Find key. Returns its entry number (>= 0), -1 if absent (then *slot is the
 * EMPTY slot ending the probe, where it would go), or -2 on error. */
static inline int64_t lookup(ro_state *rt, ro_dict *d, ro_object *key, uint64_t hash, size_t *slot)
{
    size_t i = (size_t)hash & d->d_mask;
    uint64_t perturb = hash;
    for (;;) {
        int64_t ix = probe_identity(d, key, hash, &i, &perturb);
        if (ix != -3) {
            *slot = i;
            return ix;
        }
        int32_t at = d->d_index[i];
        int eq = ro_equal(rt, d->d_entries[at].e_key, key);
        if (eq < 0)
            return -2;
        if (eq) {
            *slot = i;
            return at;
        }
        perturb >>= 5;
        i = (i * 5 + 1 + (size_t)perturb) & d->d_mask;
    }
}

/* The same for a key given as UTF-8 bytes (matches str keys only). */
static int64_t lookup_utf8(ro_dict *d, const char *s, size_t n, uint64_t hash)
{
    size_t mask = d->d_mask, i = (size_t)hash & mask;
    uint64_t perturb = hash;
    for (;;) {
        int32_t ix = d->d_index[i];
        if (ix == IX_EMPTY)
            return -1;
        if (ix >= 0) {
            ro_dict_entry *e = &d->d_entries[ix];
            if (e->e_hash == hash && ro_is_kind(e->e_key, RO_K_STR) && RO_SIZE(e->e_key) == n &&
                ro_text_eq(ro_str_utf8(e->e_key), s, n))
                return ix;
        }
        perturb >>= 5;
        i = (i * 5 + 1 + (size_t)perturb) & mask;
    }
}

/* Hash of a key; a str's cached hash without a call. */
static inline int key_hash(ro_state *rt, ro_object *key, uint64_t *h)
{
    if (key->ob_type->tp_kind == RO_K_STR && (((ro_str *)key)->s_state & RO_STR_HASHED)) {
        *h = ((ro_str *)key)->s_hash;
        return 0;
    }
    return ro_hash(rt, key, h);
}

static int check_dict(ro_state *rt, ro_object *d)
{
    if (ro_is_kind(d, RO_K_DICT))
        return 0;
    ro_err_set(rt, RO_E_TYPE, "expected a dict, got '%s'", d->ob_type->tp_name);
    return -1;
}

/* A new entry (key and value stolen) at the end, indexed from the EMPTY
 * slot its probe ended at; the table has room. */
static inline __attribute__((always_inline)) void append_entry_steal(ro_dict *d, size_t slot, uint64_t h,
                                                             ro_object *key, ro_object *value)
{
    ro_dict_entry *e = &d->d_entries[d->d_nentries];
    e->e_hash = h;
    e->e_key = key;
    e->e_value = value;
    d->d_index[slot] = (int32_t)d->d_nentries++;
    d->d_used++;
}

/* The same with the key increfed (the caller keeps its reference). */
static inline __attribute__((always_inline)) void append_entry(ro_dict *d, size_t slot, uint64_t h, ro_object *key,
                                                       ro_object *value)
{
    ro_incref(key);
    append_entry_steal(d, slot, h, key, value);
}

/* The general d[key] = value (steals value): any key, replacing, growing. */
static __attribute__((noinline)) int dict_set_slow(ro_state *rt, ro_object *o, ro_object *key, ro_object *value)
{
    ro_dict *d = (ro_dict *)o;
    uint64_t h;
    if (value == NULL)
        return -1;
    if (check_dict(rt, o) != 0 || key_hash(rt, key, &h) != 0)
        goto fail;
    size_t slot = 0;
    if (d->d_nentries == 0 && d->d_index != NULL) {
        slot = (size_t)h & d->d_mask;  /* a table with no entry ever is all EMPTY: no probe */
    } else if (d->d_index != NULL) {
        int64_t ix = lookup(rt, d, key, h, &slot);
        if (ix == -2)
            goto fail;
        if (ix >= 0) {
            ro_gc_track_for(rt, o, value);
            ro_object *old = d->d_entries[ix].e_value;
            d->d_entries[ix].e_value = value;
            ro_decref(rt, old);
            return 0;
        }
    }
    if (d->d_nentries == d->d_usable) {
        if (dict_resize(rt, d, (d->d_used + 1) * 3 / 2 + 1, false) != 0)
            goto fail;
        size_t mask = d->d_mask;
        slot = (size_t)h & mask;
        for (uint64_t perturb = h; d->d_index[slot] != IX_EMPTY;) {
            perturb >>= 5;
            slot = (slot * 5 + 1 + (size_t)perturb) & mask;
        }
    }
    ro_gc_track_for(rt, o, key);
    ro_gc_track_for(rt, o, value);
    append_entry(d, slot, h, key, value);
    return 0;
fail:
    ro_decref(rt, value);
    return -1;
}

/* A new str key (its hash known) into a table with room, the case of a
 * record's dicts being built: no call and no equality; anything else (the
 * key may be there, another key of its hash is met, no room, not a str)
 * takes the general path. */
int ro_dict_set_steal(ro_state *rt, ro_object *o, ro_object *key, ro_object *value)
{
    ro_dict *d = (ro_dict *)o;
    if (value != NULL && ro_is_kind(o, RO_K_DICT) && d->d_nentries < d->d_usable) {
        uint64_t h;
        size_t slot;
        if (probe_cached_str(d, key, &h, &slot) == -1) {
            ro_gc_track_for(rt, o, value);     /* (a str key never needs it) */
            append_entry(d, slot, h, key, value);
            return 0;
        }
    }
    return dict_set_slow(rt, o, key, value);
}

int ro_dict_set(ro_state *rt, ro_object *d, ro_object *key, ro_object *value)
{
    ro_incref(value);
    return ro_dict_set_steal(rt, d, key, value);
}

ro_object *ro_dict_get(ro_state *rt, ro_object *o, ro_object *key)
{
    ro_dict *d = (ro_dict *)o;
    uint64_t h;
    if (check_dict(rt, o) != 0 || key_hash(rt, key, &h) != 0)
        return NULL;
    if (d->d_index == NULL)
        return NULL;
    size_t slot;
    int64_t ix = lookup(rt, d, key, h, &slot);
    return ix >= 0 ? d->d_entries[ix].e_value : NULL;
}

/* ro_dict_count's general case: any key, a count that is no shared small int,
 * a table to grow; out of line, so that the usual step pays no register saves. */
static __attribute__((noinline)) int dict_count_slow(ro_state *rt, ro_object *o, ro_object *key, int64_t delta)
{
    ro_dict *d = (ro_dict *)o;
    uint64_t h;
    if (check_dict(rt, o) != 0 || key_hash(rt, key, &h) != 0)
        return -1;
    if (d->d_index != NULL && d->d_nentries != 0) {
        size_t slot;
        int64_t ix = lookup(rt, d, key, h, &slot);
        if (ix == -2)
            return -1;
        if (ix >= 0) {
            ro_dict_entry *e = &d->d_entries[ix];
            int64_t n;
            if (!ro_is_kind(e->e_value, RO_K_INT)) {
                ro_err_set(rt, RO_E_TYPE, "cannot count in a value of type '%s' (an int is needed)",
                           e->e_value->ob_type->tp_name);
                return -1;
            }
            if (__builtin_add_overflow(ro_int_value(e->e_value), delta, &n)) {
                ro_err_set(rt, RO_E_OVERFLOW, "count overflows 64 bits");
                return -1;
            }
            ro_object *v = ro_int_from_i64(rt, n), *old = e->e_value;
            if (v == NULL)
                return -1;
            e->e_value = v;          /* an int: an atom, so d's tracking is unchanged */
            ro_decref(rt, old);
            return 0;
        }
    }
    return ro_dict_set_steal(rt, o, key, ro_int_from_i64(rt, delta));
}

int ro_dict_count(ro_state *rt, ro_object *o, ro_object *key, int64_t delta)
{
    ro_dict *d = (ro_dict *)o;
    /* The counter's usual step: a str key with its hash, found by identity
     * or absent with room, the count a shared small int before and after -
     * no call, no allocation, no reference count touched but the key's. */
    if (ro_is_kind(o, RO_K_DICT)) {
        uint64_t h;
        size_t slot;
        int64_t ix = probe_cached_str(d, key, &h, &slot);
        if (ix >= 0) {
            ro_dict_entry *e = &d->d_entries[ix];
            uintptr_t at = (uintptr_t)e->e_value - (uintptr_t)rt->small_ints;
            if (at < sizeof rt->small_ints && delta >= RO_SMALLINT_MIN - RO_SMALLINT_MAX &&
                delta <= RO_SMALLINT_MAX - RO_SMALLINT_MIN) {   /* (a bigger step cannot end small) */
                int64_t n = (int64_t)(at / sizeof(ro_object)) + RO_SMALLINT_MIN + delta;
                if (n >= RO_SMALLINT_MIN && n <= RO_SMALLINT_MAX) {
                    e->e_value = &rt->small_ints[n - RO_SMALLINT_MIN];   /* immortal: no counts to move */
                    return 0;
                }
            }
        } else if (ix == -1 && d->d_nentries < d->d_usable && delta >= RO_SMALLINT_MIN && delta <= RO_SMALLINT_MAX) {
            append_entry(d, slot, h, key, &rt->small_ints[delta - RO_SMALLINT_MIN]);   /* an atom: no tracking */
            return 0;
        }
    }
    return dict_count_slow(rt, o, key, delta);
}

ro_object *ro_dict_from_pairs_steal(ro_state *rt, ro_object *const *kv, size_t npairs)
{
    ro_object *o = ro_dict_new_presized(rt, npairs);
    size_t i = 0;
    if (o == NULL)
        goto drop_rest;
    ro_dict *d = (ro_dict *)o;
    for (; i < npairs; i++) {
        ro_object *key = kv[2 * i], *value = kv[2 * i + 1];
        /* A str key with its hash: one probe by identity, as the parser's
         * interned keys are; room is there (presized, and a duplicate only
         * replaces). Anything else takes the general path. */
        uint64_t h;
        size_t slot;
        int64_t ix = probe_cached_str(d, key, &h, &slot);
        if (ix == -1) {
            ro_gc_track_for(rt, o, value);
            append_entry_steal(d, slot, h, key, value);
            continue;
        }
        if (ix >= 0) {                          /* a duplicate key: the last wins */
            ro_gc_track_for(rt, o, value);
            ro_object *old = d->d_entries[ix].e_value;
            d->d_entries[ix].e_value = value;
            ro_decref(rt, old);
            ro_decref(rt, key);
            continue;
        }
        int r = ro_dict_set_steal(rt, o, key, value);
        ro_decref(rt, key);
        if (r != 0) {
            i++;
            ro_decref(rt, o);
            o = NULL;
            goto drop_rest;
        }
    }
    return o;
drop_rest:
    for (; i < npairs; i++) {
        ro_decref(rt, kv[2 * i]);
        ro_decref(rt, kv[2 * i + 1]);
    }
    return NULL;
}

/* A layout keeps what makes a dict of its keys: the keys (new references,
 * so that no other object can take one's address while it is kept), their
 * hashes, the table's size and room, and the index the dict was filled
 * into. A dict of the same keys in the same order fills its table the same
 * way, so a copy of that index is its index. One allocation: keys first
 * (what ro_dict_layout_matches reads), then hashes, then index. */
struct ro_dict_layout {
    size_t n, size, usable, bytes;
    ro_object **keys;
    uint64_t *hashes;
    int32_t *index;
};

ro_dict_layout *ro_dict_layout_of(ro_state *rt, ro_object *o)
{
    ro_dict *d = (ro_dict *)o;
    if (!ro_is_kind(o, RO_K_DICT) || d->d_used == 0 || d->d_used != d->d_nentries)
        return NULL;                        /* no entries, or holes */
    size_t n = d->d_used, size = d->d_mask + 1;
    size_t bytes = sizeof(ro_dict_layout) + n * (sizeof(ro_object *) + sizeof(uint64_t)) + size * sizeof(int32_t);
    ro_dict_layout *l = ro_mem_alloc(rt, bytes);
    if (l == NULL)
        return NULL;
    l->n = n;
    l->size = size;
    l->usable = d->d_usable;
    l->bytes = bytes;
    l->keys = (ro_object **)(l + 1);
    l->hashes = (uint64_t *)(l->keys + n);
    l->index = (int32_t *)(l->hashes + n);
    for (size_t i = 0; i < n; i++) {
        l->keys[i] = d->d_entries[i].e_key;
        ro_incref(l->keys[i]);
        l->hashes[i] = d->d_entries[i].e_hash;
    }
    memcpy(l->index, d->d_index, size * sizeof(int32_t));
    return l;
}

void ro_dict_layout_free(ro_state *rt, ro_dict_layout *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        ro_decref(rt, l->keys[i]);
    ro_mem_free(rt, l, l->bytes);
}

size_t ro_dict_layout_len(const ro_dict_layout *l)
{
    return l->n;
}

bool ro_dict_layout_matches(const ro_dict_layout *l, ro_object *const *kv, size_t npairs)
{
    if (npairs != l->n)
        return false;
    for (size_t i = 0; i < npairs; i++)
        if (kv[2 * i] != l->keys[i])
            return false;
    return true;
}

/* ro_dict_new, inlined where the parser's dicts are made (a call and its
 * frame each saved). */
static inline __attribute__((always_inline)) ro_object *dict_make(ro_state *rt)
{
    ro_type *t = &rt->types[RO_K_DICT];
    void *parked = ro_freelist_pop(rt, RO_FL_DICT);
    ro_object *o;
    if (parked != NULL) {
        o = ro_freelist_init(parked, t, true);   /* empty, its table (if any) kept */
    } else {
        o = ro_object_alloc(rt, t, sizeof(ro_dict), true);
        if (o == NULL)
            return NULL;
        ro_dict *d = (ro_dict *)o;
        d->d_index = NULL;
        d->d_entries = NULL;
        d->d_mask = d->d_usable = d->d_nentries = d->d_used = 0;
    }
    ro_gc_after_alloc(rt);     /* untracked until it holds a container */
    return o;
}

ro_object *ro_dict_from_layout_steal(ro_state *rt, const ro_dict_layout *l, ro_object *const *kv)
{
    ro_object *o = dict_make(rt);
    if (o == NULL)
        goto drop;
    ro_dict *d = (ro_dict *)o;
    if (d->d_mask + 1 != l->size || d->d_usable != l->usable) {   /* (a parked dict has the smallest table) */
        int32_t *index = ro_mem_alloc(rt, TABLE_BYTES(l->size, l->usable));
        if (index == NULL) {
            ro_decref(rt, o);
            goto drop;
        }
        if (d->d_index != NULL)
            table_release(rt, d->d_index, d->d_mask + 1, d->d_usable);
        d->d_index = index;
        d->d_entries = (ro_dict_entry *)(index + l->size);
        d->d_mask = l->size - 1;
        d->d_usable = l->usable;
    }
    if (l->size == MIN_SIZE)   /* (most: a call to memcpy saved) */
        memcpy(d->d_index, l->index, MIN_SIZE * sizeof(int32_t));
    else
        memcpy(d->d_index, l->index, l->size * sizeof(int32_t));
    ro_dict_entry *e = d->d_entries;
    size_t n = l->n;
    uint32_t flags = 0;
    for (size_t i = 0; i < n; i++) {
        ro_object *value = kv[2 * i + 1];
        flags |= value->ob_type->tp_flags;
        e[i].e_hash = l->hashes[i];
        e[i].e_key = kv[2 * i];                /* the layout's key: the same object */
        e[i].e_value = value;
    }
    d->d_nentries = d->d_used = n;
    if (flags & RO_TPFLAG_GC)                  /* as ro_gc_track_for for each value */
        ro_gc_track(rt, o);
    return o;
drop:
    for (size_t i = 0; i < 2 * l->n; i++)
        ro_decref(rt, kv[i]);
    return NULL;
}

ro_object *ro_dict_get_cstr(ro_state *rt, ro_object *o, const char *key)
{
    ro_dict *d = (ro_dict *)o;
    if (check_dict(rt, o) != 0 || d->d_index == NULL)
        return NULL;
    size_t n = strlen(key);
    int64_t ix = lookup_utf8(d, key, n, ro_hash_bytes(rt, key, n));
    return ix >= 0 ? d->d_entries[ix].e_value : NULL;
}

int ro_dict_set_cstr_steal(ro_state *rt, ro_object *d, const char *key, ro_object *value)
{
    if (value == NULL)
        return -1;
    ro_object *k = ro_str_from_cstr(rt, key);
    if (k == NULL) {
        ro_decref(rt, value);
        return -1;
    }
    int r = ro_dict_set_steal(rt, d, k, value);
    ro_decref(rt, k);
    return r;
}

int ro_dict_del(ro_state *rt, ro_object *o, ro_object *key)
{
    ro_dict *d = (ro_dict *)o;
    uint64_t h;
    if (check_dict(rt, o) != 0 || key_hash(rt, key, &h) != 0)
        return -1;
    size_t slot;
    int64_t ix = d->d_index != NULL ? lookup(rt, d, key, h, &slot) : -1;
    if (ix == -2)
        return -1;
    if (ix == -1) {
        ro_sbuf b = {.limit = 200};
        if (ro_repr_into(rt, key, &b) == 0)
            ro_err_set(rt, RO_E_KEY, "key %s%s not in dict", b.data ? b.data : "",
                       b.len == b.limit ? "..." : "");
        free(b.data);
        return -1;
    }
    ro_dict_entry *e = &d->d_entries[ix];
    ro_object *k = e->e_key, *v = e->e_value;
    d->d_index[slot] = IX_DUMMY;
    e->e_key = NULL;
    e->e_value = NULL;
    d->d_used--;
    ro_decref(rt, k);
    ro_decref(rt, v);
    return 0;
}

int ro_dict_next(ro_object *o, size_t *pos, ro_object **key, ro_object **value)
{
    ro_dict *d = (ro_dict *)o;
    for (size_t i = *pos; i < d->d_nentries; i++) {
        ro_dict_entry *e = &d->d_entries[i];
        if (e->e_key != NULL) {
            *pos = i + 1;
            *key = e->e_key;
            *value = e->e_value;
            return 1;
        }
    }
    *pos = d->d_nentries;
    return 0;
}

/* --------------------------------------------------------------- type */

/* Drop every entry; the dict stays usable (empty, no table). */
static void dict_clear(ro_state *rt, ro_object *o)
{
    ro_dict *d = (ro_dict *)o;
    ro_dict dead = *d;     /* detach first: a dealloc below may look at d again */
    d->d_index = NULL;
    d->d_entries = NULL;
    d->d_mask = d->d_usable = d->d_nentries = d->d_used = 0;
    drop_entries(rt, dead.d_entries, dead.d_nentries);
    if (dead.d_index != NULL)
        table_release(rt, dead.d_index, dead.d_mask + 1, dead.d_usable);
}

int ro_dict_clear(ro_state *rt, ro_object *o)
{
    if (check_dict(rt, o) != 0)
        return -1;
    ro_dict *d = (ro_dict *)o;
    if (RO_GC_HEAD(o)->gc_next != NULL || d->d_index == NULL || d->d_mask + 1 > CLEAR_KEEP_SIZE) {
        dict_clear(rt, o);     /* may hold containers: detached first, table released */
        return 0;
    }
    /* Untracked: atoms only, whose deallocs cannot reach d; a small table
     * stays for the next fill (a job's per-record counters). */
    drop_entries(rt, d->d_entries, d->d_nentries);
    memset(d->d_index, 0xff, (d->d_mask + 1) * sizeof(int32_t));   /* every slot IX_EMPTY */
    d->d_nentries = d->d_used = 0;
    return 0;
}

/* A dead dict goes to its free list keeping its table when that is the
 * smallest one, emptied (most dicts in a batch are small): the next small
 * dict then allocates nothing. Parked dicts have either no table or an empty
 * smallest one, and no entries. */
static void dict_park(ro_state *rt, ro_object *o)
{
    if (!ro_freelist_push(rt, RO_FL_DICT, RO_GC_HEAD(o))) {
        ro_dict_parked_release(rt, o);
        ro_object_free(rt, o, sizeof(ro_dict));
    }
}

/* Tracked, or with a bigger table than the smallest: the general case. */
static __attribute__((noinline)) void dict_dealloc_slow(ro_state *rt, ro_object *o)
{
    ro_dict *d = (ro_dict *)o;
    bool nested;
    if (!ro_container_dealloc_begin(rt, o, &nested))
        return;
    if (d->d_mask + 1 != MIN_SIZE) {
        dict_clear(rt, o);
    } else {
        size_t n = d->d_nentries;
        d->d_used = d->d_nentries = 0;  /* no reference is left to d: nothing can look at it below */
        drop_entries(rt, d->d_entries, n);
        memset(d->d_index, 0xff, MIN_SIZE * sizeof(int32_t));
    }
    dict_park(rt, o);
    ro_container_dealloc_end(rt, nested);
}

/* Free the n keys and values in dead, whose counts reached zero, then park
 * the dict. */
static __attribute__((noinline)) void dict_dealloc_dead(ro_state *rt, ro_object *o, ro_object **dead, size_t n)
{
    ro_dealloc_dead(rt, dead, n);
    dict_park(rt, o);
}

/* The common case without a call: an untracked dict (atoms only) with the
 * smallest table drops its keys' and values' counts, empties the table, and
 * frees the dead ones after (see ro_drop_ref). */
static void dict_dealloc(ro_state *rt, ro_object *o)
{
    ro_dict *d = (ro_dict *)o;
    if (RO_UNLIKELY(RO_GC_HEAD(o)->gc_next != NULL || d->d_mask + 1 != MIN_SIZE)) {
        dict_dealloc_slow(rt, o);
        return;
    }
    ro_dict_entry *e = d->d_entries, *end = e + d->d_nentries;
    ro_object *dead[2 * USABLE(MIN_SIZE)];
    size_t ndead = 0;
    d->d_used = d->d_nentries = 0;
    for (; e < end; e++) {
        if (e->e_key != NULL) {
            if (ro_drop_ref(e->e_key))
                dead[ndead++] = e->e_key;
            if (ro_drop_ref(e->e_value))
                dead[ndead++] = e->e_value;
        }
    }
    memset(d->d_index, 0xff, MIN_SIZE * sizeof(int32_t));
    if (ndead != 0 || !ro_freelist_push(rt, RO_FL_DICT, RO_GC_HEAD(o)))
        dict_dealloc_dead(rt, o, dead, ndead);   /* (parks it, or frees it when the free list is full) */
}

void ro_dict_gc_blocks(ro_object *o, ro_gc_blocks *b)
{
    ro_dict *d = (ro_dict *)o;
    b->obj_size = sizeof(ro_gchead) + sizeof(ro_dict);
    b->storage = d->d_index;
    b->storage_size = d->d_index != NULL ? TABLE_BYTES(d->d_mask + 1, d->d_usable) : 0;
}

void ro_dict_parked_release(ro_state *rt, ro_object *o)
{
    ro_dict *d = (ro_dict *)o;
    if (d->d_index != NULL)
        table_release(rt, d->d_index, d->d_mask + 1, d->d_usable);
    d->d_index = NULL;
    d->d_entries = NULL;
    d->d_mask = d->d_usable = d->d_nentries = d->d_used = 0;
}

static int dict_traverse(ro_object *o, ro_visit_fn visit, void *arg)
{
    ro_dict *d = (ro_dict *)o;
    for (size_t i = 0; i < d->d_nentries; i++) {
        ro_dict_entry *e = &d->d_entries[i];
        if (e->e_key != NULL) {
            RO_VISIT(e->e_key, visit, arg);
            RO_VISIT(e->e_value, visit, arg);
        }
    }
    return 0;
}

static int dict_eq(ro_state *rt, ro_object *a, ro_object *b)
{
    if (ro_dict_len(a) != ro_dict_len(b))
        return 0;
    size_t pos = 0;
    ro_object *k, *v;
    while (ro_dict_next(a, &pos, &k, &v)) {
        ro_object *w = ro_dict_get(rt, b, k);
        if (w == NULL)
            return ro_err_kind(rt) != RO_OK ? -1 : 0;
        int r = ro_equal(rt, v, w);
        if (r <= 0)
            return r;
    }
    return 1;
}

static int dict_repr(ro_state *rt, ro_object *o, ro_sbuf *b)
{
    size_t pos = 0, n = 0;
    ro_object *k, *v;
    if (ro_sbuf_append(rt, b, "{", 1) != 0)
        return -1;
    while (ro_dict_next(o, &pos, &k, &v)) {
        if ((n++ != 0 && ro_sbuf_append(rt, b, ", ", 2) != 0) || ro_repr_into(rt, k, b) != 0 ||
            ro_sbuf_append(rt, b, ": ", 2) != 0 || ro_repr_into(rt, v, b) != 0)
            return -1;
    }
    return ro_sbuf_append(rt, b, "}", 1);
}

void ro_type_init_dict(ro_state *rt, ro_type *t)
{
    ro_type_init_common(rt, t, RO_K_DICT, "dict", sizeof(ro_dict), 0, RO_TPFLAG_GC | RO_TPFLAG_OWN_DEALLOC);
    t->tp_dealloc = dict_dealloc;
    t->tp_traverse = dict_traverse;
    t->tp_clear = dict_clear;
    t->tp_eq = dict_eq;
    t->tp_repr = dict_repr;
}

ro_object *ro_dict_new(ro_state *rt)
{
    return dict_make(rt);
}
ro_object *ro_dict_new_presized(ro_state *rt, size_t n)
{
    ro_object *o = ro_dict_new(rt);
    if (o != NULL && n > ((ro_dict *)o)->d_usable && dict_resize(rt, (ro_dict *)o, n, true) != 0) {
        ro_decref(rt, o);
        return NULL;
    }
    return o;
}
