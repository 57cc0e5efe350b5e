/* test_dict.c - insertion-ordered dicts: a million keys, deletions, iteration. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void million_int_keys_with_deletions(void **state)
{
    ro_state *rt = RT(state);
    enum { N = 1000000 };
    ro_object *d = ro_dict_new(rt);
    for (int64_t i = 0; i < N; i++) {
        ro_object *k = ro_int_from_i64(rt, i * 7919);
        assert_int_equal(ro_dict_set_steal(rt, d, k, ro_int_from_i64(rt, i)), 0);
        ro_decref(rt, k);
    }
    assert_int_equal(ro_dict_len(d), N);
    for (int64_t i = 0; i < N; i += 2) {       /* delete the even ones */
        ro_object *k = ro_int_from_i64(rt, i * 7919);
        assert_int_equal(ro_dict_del(rt, d, k), 0);
        ro_decref(rt, k);
    }
    assert_int_equal(ro_dict_len(d), N / 2);
    for (int64_t i = 0; i < N; i++) {
        ro_object *k = ro_int_from_i64(rt, i * 7919);
        ro_object *v = ro_dict_get(rt, d, k);
        if (i % 2 == 0) {
            assert_null(v);
            assert_int_equal(ro_err_kind(rt), RO_OK);   /* absent is not an error */
        } else {
            assert_non_null(v);
            assert_int_equal(ro_int_value(v), i);
        }
        ro_decref(rt, k);
    }
    /* Iteration follows insertion order, skipping the deleted. */
    size_t pos = 0, seen = 0;
    ro_object *k, *v;
    int64_t expect = 1;
    while (ro_dict_next(d, &pos, &k, &v)) {
        assert_int_equal(ro_int_value(v), expect);
        assert_int_equal(ro_int_value(k), expect * 7919);
        expect += 2;
        seen++;
    }
    assert_int_equal(seen, N / 2);
    /* Re-inserting a deleted key puts it at the end. */
    ro_object *k0 = ro_int_from_i64(rt, 0);
    assert_int_equal(ro_dict_set(rt, d, k0, ro_none(rt)), 0);
    pos = 0;
    ro_object *lastk = NULL;
    while (ro_dict_next(d, &pos, &k, &v))
        lastk = k;
    assert_ptr_equal(lastk, k0);
    ro_decref(rt, k0);
    ro_decref(rt, d);
}

static void str_keys_and_overwrites(void **state)
{
    ro_state *rt = RT(state);
    ro_object *d = ro_dict_new(rt);
    for (int i = 0; i < 5000; i++) {
        char key[32];
        snprintf(key, sizeof key, "user-%05d", i);
        assert_int_equal(ro_dict_set_cstr_steal(rt, d, key, ro_int_from_i64(rt, i)), 0);
    }
    assert_int_equal(ro_dict_set_cstr_steal(rt, d, "user-00042", ro_str_from_cstr(rt, "new")), 0);
    assert_int_equal(ro_dict_len(d), 5000);
    assert_string_equal(ro_str_utf8(ro_dict_get_cstr(rt, d, "user-00042")), "new");
    assert_int_equal(ro_int_value(ro_dict_get_cstr(rt, d, "user-04999")), 4999);
    assert_null(ro_dict_get_cstr(rt, d, "user-5000"));
    ro_object *k = ro_str_from_cstr(rt, "user-00007");
    assert_int_equal(ro_int_value(ro_dict_get(rt, d, k)), 7);
    ro_decref(rt, k);
    ro_decref(rt, d);
}

static void unhashable_and_missing_keys_are_errors(void **state)
{
    ro_state *rt = RT(state);
    ro_object *d = ro_dict_new(rt), *l = ro_list_new(rt, 0);
    assert_int_equal(ro_dict_set(rt, d, l, l), -1);
    assert_int_equal(ro_err_kind(rt), RO_E_TYPE);
    ro_err_clear(rt);
    assert_null(ro_dict_get(rt, d, l));
    assert_int_equal(ro_err_kind(rt), RO_E_TYPE);
    ro_err_clear(rt);
    ro_object *k = ro_str_from_cstr(rt, "nope");
    assert_int_equal(ro_dict_del(rt, d, k), -1);
    assert_int_equal(ro_err_kind(rt), RO_E_KEY);
    assert_non_null(strstr(ro_err_msg(rt), "'nope'"));
    ro_err_clear(rt);
    ro_decref(rt, k); ro_decref(rt, d); ro_decref(rt, l);
}

