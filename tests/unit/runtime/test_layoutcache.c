/* test_layoutcache.c - the layout cache: its dicts, its slots' takeover and its rationing. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Interned keys named prefix0, prefix1, ... (new references). */
static void make_keys(ro_state *rt, ro_object **keys, size_t n, const char *prefix)
{
    for (size_t i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%zu", prefix, i);
        keys[i] = ro_str_intern_cstr(rt, name);
        assert_non_null(keys[i]);
    }
}

/* The dict of keys[0..n) -> base + i made through c, checked against the
 * dict the same pairs make without it: equal, in the same order. Returns
 * whether it was made from a layout (the cache learnt nothing, and the
 * slot held one that matched before). */
static bool cached_dict(ro_state *rt, ro_layout_cache *c, ro_object **keys, size_t n, int64_t base)
{
    ro_object *kv[2 * 16], *kv2[2 * 16];
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        kv[2 * i] = keys[i];
        ro_incref(keys[i]);
        kv[2 * i + 1] = ro_int_from_i64(rt, base + (int64_t)i);
        kv2[2 * i] = keys[i];
        ro_incref(keys[i]);
        kv2[2 * i + 1] = ro_int_from_i64(rt, base + (int64_t)i);
    }
    const ro_dict_layout *before = n ? c->slot[ro_layout_cache_slot(kv, n)].layout : NULL;
    bool matched = before != NULL && ro_dict_layout_matches(before, kv, n);
    uint64_t learnt = c->learnt;
    ro_object *d = ro_layout_cache_dict_steal(rt, c, kv, n);
    ro_object *want = ro_dict_from_pairs_steal(rt, kv2, n);
    assert_non_null(d);
    assert_non_null(want);
    assert_int_equal(ro_err_kind(rt), RO_OK);
    assert_int_equal(ro_equal(rt, d, want), 1);
    size_t pos = 0, i = 0;
    ro_object *k, *v;
    while (ro_dict_next(d, &pos, &k, &v)) {
        assert_ptr_equal(k, keys[i]);
        assert_int_equal(ro_int_value(v), base + (int64_t)i);
        i++;
    }
    assert_int_equal(i, n);
    ro_decref(rt, d);
    ro_decref(rt, want);
    if (matched)
        assert_int_equal(c->learnt, learnt);    /* a hit learns nothing */
    return matched;
}

/* The first dict of a key sequence is learnt; every next one is made from
 * the layout, for short and long sequences alike; clearing frees them all
 * (the fixture's teardown finds no byte left). */
static void repeated_keys_are_learnt_once_and_then_made_from_the_layout(void **state)
{
    ro_state *rt = RT(state);
    ro_layout_cache c = {0};
    static const size_t sizes[] = {1, 2, 4, 5, 11, 16};
    ro_object *keys[16];
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "s%zu_", s);
        make_keys(rt, keys, sizes[s], prefix);
        ro_layout_cache_clear(rt, &c);     /* (another size's layout may have its slot) */
        uint64_t learnt = c.learnt;
        assert_false(cached_dict(rt, &c, keys, sizes[s], 0));
        assert_int_equal(c.learnt, learnt + 1);
        for (int round = 1; round <= 5; round++)
            assert_true(cached_dict(rt, &c, keys, sizes[s], 100 * round));
        for (size_t i = 0; i < sizes[s]; i++)
            ro_decref(rt, keys[i]);
    }
    /* no keys: an empty dict, nothing learnt */
    uint64_t learnt = c.learnt;
    assert_false(cached_dict(rt, &c, keys, 0, 0));
    assert_int_equal(c.learnt, learnt);
    ro_layout_cache_clear(rt, &c);
    for (size_t i = 0; i < RO_LAYOUT_CACHE_SLOTS; i++)
        assert_null(c.slot[i].layout);
}

/* Two sequences that pick one slot: the one there keeps it through a single
 * miss, and the other takes it over on its second miss in a row. */
static void a_slot_is_taken_over_on_its_second_miss_in_a_row(void **state)
{
    ro_state *rt = RT(state);
    ro_layout_cache c = {0};
    ro_object *a = ro_str_intern_cstr(rt, "a"), *b = NULL, *kv[2] = {a, NULL};
    unsigned want = ro_layout_cache_slot(kv, 1);
    for (int i = 0; b == NULL && i < 10000; i++) {
        char name[16];
        snprintf(name, sizeof name, "b%d", i);
        ro_object *k = ro_str_intern_cstr(rt, name);
        kv[0] = k;
        if (ro_layout_cache_slot(kv, 1) == want)
            b = k;
        else
            ro_decref(rt, k);
    }
    assert_non_null(b);            /* one in 16 strings shares a's slot */
    assert_false(cached_dict(rt, &c, &a, 1, 0));    /* learnt: the slot was empty */
    assert_int_equal(c.learnt, 1);
    assert_false(cached_dict(rt, &c, &b, 1, 0));    /* b's first miss: a stays */
    assert_int_equal(c.learnt, 1);
    assert_true(cached_dict(rt, &c, &a, 1, 1));     /* a hit: the misses start again */
    assert_false(cached_dict(rt, &c, &b, 1, 2));    /* a first miss again */
    assert_int_equal(c.learnt, 1);
    assert_false(cached_dict(rt, &c, &b, 1, 3));    /* the second in a row: b takes it */
    assert_int_equal(c.learnt, 2);
    assert_true(cached_dict(rt, &c, &b, 1, 4));
    assert_false(cached_dict(rt, &c, &a, 1, 5));
    assert_true(cached_dict(rt, &c, &b, 1, 6));
    ro_layout_cache_clear(rt, &c);
    ro_decref(rt, a);
    ro_decref(rt, b);
}

