/* summary.c - the built-in summary job: per-user event counts, time range, amounts and tags. */
#include "bt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Input: {"user_id": str, "events": [{"ts": int, "type": str, "amount": number
 * (optional, null = absent), "tags": [str] (optional, null = absent)}, ...]};
 * other fields are ignored; anything else is a bad record.
 * Output keys, in this order: user_id, events, first_ts, last_ts, by_type
 * (type -> count, keys in byte order), amount_sum (0.0 when none), amount_min,
 * amount_max, amount_mean (null when none), distinct_tags, top_tag (most
 * frequent, ties to the byte-order smallest, null when none).
 */

enum {
    K_USER_ID, K_EVENTS, K_FIRST_TS, K_LAST_TS, K_BY_TYPE, K_AMOUNT_SUM, K_AMOUNT_MIN,
    K_AMOUNT_MAX, K_AMOUNT_MEAN, K_DISTINCT_TAGS, K_TOP_TAG, K_TS, K_TYPE, K_AMOUNT, K_TAGS, K_COUNT
};

static const char *const key_text[K_COUNT] = {
    "user_id", "events", "first_ts", "last_ts", "by_type", "amount_sum", "amount_min",
    "amount_max", "amount_mean", "distinct_tags", "top_tag", "ts", "type", "amount", "tags",
};

typedef struct summary {
    ro_object *keys[K_COUNT];   /* interned: new references, dropped in destroy */
    /* The counters' dicts for a record with more than FEW_KEYS types or tags
     * (see counter), emptied after each record so that their tables are made
     * once. New references, dropped in destroy. */
    ro_object *by_type, *tags;
    /* The result's keys, learnt from the first result: each next one is made
     * from it (no key hashed or probed). Owned, or NULL. */
    ro_dict_layout *out_layout;
    /* by_type's key sets, for the same: users mostly have one of a few sets
     * of types (with the data of bench/batch, 76% of by_types are made
     * from the cache). */
    ro_layout_cache type_layouts;
} summary;

static void summary_destroy(void *inst, ro_state *rt)
{
    summary *s = inst;
    if (s == NULL)
        return;
    for (int i = 0; i < K_COUNT; i++)
        ro_xdecref(rt, s->keys[i]);
    ro_xdecref(rt, s->by_type);
    ro_xdecref(rt, s->tags);
    ro_dict_layout_free(rt, s->out_layout);
    ro_layout_cache_clear(rt, &s->type_layouts);
    free(s);
}

static void *summary_create(ro_state *rt, const bt_job_option *opts, size_t nopts, char *err, size_t errlen)
{
    if (nopts != 0) {
        snprintf(err, errlen, "[job] %s: the summary job takes no options", opts[0].key);
        return NULL;
    }
    summary *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (int i = 0; i < K_COUNT; i++) {
        s->keys[i] = ro_str_intern_cstr(rt, key_text[i]);
        if (s->keys[i] == NULL) {
            snprintf(err, errlen, "%s", ro_err_msg(rt));
            summary_destroy(s, rt);
            return NULL;
        }
    }
    /* Room for the usual handful of types and tags without growing. */
    s->by_type = ro_dict_new_presized(rt, 10);
    s->tags = ro_dict_new_presized(rt, 10);
    if (s->by_type == NULL || s->tags == NULL) {
        snprintf(err, errlen, "%s", ro_err_msg(rt));
        summary_destroy(s, rt);
        return NULL;
    }
    return s;
}

static const char *kind_name(ro_object *o)
{
    return RO_TYPE(o)->tp_name;
}

/* Pairs sorted by insertion up to this many, by qsort past it. */
#define INSERTION_MAX 16
/* A counter holds this many keys in its arrays, then moves to its dict. */
#define FEW_KEYS 16

static int cmp_pair(const void *a, const void *b)
{
    return ro_str_compare(*(ro_object *const *)a, *(ro_object *const *)b);
}

/* n (key, count) pairs, kv[2i] and kv[2i + 1], put in byte order of their
 * keys: in place, by insertion for the usual few (no comparison callback),
 * by qsort past that (a pair is its element). */
static void sort_pairs(ro_object **kv, size_t n)
{
    if (n > INSERTION_MAX) {
        qsort(kv, n, 2 * sizeof *kv, cmp_pair);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        ro_object *key = kv[2 * i], *count = kv[2 * i + 1];
        size_t j = i;
        for (; j > 0 && ro_str_compare(kv[2 * (j - 1)], key) > 0; j--) {
            kv[2 * j] = kv[2 * (j - 1)];
            kv[2 * j + 1] = kv[2 * (j - 1) + 1];
        }
        kv[2 * j] = key;
        kv[2 * j + 1] = count;
    }
}