static void numeric_keys_unify_like_python(void **state)
{
    ro_state *rt = RT(state);
    ro_object *d = ro_dict_new(rt);
    ro_object *one = ro_int_from_i64(rt, 1), *onef = ro_float_from_double(rt, 1.0);
    ro_dict_set(rt, d, one, ro_none(rt));
    ro_dict_set(rt, d, onef, ro_true(rt));       /* same key as 1 */
    ro_dict_set(rt, d, ro_true(rt), ro_false(rt));  /* True == 1 too */
    assert_int_equal(ro_dict_len(d), 1);
    assert_ptr_equal(ro_dict_get(rt, d, one), ro_false(rt));
    ro_decref(rt, one); ro_decref(rt, onef); ro_decref(rt, d);
}

static void dict_equality_ignores_order(void **state)
{
    ro_state *rt = RT(state);
    ro_object *a = ro_dict_new(rt), *b = ro_dict_new(rt);
    ro_dict_set_cstr_steal(rt, a, "x", ro_int_from_i64(rt, 1));
    ro_dict_set_cstr_steal(rt, a, "y", ro_int_from_i64(rt, 2));
    ro_dict_set_cstr_steal(rt, b, "y", ro_int_from_i64(rt, 2));
    ro_dict_set_cstr_steal(rt, b, "x", ro_int_from_i64(rt, 1));
    assert_int_equal(ro_equal(rt, a, b), 1);
    ro_dict_set_cstr_steal(rt, b, "x", ro_int_from_i64(rt, 3));
    assert_int_equal(ro_equal(rt, a, b), 0);
    ro_decref(rt, a);
    ro_decref(rt, b);
}

static void count_adds_in_place_and_refuses_what_is_not_an_int(void **state)
{
    ro_state *rt = RT(state);
    ro_object *d = ro_dict_new(rt);
    ro_object *a = ro_str_from_cstr(rt, "click"), *a2 = ro_str_from_cstr(rt, "click");   /* equal, not the same */
    ro_object *b = ro_str_from_cstr(rt, "view"), *c = ro_str_from_cstr(rt, "buy");
    assert_ptr_not_equal(a, a2);
    assert_int_equal(ro_dict_count(rt, d, a, 1), 0);        /* absent: set to delta */
    assert_int_equal(ro_dict_count(rt, d, b, 5), 0);
    assert_int_equal(ro_dict_count(rt, d, a2, 1), 0);       /* found by equality */
    assert_int_equal(ro_dict_count(rt, d, a, -10), 0);
    assert_int_equal(ro_dict_len(d), 2);
    assert_int_equal(ro_int_value(ro_dict_get(rt, d, a)), -8);
    assert_int_equal(ro_int_value(ro_dict_get(rt, d, b)), 5);
    /* Insertion order is kept: a, then b. */
    size_t pos = 0;
    ro_object *k, *v;
    assert_true(ro_dict_next(d, &pos, &k, &v));
    assert_ptr_equal(k, a);
    /* A big count leaves the shared ints; an overflow is refused, d unchanged. */
    assert_int_equal(ro_dict_count(rt, d, b, INT64_MAX - 5), 0);
    assert_int_equal(ro_int_value(ro_dict_get(rt, d, b)), INT64_MAX);
    assert_int_equal(ro_dict_count(rt, d, b, 1), -1);
    assert_int_equal(ro_err_kind(rt), RO_E_OVERFLOW);
    ro_err_clear(rt);
    assert_int_equal(ro_int_value(ro_dict_get(rt, d, b)), INT64_MAX);
    /* A value that is not an int is refused and kept. */
    assert_int_equal(ro_dict_set(rt, d, c, ro_none(rt)), 0);
    assert_int_equal(ro_dict_count(rt, d, c, 1), -1);
    assert_int_equal(ro_err_kind(rt), RO_E_TYPE);
    ro_err_clear(rt);
    assert_ptr_equal(ro_dict_get(rt, d, c), ro_none(rt));
    /* Not a dict, or an unhashable key: errors. */
    ro_object *l = ro_list_new(rt, 0);
    assert_int_equal(ro_dict_count(rt, l, a, 1), -1);
    assert_int_equal(ro_err_kind(rt), RO_E_TYPE);
    ro_err_clear(rt);
    assert_int_equal(ro_dict_count(rt, d, l, 1), -1);
    assert_int_equal(ro_err_kind(rt), RO_E_TYPE);
    ro_err_clear(rt);
    assert_int_equal(ro_dict_len(d), 3);
    ro_decref(rt, l); ro_decref(rt, a); ro_decref(rt, a2); ro_decref(rt, b); ro_decref(rt, c); ro_decref(rt, d);
}

