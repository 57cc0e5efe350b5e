/* test_containers.c - tuples and lists, and dicts made from collected pairs. */
#include "testutil.h"

#include <string.h>

static void tuples_pack_index_and_compare(void **state)
{
    ro_state *rt = RT(state);
    ro_object *one = ro_int_from_i64(rt, 1), *s = ro_str_from_cstr(rt, "x");
    ro_object *t = ro_tuple_pack(rt, 2, one, s);
    ro_object *u = ro_tuple_pack(rt, 2, one, s);
    assert_int_equal(ro_tuple_len(t), 2);
    assert_ptr_equal(ro_tuple_get_item(rt, t, 1), s);
    assert_null(ro_tuple_get_item(rt, t, 2));
    assert_int_equal(ro_err_kind(rt), RO_E_INDEX);
    ro_err_clear(rt);
    assert_int_equal(ro_equal(rt, t, u), 1);
    uint64_t h1, h2;
    assert_int_equal(ro_hash(rt, t, &h1), 0);
    assert_int_equal(ro_hash(rt, u, &h2), 0);
    assert_true(h1 == h2);
    ro_object *v = ro_tuple_pack(rt, 2, s, one);   /* order matters */
    ro_hash(rt, v, &h2);
    assert_true(h1 != h2);
    assert_int_equal(ro_equal(rt, t, v), 0);
    ro_object *l = ro_list_new(rt, 0);
    ro_object *w = ro_tuple_pack(rt, 1, l);
    assert_int_equal(ro_hash(rt, w, &h1), -1);     /* a list inside: unhashable */
    assert_int_equal(ro_err_kind(rt), RO_E_TYPE);
    ro_err_clear(rt);
    ro_decref(rt, t); ro_decref(rt, u); ro_decref(rt, v); ro_decref(rt, w); ro_decref(rt, l);
    ro_decref(rt, one); ro_decref(rt, s);
}

/* t(k+1) = (t(k), t(k)): 64 levels are 2^64 item hashes unless each tuple's
 * hash is kept (found by fuzz_ro, which hung on such a dict key). Two DAGs
 * built apart hash alike; a slot filled after a hash makes the hash new. */
static void shared_subtuples_hash_once(void **state)
{
    ro_state *rt = RT(state);
    ro_object *a = ro_tuple_pack(rt, 1, ro_none(rt)), *b = ro_tuple_pack(rt, 1, ro_none(rt));
    for (int k = 0; k < 64; k++) {
        ro_object *na = ro_tuple_pack(rt, 2, a, a), *nb = ro_tuple_pack(rt, 2, b, b);
        ro_decref(rt, a);
        ro_decref(rt, b);
        a = na;
        b = nb;
    }
    uint64_t ha, hb;
    assert_int_equal(ro_hash(rt, a, &ha), 0);
    assert_int_equal(ro_hash(rt, b, &hb), 0);
    assert_true(ha == hb);
    ro_object *d = ro_dict_new(rt);
    assert_int_equal(ro_dict_set(rt, d, a, ro_none(rt)), 0);
    assert_non_null(ro_dict_get(rt, d, a));
    assert_non_null(ro_dict_get(rt, d, b));          /* equal: a == b compares each level once */
    assert_int_equal(ro_equal(rt, a, b), 1);
    ro_decref(rt, d);
    /* A missing key's message reprs it within a limit: 2^64 bytes in full. */
    ro_object *e = ro_dict_new(rt);
    assert_int_equal(ro_dict_del(rt, e, a), -1);
    assert_int_equal(ro_err_kind(rt), RO_E_KEY);
    assert_true(strlen(ro_err_msg(rt)) < 250);
    assert_non_null(strstr(ro_err_msg(rt), "... not in dict"));
    ro_err_clear(rt);
    ro_decref(rt, e);
    ro_decref(rt, a);
    ro_decref(rt, b);
    /* A bounded repr of a long list stops at its limit. */
    ro_object *big = ro_list_new(rt, 0);
    for (int i = 0; i < 100000; i++)
        ro_list_append_steal(rt, big, ro_int_from_i64(rt, 1000 + i));
    ro_sbuf sb = {.limit = 50};
    assert_int_equal(ro_sbuf_append_repr(rt, &sb, big), 0);
    assert_int_equal(sb.len, 50);
    assert_int_equal(strlen(sb.data), 50);
    assert_int_equal(strncmp(sb.data, "[1000, 1001, ", 13), 0);
    ro_sbuf_free(&sb);
    ro_decref(rt, big);

    ro_object *one = ro_int_from_i64(rt, 1), *two = ro_int_from_i64(rt, 2), *three = ro_int_from_i64(rt, 3);
    ro_object *t = ro_tuple_new(rt, 2);
    ro_tuple_set_item(rt, t, 0, one);
    ro_incref(two);
    ro_tuple_set_item(rt, t, 1, two);
    uint64_t h12, h13, fresh;
    assert_int_equal(ro_hash(rt, t, &h12), 0);
    ro_incref(three);
    ro_tuple_set_item(rt, t, 1, three);
    assert_int_equal(ro_hash(rt, t, &h13), 0);
    ro_object *u = ro_tuple_pack(rt, 2, one, three);
    assert_int_equal(ro_hash(rt, u, &fresh), 0);
    assert_true(h13 == fresh);
    assert_true(h12 != h13);
    ro_decref(rt, t);
    ro_decref(rt, u);
    ro_decref(rt, two);
    ro_decref(rt, three);
}