/* Do two strs hold the same text? */
static bool same_text(const ro_object *a, const ro_object *b)
{
    return ro_str_nbytes(a) == ro_str_nbytes(b) && ro_text_eq(ro_str_utf8(a), ro_str_utf8(b), ro_str_nbytes(a));
}

/* The fields of one event, found in one walk over its entries instead of a
 * lookup each. The parser's keys are the job's interned key objects, so
 * identity decides; an equal key that is another object (a record built
 * some other way) is matched by its text. A dict holds no two equal keys, so
 * each field is found at most once. All borrowed; NULL when absent. */
typedef struct event_fields {
    ro_object *f[K_TAGS - K_TS + 1];   /* ts, type, amount, tags */
} event_fields;

/* Any order, other keys, keys that are other objects: a walk over every
 * entry (out of line: the parser's events take event_fields_usual). */
static __attribute__((noinline)) void event_fields_of(ro_object *const *K, ro_object *e, event_fields *ef)
{
    memset(ef, 0, sizeof *ef);
    const ro_dict_entry *it = ((ro_dict *)e)->d_entries, *end = it + ((ro_dict *)e)->d_nentries;
    for (; it < end; it++) {
        ro_object *k = it->e_key, *v = it->e_value;
        if (k == NULL)
            continue;                   /* a deleted entry */
        int i = K_TS;
        while (i <= K_TAGS && k != K[i])
            i++;
        if (i > K_TAGS && ro_is_kind(k, RO_K_STR))
            for (i = K_TS; i <= K_TAGS; i++)
                if (same_text(k, K[i]))
                    break;
        if (i <= K_TAGS)
            ef->f[i - K_TS] = v;
    }
}

/* The usual event, as the parser makes it: exactly the job's key objects
 * ts, type, then amount and tags when present, in that order and nothing
 * else. Its fields go to the four locals of the caller (registers, not an
 * array in memory); false for any other event (then event_fields_of). */
static inline bool event_fields_usual(ro_object *const *K, ro_object *e, ro_object **ts, ro_object **type,
                                      ro_object **amount, ro_object **tags)
{
    const ro_dict_entry *it = ((ro_dict *)e)->d_entries;
    size_t n = ((ro_dict *)e)->d_nentries, i = 2;
    if (n < 2 || it[0].e_key != K[K_TS] || it[1].e_key != K[K_TYPE])
        return false;
    *ts = it[0].e_value;
    *type = it[1].e_value;
    *amount = *tags = NULL;
    if (i < n && it[i].e_key == K[K_AMOUNT])
        *amount = it[i++].e_value;
    if (i < n && it[i].e_key == K[K_TAGS])
        *tags = it[i++].e_value;
    return i == n;
}

/* One record's count of each type or tag: a user has a handful, so they
 * are kept in two arrays in first-seen order and found by identity (the
 * parser gives a text it reads again and again as one shared object), else
 * by text; no hashing, no table. Past FEW_KEYS distinct keys every count
 * moves to the dict (the instance's, borrowed, empty until then) and the
 * rest are counted there with ro_dict_count, so a record with thousands of
 * tags costs no more than a dict would. Keys borrowed from the record.
 *
 * A key is found by identity with no search: each key put in key[] is left
 * its index there as its ro_str_hint, each counter its own hint byte
 * (`lane`: a type may be a tag too, the same str in both counters).
 * A search would end at a different place for each key, a branch the
 * processor mostly mispredicts; the hint's test is taken for every key but
 * a record's first of each. While one record is counted nothing else sets a
 * hint (the counting calls only ro_dict_count, past the arrays), so a key
 * whose hint does not point at itself in key[] is in key[] by no index: a
 * hint left by an earlier record, or by anyone else, only costs that test.
 * A key not found so is compared by text only when it or a key already
 * counted is not marked RO_STR_CACHED: two marked strs that are not the
 * same object have different texts (the parser's shared strs are marked,
 * nearly all of a record's). Every str of the record is made before the
 * counting starts and the counting makes none, so no mark changes
 * meanwhile. */
typedef struct counter {
    size_t n;                       /* keys in key[] (none once spilled) */
    ro_object *key[FEW_KEYS];
    int64_t count[FEW_KEYS];
    ro_object *dict;
    bool spilled;
    bool all_cached;                /* every key in key[] is marked RO_STR_CACHED */
} counter;