/* Counting by identity in place (shared small ints) and by the general path
 * (past them, either way) gives the sums a plain array of int64 gives, over a
 * long random walk of deltas that crosses the small-int bounds often. */
static void counts_across_the_small_int_bounds_match_plain_sums(void **state)
{
    ro_state *rt = RT(state);
    enum { NKEYS = 12, STEPS = 20000 };
    ro_object *d = ro_dict_new(rt), *keys[NKEYS];
    int64_t want[NKEYS] = {0};
    bool seen[NKEYS] = {false};
    char name[16];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(name, sizeof name, "tag%d", i);
        keys[i] = ro_str_intern_cstr(rt, name);
    }
    uint64_t x = 88172645463325252ull;   /* xorshift64: the same walk every run */
    size_t in_place = 0;                 /* steps from a shared int to a shared int */
    for (int s = 0; s < STEPS; s++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int k = (int)(x % NKEYS);
        static const int64_t steps[] = {1, 1, 1, 1, 2, 7, 7, 30, 100, 0, 300, 256, 261};
        int64_t delta = steps[(x >> 8) % (sizeof steps / sizeof steps[0])];
        /* Either way at random near the shared ints, back toward them once
         * past them, so that the walk crosses both bounds again and again. */
        if (want[k] > RO_SMALLINT_MAX + 20 || (want[k] >= RO_SMALLINT_MIN - 20 && (x >> 20) % 2))
            delta = -delta;
        in_place += want[k] >= RO_SMALLINT_MIN && want[k] <= RO_SMALLINT_MAX && want[k] + delta >= RO_SMALLINT_MIN &&
                    want[k] + delta <= RO_SMALLINT_MAX;
        assert_int_equal(ro_dict_count(rt, d, keys[k], delta), 0);
        want[k] += delta;
        seen[k] = true;
    }
    size_t present = 0;
    for (int i = 0; i < NKEYS; i++) {
        ro_object *v = ro_dict_get(rt, d, keys[i]);
        if (!seen[i]) {
            assert_null(v);
            continue;
        }
        present++;
        assert_non_null(v);
        assert_int_equal(ro_int_value(v), want[i]);
        ro_object *same = ro_int_from_i64(rt, want[i]);   /* small: the shared object itself */
        if (want[i] >= RO_SMALLINT_MIN && want[i] <= RO_SMALLINT_MAX)
            assert_ptr_equal(v, same);
        ro_decref(rt, same);
    }
    assert_int_equal(ro_dict_len(d), present);
    assert_true(in_place > STEPS / 4);   /* the walk did stay near the shared ints */
    ro_decref(rt, d);
    for (int i = 0; i < NKEYS; i++)
        ro_decref(rt, keys[i]);
}

/* clear empties a dict and drops its references; one of atoms keeps its
 * small table, one that held a container (tracked) or a big table gives its
 * table back; the dict is usable after; a non-dict is an error. */