/* The macro, the variadic function and the array form build the same tuple;
 * freeing small tuples, lists and dicts of atoms (the path that frees the
 * items after dropping their counts) gives every byte back, including items
 * only the container held. */
static void tuple_forms_agree_and_free_their_items(void **state)
{
    ro_state *rt = RT(state);
    uint64_t base = test_bytes_in_use(rt);
    ro_object *a = ro_int_from_i64(rt, 100000), *b = ro_float_from_double(rt, 2.5);
    ro_object *items[3] = {a, b, a};
    ro_object *t1 = ro_tuple_pack(rt, 3, a, b, a);
    ro_object *t2 = (ro_tuple_pack)(rt, 3, a, b, a);
    ro_object *t3 = ro_tuple_from_array(rt, items, 3);
    assert_int_equal(ro_equal(rt, t1, t2), 1);
    assert_int_equal(ro_equal(rt, t1, t3), 1);
    assert_int_equal(a->ob_refcnt, 7);            /* 1 + 2 per tuple */
    ro_decref(rt, t1);
    ro_decref(rt, t2);
    assert_int_equal(a->ob_refcnt, 3);
    ro_decref(rt, a);
    ro_decref(rt, b);
    ro_decref(rt, t3);                            /* the last references: a and b die with it */
    for (int i = 0; i < 1000; i++) {              /* items that die with their tuple, 1..4 slots */
        ro_object *x = ro_int_from_i64(rt, 1000000 + i), *y = ro_str_from_format(rt, "s%d", i);
        ro_object *t = i % 4 == 0 ? ro_tuple_pack(rt, 1, x)
                     : i % 4 == 1 ? ro_tuple_pack(rt, 2, x, y)
                     : i % 4 == 2 ? ro_tuple_pack(rt, 3, y, x, y)
                                  : ro_tuple_pack(rt, 4, x, x, y, y);
        assert_non_null(t);
        ro_decref(rt, x);
        ro_decref(rt, y);
        ro_decref(rt, t);
    }
    for (int i = 0; i < 1000; i++) {              /* small lists and dicts whose items die with them */
        ro_object *x = ro_int_from_i64(rt, 2000000 + i), *y = ro_str_from_format(rt, "k%d", i);
        ro_object *l = ro_list_new(rt, 0), *d = ro_dict_new(rt);
        for (int j = 0; j <= i % 8; j++)
            assert_int_equal(ro_list_append(rt, l, j % 2 ? x : y), 0);
        assert_int_equal(ro_dict_set(rt, d, y, x), 0);
        if (i % 3 == 0)
            assert_int_equal(ro_dict_set_steal(rt, d, x, ro_float_from_double(rt, i)), 0);
        ro_decref(rt, x);
        ro_decref(rt, y);
        ro_decref(rt, i % 2 ? l : d);
        ro_decref(rt, i % 2 ? d : l);
    }
    ro_object *holes = ro_tuple_new(rt, 2);       /* unfilled slots are allowed to die */
    assert_int_equal(ro_tuple_set_item(rt, holes, 0, ro_int_from_i64(rt, 123456)), 0);
    ro_decref(rt, holes);
    ro_freelists_clear(rt);
    assert_int_equal(test_bytes_in_use(rt), base);
}