enum { LANE_BY_TYPE = 0, LANE_TAGS = 1 };
_Static_assert(LANE_TAGS < RO_STR_HINTS, "each counter has a hint byte of its own");
_Static_assert(FEW_KEYS <= 255, "a key's index in key[] fits in a hint byte");

/* Is key (a str) held by the shared-string cache? */
static inline bool str_cached(const ro_object *key)
{
    return (((const ro_str *)key)->s_state & RO_STR_CACHED) != 0;
}

/* Put key, new to c's arrays (n < FEW_KEYS), at their end with a count of
 * one, and leave it its index as its hint in c's lane. */
static inline void counter_append(counter *c, ro_object *key, unsigned lane)
{
    size_t n = c->n;
    c->key[n] = key;
    c->count[n] = 1;
    c->n = n + 1;
    ro_str_set_hint(key, lane, (unsigned)n);
}

/* count past the arrays: into the dict, moving the arrays' counts there
 * first. Returns 0 or -1 (the runtime's error set). */
static __attribute__((noinline)) int count_spilled(ro_state *rt, counter *c, ro_object *key)
{
    if (!c->spilled) {
        for (size_t i = 0; i < c->n; i++)
            if (ro_dict_count(rt, c->dict, c->key[i], c->count[i]) != 0)
                return -1;
        c->n = 0;
        c->spilled = true;
        c->all_cached = false;      /* (so that count's inline append is never taken again) */
    }
    return ro_dict_count(rt, c->dict, key, 1);
}

/* The slow half of count: a key not in key[] as this object, but for a new
 * marked key among marked ones (count appends it) - one met before as
 * another object, a new key, a key past the arrays. Returns 0 or -1. */
static __attribute__((noinline)) int count_slow(ro_state *rt, counter *c, ro_object *key, unsigned lane)
{
    if (!c->spilled) {
        bool cached = str_cached(key);
        if (!cached || !c->all_cached)
            for (size_t i = 0; i < c->n; i++)
                if (same_text(c->key[i], key)) {
                    c->count[i]++;
                    return 0;
                }
        if (c->n < FEW_KEYS) {
            c->all_cached = c->all_cached && cached;
            counter_append(c, key, lane);
            return 0;
        }
    }
    return count_spilled(rt, c, key);
}

/* Add one to key's (a str, borrowed) count; lane: c's hint byte, a
 * constant (< RO_STR_HINTS) for each counter. Returns 0 or -1. */
static inline int count(ro_state *rt, counter *c, ro_object *key, unsigned lane)
{
    size_t h = ro_str_hint(key, lane), n = c->n;
    if (h < n && c->key[h] == key) {
        c->count[h]++;
        return 0;
    }
    /* A record's first of each key, the usual kind (marked, as every key
     * counted): new for sure, appended here without a call. */
    if (str_cached(key) && c->all_cached && n < FEW_KEYS) {
        counter_append(c, key, lane);
        return 0;
    }
    return count_slow(rt, c, key, lane);
}

static size_t counter_len(const counter *c)
{
    return c->spilled ? ro_dict_len(c->dict) : c->n;
}

/* The i-th key (borrowed) and its count, in first-seen order; i < n, and
 * *pos a cursor for the spilled dict, 0 before the first. */
static ro_object *counter_item(const counter *c, size_t i, size_t *pos, int64_t *n)
{
    if (!c->spilled) {
        *n = c->count[i];
        return c->key[i];
    }
    ro_object *k, *v;
    ro_dict_next(c->dict, pos, &k, &v);
    *n = ro_int_value(v);
    return k;
}

/* Work state of one record: its counters (their dicts the instance's,
 * emptied at the end) and the result (new, dropped at the end unless
 * returned). */
typedef struct acc {
    counter by_type, tags;
    ro_object *out;
} acc;

static void acc_drop(ro_state *rt, acc *a)
{
    if (a->by_type.spilled)
        ro_dict_clear(rt, a->by_type.dict);   /* dicts: cannot fail */
    if (a->tags.spilled)
        ro_dict_clear(rt, a->tags.dict);
    ro_xdecref(rt, a->out);
}

/* A new reference to o (borrowed). */
static inline ro_object *newref(ro_object *o)
{
    ro_incref(o);
    return o;
}

#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); goto fail; } while (0)
#define RT_CHECK(expr) do { if ((expr) != 0) goto fail; } while (0)