static void clear_drops_every_reference_and_keeps_a_small_table(void **state)
{
    ro_state *rt = RT(state);
    ro_object *d = ro_dict_new_presized(rt, 10);
    ro_object *k = ro_str_from_cstr(rt, "a long enough key"), *v = ro_float_from_double(rt, 2.5);
    assert_int_equal(ro_dict_set(rt, d, k, v), 0);
    assert_int_equal(ro_dict_count(rt, d, v, 3), 0);          /* a float key, an int value */
    assert_int_equal(k->ob_refcnt, 2);
    assert_int_equal(v->ob_refcnt, 3);
    int32_t *table = ((ro_dict *)d)->d_index;
    assert_int_equal(ro_dict_clear(rt, d), 0);
    assert_int_equal(ro_dict_len(d), 0);
    assert_int_equal(k->ob_refcnt, 1);
    assert_int_equal(v->ob_refcnt, 1);
    assert_ptr_equal(((ro_dict *)d)->d_index, table);         /* kept for the next fill */
    assert_null(ro_dict_get(rt, d, k));
    size_t pos = 0;
    ro_object *ik, *iv;
    assert_false(ro_dict_next(d, &pos, &ik, &iv));
    for (int64_t i = 0; i < 10; i++)                           /* refill: same table, same order */
        assert_int_equal(ro_dict_count(rt, d, ro_int_from_i64(rt, i), i), 0);
    assert_ptr_equal(((ro_dict *)d)->d_index, table);
    pos = 0;
    for (int64_t i = 0; i < 10; i++) {
        assert_true(ro_dict_next(d, &pos, &ik, &iv));
        assert_int_equal(ro_int_value(ik), i);
        assert_int_equal(ro_int_value(iv), i);
    }
    /* A container inside: the dict is tracked, the list is freed by clear. */
    ro_object *l = ro_list_new(rt, 0);
    assert_int_equal(ro_dict_set(rt, d, k, l), 0);
    assert_int_equal(ro_gc_is_tracked(d), 1);
    assert_int_equal(l->ob_refcnt, 2);
    assert_int_equal(ro_dict_clear(rt, d), 0);
    assert_int_equal(l->ob_refcnt, 1);
    assert_int_equal(ro_dict_len(d), 0);
    assert_int_equal(ro_dict_set(rt, d, k, v), 0);            /* usable again */
    assert_ptr_equal(ro_dict_get(rt, d, k), v);
    assert_int_equal(ro_dict_clear(rt, d), 0);
    assert_int_equal(v->ob_refcnt, 1);
    /* A big table of atoms goes back too; a dict with no table is fine. */
    ro_object *d2 = ro_dict_new(rt);
    assert_int_equal(ro_dict_clear(rt, d2), 0);
    ro_object *big = ro_int_from_i64(rt, 1000000);
    for (int64_t i = 0; i < 100; i++) {
        ro_object *key = ro_int_from_i64(rt, i + 1000);
        assert_int_equal(ro_dict_set(rt, d2, key, big), 0);
        ro_decref(rt, key);
    }
    assert_int_equal(ro_gc_is_tracked(d2), 0);
    assert_true(((ro_dict *)d2)->d_mask + 1 > 64);
    assert_int_equal(big->ob_refcnt, 101);
    assert_int_equal(ro_dict_clear(rt, d2), 0);
    assert_int_equal(big->ob_refcnt, 1);
    assert_int_equal(ro_dict_len(d2), 0);
    assert_null(((ro_dict *)d2)->d_index);
    ro_decref(rt, big);
    ro_decref(rt, d2);
    assert_int_equal(ro_dict_clear(rt, l), -1);
    assert_int_equal(ro_err_kind(rt), RO_E_TYPE);
    ro_err_clear(rt);
    ro_decref(rt, l); ro_decref(rt, k); ro_decref(rt, v); ro_decref(rt, d);
}

/* A presized dict takes n entries in the table it was made with (no
 * growth), holds them as any dict does, and still grows past n. Its room is
 * n exactly beyond the smallest table (5), so an 11-key dict's table (32
 * slots + 11 entries, 392 bytes) is pooled, not malloc'd; every table goes
 * back with the size it was made with (malloc'd bytes in use return to where
 * they were; a pooled block freed with another size trips the allocator's
 * class check). */