static void lists_grow_pop_and_replace(void **state)
{
    ro_state *rt = RT(state);
    ro_object *l = ro_list_new(rt, 0);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(ro_list_append_steal(rt, l, ro_int_from_i64(rt, i)), 0);
    assert_int_equal(ro_list_len(l), 100000);
    for (int i = 0; i < 100000; i += 997)
        assert_int_equal(ro_int_value(ro_list_get_item(rt, l, (size_t)i)), i);
    assert_int_equal(ro_list_set_item(rt, l, 5, ro_str_from_cstr(rt, "five")), 0);
    assert_string_equal(ro_str_utf8(ro_list_get_item(rt, l, 5)), "five");
    ro_object *last = ro_list_pop(rt, l);
    assert_int_equal(ro_int_value(last), 99999);
    ro_decref(rt, last);
    assert_int_equal(ro_list_len(l), 99999);
    assert_null(ro_list_get_item(rt, l, 99999));
    assert_int_equal(ro_err_kind(rt), RO_E_INDEX);
    ro_err_clear(rt);
    ro_object *notlist = ro_int_from_i64(rt, 9);
    assert_int_equal(ro_list_append(rt, notlist, notlist), -1);
    assert_int_equal(ro_err_kind(rt), RO_E_TYPE);
    ro_err_clear(rt);
    ro_list_clear_items(rt, l);
    assert_int_equal(ro_list_len(l), 0);
    ro_object *e = ro_list_new(rt, 0);
    assert_null(ro_list_pop(rt, e));
    assert_int_equal(ro_err_kind(rt), RO_E_INDEX);
    ro_err_clear(rt);
    ro_decref(rt, l);
    ro_decref(rt, e);
}

/* A list made from collected items takes their references in order; it is
 * tracked only when an item is a container; no items is an empty list. */
static void list_from_array_takes_the_items(void **state)
{
    ro_state *rt = RT(state);
    ro_object *s = ro_str_from_cstr(rt, "s"), *f = ro_float_from_double(rt, 1.5);
    ro_incref(s);
    ro_incref(f);
    ro_object *atoms[] = {s, ro_int_from_i64(rt, 7), f};
    ro_object *l = ro_list_from_array_steal(rt, atoms, 3);
    assert_non_null(l);
    assert_int_equal(ro_list_len(l), 3);
    assert_ptr_equal(ro_list_get_item(rt, l, 0), s);
    assert_int_equal(ro_int_value(ro_list_get_item(rt, l, 1)), 7);
    assert_ptr_equal(ro_list_get_item(rt, l, 2), f);
    assert_int_equal(s->ob_refcnt, 2);                /* the caller's one went to the list */
    assert_int_equal(ro_gc_is_tracked(l), 0);
    ro_object *inner[] = {ro_int_from_i64(rt, 1), l};  /* l's reference goes to outer */
    ro_object *outer = ro_list_from_array_steal(rt, inner, 2);
    assert_int_equal(ro_gc_is_tracked(outer), 1);
    assert_ptr_equal(ro_list_get_item(rt, outer, 1), l);
    ro_object *empty = ro_list_from_array_steal(rt, NULL, 0);
    assert_int_equal(ro_list_len(empty), 0);
    assert_int_equal(ro_list_append_steal(rt, empty, ro_int_from_i64(rt, 3)), 0);
    ro_decref(rt, outer);                              /* frees l too */
    assert_int_equal(s->ob_refcnt, 1);
    assert_int_equal(f->ob_refcnt, 1);
    ro_decref(rt, empty); ro_decref(rt, s); ro_decref(rt, f);
}

/* A dict made from collected pairs: insertion order, a duplicate keeps its
 * first place and its last value, keys of any hashable kind (interned, not
 * yet hashed, ints), tracked only with a container value; an unhashable key
 * fails and every reference given is still taken (teardown finds no leak). */