static ro_object *summary_process(void *inst, ro_state *rt, ro_object *rec, char *err, size_t errlen)
{
    summary *s = inst;
    ro_object **K = s->keys;
    /* (not zeroed whole: a counter's arrays are read only up to its n) */
    acc a;
    a.by_type.n = a.tags.n = 0;
    a.by_type.spilled = a.tags.spilled = false;
    a.by_type.all_cached = a.tags.all_cached = true;
    a.by_type.dict = s->by_type;
    a.tags.dict = s->tags;
    a.out = NULL;
    err[0] = '\0';
    if (!ro_is_kind(rec, RO_K_DICT))
        BAD("record is not an object (got %s)", kind_name(rec));
    /* user_id and events: found by identity in one walk (the parser's keys
     * are the job's), else looked up (an equal key that is another object). */
    ro_object *uid = NULL, *events = NULL;
    const ro_dict_entry *it = ((ro_dict *)rec)->d_entries, *end = it + ((ro_dict *)rec)->d_nentries;
    for (; it < end; it++) {
        if (it->e_key == K[K_USER_ID])
            uid = it->e_value;
        else if (it->e_key == K[K_EVENTS])
            events = it->e_value;
    }
    if (uid == NULL)
        uid = ro_dict_get(rt, rec, K[K_USER_ID]);
    if (uid == NULL || !ro_is_kind(uid, RO_K_STR))
        BAD(uid == NULL ? "user_id is missing" : "user_id must be a string (got %s)", uid ? kind_name(uid) : "");
    if (events == NULL)
        events = ro_dict_get(rt, rec, K[K_EVENTS]);
    if (events == NULL || !ro_is_kind(events, RO_K_LIST))
        BAD(events == NULL ? "events is missing" : "events must be an array (got %s)",
            events ? kind_name(events) : "");
    size_t n = ro_list_len(events), namounts = 0;
    /* first and last start at the far ends of the int64 range, so the first
     * ts replaces them (or equals them); no test of "is this the first". */
    int64_t first = INT64_MAX, last = INT64_MIN;
    double sum = 0.0, amin = 0.0, amax = 0.0;
    ro_object *const *evs = ((ro_list *)events)->l_items;
    for (size_t i = 0; i < n; i++) {
        ro_object *e = evs[i];
        if (!ro_is_kind(e, RO_K_DICT))
            BAD("events[%zu] is not an object (got %s)", i, kind_name(e));
        ro_object *ts, *type, *amount, *tags;
        if (!event_fields_usual(K, e, &ts, &type, &amount, &tags)) {
            event_fields ef;
            event_fields_of(K, e, &ef);
            ts = ef.f[K_TS - K_TS];
            type = ef.f[K_TYPE - K_TS];
            amount = ef.f[K_AMOUNT - K_TS];
            tags = ef.f[K_TAGS - K_TS];
        }
        if (ts == NULL || !ro_is_kind(ts, RO_K_INT))
            BAD(ts == NULL ? "events[%zu].ts is missing" : "events[%zu].ts must be an integer (got %s)", i,
                ts ? kind_name(ts) : "");
        if (type == NULL || !ro_is_kind(type, RO_K_STR))
            BAD(type == NULL ? "events[%zu].type is missing" : "events[%zu].type must be a string (got %s)",
                i, type ? kind_name(type) : "");
        if (amount != NULL && !ro_is_kind(amount, RO_K_NONE)) {
            if (!ro_is_kind(amount, RO_K_INT) && !ro_is_kind(amount, RO_K_FLOAT))
                BAD("events[%zu].amount must be a number (got %s)", i, kind_name(amount));
            double v;
            ro_float_as_double(rt, amount, &v);
            sum += v;
            amin = namounts == 0 || v < amin ? v : amin;
            amax = namounts == 0 || v > amax ? v : amax;
            namounts++;
        }
        if (tags != NULL && !ro_is_kind(tags, RO_K_NONE)) {
            if (!ro_is_kind(tags, RO_K_LIST))
                BAD("events[%zu].tags must be an array of strings (got %s)", i, kind_name(tags));
            ro_object *const *items = ((ro_list *)tags)->l_items;   /* (counting changes no list) */
            for (size_t j = 0, nt = ro_list_len(tags); j < nt; j++) {
                ro_object *t = items[j];
                if (!ro_is_kind(t, RO_K_STR))
                    BAD("events[%zu].tags[%zu] must be a string (got %s)", i, j, kind_name(t));
                RT_CHECK(count(rt, &a.tags, t, LANE_TAGS));
            }
        }
        int64_t t = ro_int_value(ts);
        first = t < first ? t : first;
        last = t > last ? t : last;
        RT_CHECK(count(rt, &a.by_type, type, LANE_BY_TYPE));
    }

    /* by_type with keys in byte order */
    size_t nt = counter_len(&a.by_type), pos = 0, i = 0;
    ro_object *few[2 * FEW_KEYS], **pairs = nt <= FEW_KEYS ? few : malloc(2 * nt * sizeof *pairs);
    if (pairs == NULL) {
        ro_err_nomem(rt, 2 * nt * sizeof *pairs);
        goto fail;
    }
    bool counted = true;
    for (; i < nt; i++) {
        int64_t c;
        pairs[2 * i] = newref(counter_item(&a.by_type, i, &pos, &c));
        pairs[2 * i + 1] = ro_int_from_i64(rt, c);
        counted = counted && pairs[2 * i + 1] != NULL;
    }
    ro_object *sorted = NULL;
    if (counted) {
        sort_pairs(pairs, nt);
        sorted = ro_layout_cache_dict_steal(rt, &s->type_layouts, pairs, nt);
    } else {
        for (i = 0; i < 2 * nt; i++)
            ro_xdecref(rt, pairs[i]);
    }
    if (pairs != few)
        free(pairs);

    /* tags: distinct count, and the most frequent (ties: byte-order smallest) */
    ro_object *top = NULL;
    int64_t top_n = 0;
    size_t ntags = counter_len(&a.tags);
    pos = 0;
    for (i = 0; i < ntags; i++) {
        int64_t c;
        ro_object *k = counter_item(&a.tags, i, &pos, &c);
        if (top == NULL || c > top_n || (c == top_n && ro_str_compare(k, top) < 0)) {
            top = k;
            top_n = c;
        }
    }

    /* The result, in its keys' order, made in one call. */
    ro_object *none = ro_none(rt);
    ro_object *val[K_TOP_TAG - K_USER_ID + 1] = {
        [K_USER_ID] = newref(uid),
        [K_EVENTS] = ro_int_from_i64(rt, (int64_t)n),
        [K_FIRST_TS] = n ? ro_int_from_i64(rt, first) : newref(none),
        [K_LAST_TS] = n ? ro_int_from_i64(rt, last) : newref(none),
        [K_BY_TYPE] = sorted,
        [K_AMOUNT_SUM] = ro_float_from_double(rt, sum),
        [K_AMOUNT_MIN] = namounts ? ro_float_from_double(rt, amin) : newref(none),
        [K_AMOUNT_MAX] = namounts ? ro_float_from_double(rt, amax) : newref(none),
        [K_AMOUNT_MEAN] = namounts ? ro_float_from_double(rt, sum / (double)namounts) : newref(none),
        [K_DISTINCT_TAGS] = ro_int_from_i64(rt, (int64_t)ntags),
        [K_TOP_TAG] = newref(top != NULL ? top : none),
    };
    size_t nout = sizeof val / sizeof val[0];
    bool made = true;
    for (i = 0; i < nout; i++)
        made = made && val[i] != NULL;
    if (!made) {
        for (i = 0; i < nout; i++)
            ro_xdecref(rt, val[i]);
        goto fail;
    }
    ro_object *kv[2 * (K_TOP_TAG - K_USER_ID + 1)];
    for (i = 0; i < nout; i++) {
        kv[2 * i] = newref(K[K_USER_ID + i]);
        kv[2 * i + 1] = val[i];
    }
    if (s->out_layout != NULL && ro_dict_layout_matches(s->out_layout, kv, nout)) {
        a.out = ro_dict_from_layout_steal(rt, s->out_layout, kv);
    } else {
        a.out = ro_dict_from_pairs_steal(rt, kv, nout);
        if (a.out != NULL && s->out_layout == NULL && (s->out_layout = ro_dict_layout_of(rt, a.out)) == NULL)
            ro_err_clear(rt);           /* out of memory: learnt from a later result */
    }
    if (a.out == NULL)
        goto fail;
    ro_object *out = a.out;
    a.out = NULL;
    acc_drop(rt, &a);
    return out;
fail:
    acc_drop(rt, &a);
    return NULL;
}

static const bt_job summary_job = {
    .abi_version = BT_JOB_ABI_VERSION,
    .name = "summary",
    .create = summary_create,
    .destroy = summary_destroy,
    .process = summary_process,
};

const bt_job *bt_job_summary(void)
{
    return &summary_job;
}