static void presized_dicts_take_n_entries_without_growing(void **state)
{
    ro_state *rt = RT(state);
    static const size_t sizes[] = {0, 1, 5, 6, 10, 11, 21, 22, 100, 1000};
    ro_mem_stats before, made;
    ro_mem_get_stats(rt, &before);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        ro_mem_stats m0;
        ro_mem_get_stats(rt, &m0);
        ro_object *o = ro_dict_new_presized(rt, n);
        assert_non_null(o);
        ro_dict *d = (ro_dict *)o;
        assert_int_equal(d->d_usable, n <= 5 ? (n == 0 && d->d_index == NULL ? 0 : 5) : n);
        if (n == 11) {
            ro_mem_get_stats(rt, &made);
            assert_int_equal(made.large_bytes_in_use, m0.large_bytes_in_use);
            assert_int_equal(d->d_mask + 1, 32);
        }
        int32_t *table = d->d_index;
        for (size_t i = 0; i < n; i++) {
            ro_object *k = ro_int_from_i64(rt, (int64_t)(i * 7919));
            assert_int_equal(ro_dict_set_steal(rt, o, k, ro_int_from_i64(rt, (int64_t)i)), 0);
            ro_decref(rt, k);
            if (n > 5)                              /* beyond the smallest table: made up front */
                assert_ptr_equal(d->d_index, table);
        }
        assert_int_equal(ro_dict_len(o), n);
        for (size_t i = 0; i < n; i++) {
            ro_object *k = ro_int_from_i64(rt, (int64_t)(i * 7919));
            ro_object *v = ro_dict_get(rt, o, k);
            assert_non_null(v);
            assert_int_equal(ro_int_value(v), (int64_t)i);
            ro_decref(rt, k);
        }
        size_t room = d->d_usable;
        for (size_t i = n; i <= room; i++) {         /* one past the room: it grows */
            ro_object *k = ro_int_from_i64(rt, (int64_t)(i * 7919));
            assert_int_equal(ro_dict_set_steal(rt, o, k, ro_int_from_i64(rt, (int64_t)i)), 0);
            ro_decref(rt, k);
        }
        assert_int_equal(ro_dict_len(o), room + 1);
        assert_true(d->d_usable > room);
        ro_decref(rt, o);
    }
    /* Dropped while still presized: by reference counting (atoms only), and
     * by the collector (the dict holds itself), each table freed with the
     * size it was made with. */
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int cyclic = 0; cyclic <= 1; cyclic++) {
            size_t n = sizes[s];
            if (n == 0)
                continue;
            ro_object *o = ro_dict_new_presized(rt, n);
            assert_non_null(o);
            for (size_t i = 0; i + cyclic < n; i++) {
                ro_object *k = ro_int_from_i64(rt, (int64_t)(i * 7919));
                assert_int_equal(ro_dict_set_steal(rt, o, k, ro_int_from_i64(rt, (int64_t)i)), 0);
                ro_decref(rt, k);
            }
            if (cyclic) {
                ro_object *k = ro_str_from_cstr(rt, "self");
                assert_int_equal(ro_dict_set(rt, o, k, o), 0);
                ro_decref(rt, k);
            }
            assert_int_equal(((ro_dict *)o)->d_usable, n <= 5 ? 5 : n);   /* still the table it was made with */
            ro_decref(rt, o);
            if (cyclic)
                assert_true(ro_gc_collect(rt, 0, NULL) >= 1);
        }
    }
    ro_gc_collect(rt, 0, NULL);
    ro_mem_stats after;
    ro_mem_get_stats(rt, &after);
    assert_int_equal(after.large_bytes_in_use, before.large_bytes_in_use);
}

/* n interned keys "k0".."k<n-1>" (new references) into keys. */
static void make_keys(ro_state *rt, ro_object **keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char name[24];
        snprintf(name, sizeof name, "k%zu", i);
        keys[i] = ro_str_intern_cstr(rt, name);
        assert_non_null(keys[i]);
    }
}

/* kv pairs of keys (new references) and ints base + i. */
static void fill_pairs(ro_state *rt, ro_object **kv, ro_object *const *keys, size_t n, int64_t base)
{
    for (size_t i = 0; i < n; i++) {
        ro_incref(keys[i]);
        kv[2 * i] = keys[i];
        kv[2 * i + 1] = ro_int_from_i64(rt, base + (int64_t)i);
        assert_non_null(kv[2 * i + 1]);
    }
}

/* A dict made from a layout is the dict the pairs make: same entries in the
 * same order, the same table, found by a key that is the layout's object and
 * by an equal one that is not (so the hashes it was given are the keys'),
 * and an ordinary dict after (it grows, loses entries, compares equal). The
 * layout holds one reference to each key while it lives. */