static void dict_from_pairs_last_wins_and_takes_every_reference(void **state)
{
    ro_state *rt = RT(state);
    ro_object *a = ro_str_intern_cstr(rt, "a"), *b = ro_str_from_cstr(rt, "b");   /* b: no hash yet */
    ro_object *v1 = ro_float_from_double(rt, 1.0), *v2 = ro_float_from_double(rt, 2.0);
    ro_incref(a); ro_incref(b); ro_incref(v1); ro_incref(v2);
    ro_object *kv[] = {a, v1, b, ro_int_from_i64(rt, 2), ro_int_from_i64(rt, 1000), ro_none(rt), a, v2};
    ro_object *d = ro_dict_from_pairs_steal(rt, kv, 4);
    assert_non_null(d);
    assert_int_equal(ro_dict_len(d), 3);
    assert_ptr_equal(ro_dict_get(rt, d, a), v2);      /* the last value ... */
    size_t pos = 0;
    ro_object *k, *v;
    assert_true(ro_dict_next(d, &pos, &k, &v));
    assert_ptr_equal(k, a);                           /* ... in the first place */
    assert_true(ro_dict_next(d, &pos, &k, &v));
    assert_ptr_equal(k, b);
    assert_int_equal(ro_int_value(v), 2);
    assert_true(ro_dict_next(d, &pos, &k, &v));
    assert_int_equal(ro_int_value(k), 1000);
    assert_ptr_equal(v, ro_none(rt));
    assert_int_equal(v1->ob_refcnt, 1);               /* replaced: the dict's reference dropped */
    assert_int_equal(v2->ob_refcnt, 2);
    assert_int_equal(b->ob_refcnt, 2);
    assert_int_equal(ro_gc_is_tracked(d), 0);
    /* A container value: tracked. */
    ro_incref(a);
    ro_object *kv2[] = {a, d};
    ro_object *outer = ro_dict_from_pairs_steal(rt, kv2, 1);
    assert_int_equal(ro_gc_is_tracked(outer), 1);
    assert_ptr_equal(ro_dict_get(rt, outer, a), d);
    /* An unhashable key in the middle: NULL, and all six references taken. */
    ro_object *l = ro_list_new(rt, 0);
    ro_incref(l);
    ro_incref(b); ro_incref(v1); ro_incref(v2);
    ro_object *bad[] = {b, v1, l, ro_int_from_i64(rt, 5), ro_str_from_cstr(rt, "after"), v2};
    assert_null(ro_dict_from_pairs_steal(rt, bad, 3));
    assert_int_equal(ro_err_kind(rt), RO_E_TYPE);
    ro_err_clear(rt);
    assert_int_equal(l->ob_refcnt, 1);
    assert_int_equal(b->ob_refcnt, 2);                /* d still holds b */
    assert_int_equal(v1->ob_refcnt, 1);
    assert_int_equal(v2->ob_refcnt, 2);
    ro_object *none = ro_dict_from_pairs_steal(rt, NULL, 0);
    assert_int_equal(ro_dict_len(none), 0);
    ro_decref(rt, none); ro_decref(rt, l); ro_decref(rt, outer);
    ro_decref(rt, b); ro_decref(rt, v1); ro_decref(rt, v2);   /* a's two went to kv, the third to kv2 */
}

static void list_equality_is_element_wise(void **state)
{
    ro_state *rt = RT(state);
    ro_object *a = ro_list_new(rt, 0), *b = ro_list_new(rt, 0);
    ro_list_append_steal(rt, a, ro_int_from_i64(rt, 1));
    ro_list_append_steal(rt, b, ro_float_from_double(rt, 1.0));
    assert_int_equal(ro_equal(rt, a, b), 1);
    ro_list_append_steal(rt, b, ro_int_from_i64(rt, 2));
    assert_int_equal(ro_equal(rt, a, b), 0);
    uint64_t h;
    assert_int_equal(ro_hash(rt, a, &h), -1);
    assert_non_null(strstr(ro_err_msg(rt), "unhashable type: 'list'"));
    ro_err_clear(rt);
    ro_decref(rt, a);
    ro_decref(rt, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tuples_pack_index_and_compare, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(shared_subtuples_hash_once, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(tuple_forms_agree_and_free_their_items, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(lists_grow_pop_and_replace, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(list_equality_is_element_wise, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(list_from_array_takes_the_items, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(dict_from_pairs_last_wins_and_takes_every_reference, test_rt_setup,
                                        test_rt_teardown),
    };
    return cmocka_run_group_tests_name("runtime/containers", tests, NULL, NULL);
}