/* A stream of sequences never seen twice learns at most
 * RO_LAYOUT_CACHE_DEBT_MAX layouts and then one in RO_LAYOUT_CACHE_RETRY
 * chances; a sequence that then repeats is still learnt and used. */
static void learning_is_rationed_when_nothing_repeats(void **state)
{
    ro_state *rt = RT(state);
    ro_layout_cache c = {0};
    enum { N = 4096 };
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "once%d", i);
        ro_object *k = ro_str_intern_cstr(rt, name);
        assert_false(cached_dict(rt, &c, &k, 1, i));
        ro_decref(rt, k);
    }
    /* every dict was a miss: at most DEBT_MAX without rationing, then one
     * in RETRY of the misses past them */
    assert_true(c.learnt >= RO_LAYOUT_CACHE_DEBT_MAX);
    assert_true(c.learnt <= RO_LAYOUT_CACHE_DEBT_MAX + N / RO_LAYOUT_CACHE_RETRY + 1);
    ro_object *keys[3];
    make_keys(rt, keys, 3, "again");
    int made_from_layout = 0;
    for (int round = 0; round < 4 * RO_LAYOUT_CACHE_RETRY; round++)
        made_from_layout += cached_dict(rt, &c, keys, 3, round);
    assert_true(made_from_layout >= 2 * RO_LAYOUT_CACHE_RETRY);   /* learnt within the first 2 * RETRY */
    assert_true(cached_dict(rt, &c, keys, 3, -1));
    for (int i = 0; i < 3; i++)
        ro_decref(rt, keys[i]);
    ro_layout_cache_clear(rt, &c);
}

/* A duplicate key: the last value wins, as without the cache, and no layout
 * is learnt from the shorter dict. Out of memory while learning: the dict
 * is made all the same and no error is left. */
static void duplicates_and_memory_failures_learn_nothing(void **state)
{
    ro_state *rt = RT(state);
    ro_layout_cache c = {0};
    ro_object *k = ro_str_intern_cstr(rt, "dup"), *j = ro_str_intern_cstr(rt, "other");
    ro_incref(k);
    ro_incref(k);
    ro_object *kv[6] = {k, ro_int_from_i64(rt, 1), j, ro_int_from_i64(rt, 2), k, ro_int_from_i64(rt, 3)};
    ro_incref(j);
    ro_object *d = ro_layout_cache_dict_steal(rt, &c, kv, 3);
    assert_non_null(d);
    assert_int_equal(ro_dict_len(d), 2);
    assert_int_equal(ro_int_value(ro_dict_get(rt, d, k)), 3);
    assert_int_equal(c.learnt, 0);
    ro_decref(rt, d);

    /* The nth allocation from here fails, for nth = 1, 2, ...: when it is
     * the dict's own, the caller sees the error; when it is the layout's,
     * the dict is made all the same, nothing learnt, no error left. */
    ro_object *keys[2] = {k, j};
    bool layout_failed = false, clean = false;
    for (uint64_t nth = 1; !clean && nth < 32; nth++) {
        ro_layout_cache_clear(rt, &c);
        uint64_t learnt = c.learnt;
        ro_object *kv2[4] = {k, ro_int_from_i64(rt, 7), j, ro_int_from_i64(rt, 8)};
        ro_incref(k);
        ro_incref(j);
        ro_mem_inject_failure(rt, nth, 1);
        d = ro_layout_cache_dict_steal(rt, &c, kv2, 2);
        ro_mem_inject_failure(rt, 0, 0);
        if (d == NULL) {
            assert_int_equal(ro_err_kind(rt), RO_E_NOMEM);
            ro_err_clear(rt);
            continue;
        }
        assert_int_equal(ro_err_kind(rt), RO_OK);
        assert_int_equal(ro_dict_len(d), 2);
        assert_int_equal(ro_int_value(ro_dict_get(rt, d, j)), 8);
        ro_decref(rt, d);
        if (c.learnt == learnt)
            layout_failed = true;
        else
            clean = true;          /* past every allocation it makes */
    }
    assert_true(layout_failed);
    assert_true(clean);
    assert_true(cached_dict(rt, &c, keys, 2, 1));
    ro_layout_cache_clear(rt, &c);
    ro_decref(rt, k);
    ro_decref(rt, j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        RT_TEST(repeated_keys_are_learnt_once_and_then_made_from_the_layout),
        RT_TEST(a_slot_is_taken_over_on_its_second_miss_in_a_row),
        RT_TEST(learning_is_rationed_when_nothing_repeats),
        RT_TEST(duplicates_and_memory_failures_learn_nothing),
    };
    return cmocka_run_group_tests_name("runtime/layoutcache", tests, NULL, NULL);
}