static void layouts_make_the_dicts_the_pairs_make(void **state)
{
    ro_state *rt = RT(state);
    static const size_t sizes[] = {1, 3, 5, 6, 11, 22, 700};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        ro_object **keys = calloc(n, sizeof *keys), **kv = calloc(2 * n, sizeof *kv);
        assert_non_null(keys);
        assert_non_null(kv);
        make_keys(rt, keys, n);
        fill_pairs(rt, kv, keys, n, 0);
        ro_object *first = ro_dict_from_pairs_steal(rt, kv, n);
        assert_non_null(first);
        uint32_t count0 = keys[0]->ob_refcnt;
        ro_dict_layout *l = ro_dict_layout_of(rt, first);
        assert_non_null(l);
        assert_int_equal(ro_dict_layout_len(l), n);
        assert_int_equal(keys[0]->ob_refcnt, count0 + 1);
        for (int round = 0; round < 3; round++) {       /* parked dicts and fresh ones */
            fill_pairs(rt, kv, keys, n, 1000 * (round + 1));
            assert_true(ro_dict_layout_matches(l, kv, n));
            ro_object *o = ro_dict_from_layout_steal(rt, l, kv);
            assert_non_null(o);
            ro_dict *d = (ro_dict *)o;
            assert_int_equal(ro_dict_len(o), n);
            assert_int_equal(d->d_mask, ((ro_dict *)first)->d_mask);
            assert_int_equal(d->d_usable, ((ro_dict *)first)->d_usable);
            size_t pos = 0, i = 0;
            ro_object *k, *v;
            while (ro_dict_next(o, &pos, &k, &v)) {
                assert_ptr_equal(k, keys[i]);
                assert_int_equal(ro_int_value(v), 1000 * (round + 1) + (int64_t)i);
                i++;
            }
            assert_int_equal(i, n);
            for (i = 0; i < n; i++) {
                char name[24];
                snprintf(name, sizeof name, "k%zu", i);
                ro_object *other = ro_str_from_cstr(rt, name);
                assert_ptr_not_equal(other, keys[i]);
                ro_object *by_identity = ro_dict_get(rt, o, keys[i]), *by_text = ro_dict_get(rt, o, other);
                assert_non_null(by_identity);
                assert_ptr_equal(by_identity, by_text);
                assert_int_equal(ro_int_value(by_identity), 1000 * (round + 1) + (int64_t)i);
                ro_decref(rt, other);
            }
            /* an ordinary dict: a new key, a deleted one, the rest still found */
            ro_object *extra = ro_str_from_cstr(rt, "extra");
            assert_int_equal(ro_dict_set(rt, o, extra, ro_none(rt)), 0);
            assert_int_equal(ro_dict_del(rt, o, keys[0]), 0);
            assert_null(ro_dict_get(rt, o, keys[0]));
            assert_ptr_equal(ro_dict_get(rt, o, extra), ro_none(rt));
            if (n > 1)
                assert_int_equal(ro_int_value(ro_dict_get(rt, o, keys[n - 1])), 1000 * (round + 1) + (int64_t)n - 1);
            ro_decref(rt, extra);
            ro_decref(rt, o);
        }
        ro_dict_layout_free(rt, l);
        assert_int_equal(keys[0]->ob_refcnt, count0);
        ro_decref(rt, first);
        for (size_t i = 0; i < n; i++)
            ro_decref(rt, keys[i]);
        free(keys);
        free(kv);
    }
}

/* Matching is by identity, in order and in number; what has no layout says
 * so without an error; a value that is a container tracks the dict (a cycle
 * through one is collected: else the teardown finds its bytes); out of
 * memory, making one fails cleanly and drops every reference it was given. */
