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
    };
    return cmocka_run_group_tests_name("runtime/dict", tests, NULL, NULL);
}