static void layouts_match_by_identity_and_fail_cleanly(void **state)
{
    ro_state *rt = RT(state);
    ro_object *keys[3], *kv[6];
    make_keys(rt, keys, 3);
    fill_pairs(rt, kv, keys, 3, 0);
    ro_object *d = ro_dict_from_pairs_steal(rt, kv, 3);
    ro_dict_layout *l = ro_dict_layout_of(rt, d);
    assert_non_null(l);
    fill_pairs(rt, kv, keys, 3, 0);
    assert_true(ro_dict_layout_matches(l, kv, 3));
    assert_false(ro_dict_layout_matches(l, kv, 2));
    ro_object *swap = kv[2];
    kv[2] = kv[4];
    kv[4] = swap;
    assert_false(ro_dict_layout_matches(l, kv, 3));  /* k0 k2 k1 */
    kv[4] = kv[2];
    kv[2] = swap;
    ro_object *equal = ro_str_from_cstr(rt, "k1");
    ro_object *held = kv[2];
    kv[2] = equal;
    assert_false(ro_dict_layout_matches(l, kv, 3));  /* equal text, another object */
    kv[2] = held;
    ro_decref(rt, equal);
    for (int i = 0; i < 6; i++)
        ro_decref(rt, kv[i]);

    /* nothing to take a layout from */
    fill_pairs(rt, kv, keys, 3, 0);
    ro_object *empty = ro_dict_new(rt), *holes = ro_dict_from_pairs_steal(rt, kv, 3);
    assert_null(ro_dict_layout_of(rt, empty));
    assert_null(ro_dict_layout_of(rt, keys[0]));
    assert_int_equal(ro_dict_del(rt, holes, keys[1]), 0);
    assert_null(ro_dict_layout_of(rt, holes));
    assert_int_equal(ro_err_kind(rt), RO_OK);
    ro_decref(rt, empty);
    ro_decref(rt, holes);

    /* a cycle: the dict holds a list that holds the dict */
    fill_pairs(rt, kv, keys, 3, 0);
    ro_object *list = ro_list_new(rt, 0);
    ro_decref(rt, kv[3]);
    kv[3] = list;
    ro_incref(list);
    ro_object *cyc = ro_dict_from_layout_steal(rt, l, kv);
    assert_non_null(cyc);
    assert_int_equal(ro_list_append(rt, list, cyc), 0);
    ro_decref(rt, list);
    ro_decref(rt, cyc);
    assert_true(ro_gc_collect(rt, 0, NULL) >= 2);

    /* out of memory: the dict (a fresh one, its free list emptied), then the layout */
    ro_freelists_clear(rt);
    fill_pairs(rt, kv, keys, 3, 0);
    ro_mem_inject_failure(rt, 1, 1);
    assert_null(ro_dict_from_layout_steal(rt, l, kv));
    ro_mem_inject_failure(rt, 0, 0);
    assert_int_equal(ro_err_kind(rt), RO_E_NOMEM);
    ro_err_clear(rt);
    ro_mem_inject_failure(rt, 1, 1);
    assert_null(ro_dict_layout_of(rt, d));
    ro_mem_inject_failure(rt, 0, 0);
    assert_int_equal(ro_err_kind(rt), RO_E_NOMEM);
    ro_err_clear(rt);

    ro_dict_layout_free(rt, l);
    ro_dict_layout_free(rt, NULL);
    ro_decref(rt, d);
    for (int i = 0; i < 3; i++)
        ro_decref(rt, keys[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(million_int_keys_with_deletions, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(presized_dicts_take_n_entries_without_growing, test_rt_setup,
                                        test_rt_teardown),
        cmocka_unit_test_setup_teardown(str_keys_and_overwrites, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(unhashable_and_missing_keys_are_errors, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(numeric_keys_unify_like_python, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(dict_equality_ignores_order, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(count_adds_in_place_and_refuses_what_is_not_an_int, test_rt_setup,
                                        test_rt_teardown),
        cmocka_unit_test_setup_teardown(counts_across_the_small_int_bounds_match_plain_sums, test_rt_setup,
                                        test_rt_teardown),
        cmocka_unit_test_setup_teardown(clear_drops_every_reference_and_keeps_a_small_table, test_rt_setup,
                                        test_rt_teardown),
        cmocka_unit_test_setup_teardown(layouts_make_the_dicts_the_pairs_make, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(layouts_match_by_identity_and_fail_cleanly, test_rt_setup,
                                        test_rt_teardown),
    };
    return cmocka_run_group_tests_name("runtime/dict", tests, NULL, NULL);
}
