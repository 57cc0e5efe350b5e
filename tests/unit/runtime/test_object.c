/* test_object.c - the object model: types, shared ints, aliasing, lifetimes. */
#include "testutil.h"

#include <string.h>

static void type_of_type_is_type(void **state)
{
    ro_state *rt = RT(state);
    ro_type *type = ro_builtin_type(rt, RO_K_TYPE);
    ro_type *int_t = ro_builtin_type(rt, RO_K_INT);
    ro_object *i = ro_int_from_i64(rt, 1000);
    assert_ptr_equal(RO_TYPE(i), int_t);
    assert_ptr_equal(RO_TYPE(int_t), type);
    assert_ptr_equal(RO_TYPE(type), type);
    for (int k = 0; k < RO_K_USER; k++)
        assert_ptr_equal(RO_TYPE(ro_builtin_type(rt, (ro_kind)k)), type);
    assert_string_equal(int_t->tp_name, "int");
    assert_null(ro_builtin_type(rt, RO_K_USER));
    assert_int_equal(ro_err_kind(rt), RO_E_VALUE);
    ro_err_clear(rt);
    ro_decref(rt, i);
}

static void small_ints_are_shared_others_are_not(void **state)
{
    ro_state *rt = RT(state);
    ro_object *a = ro_int_from_i64(rt, 100), *b = ro_int_from_i64(rt, 100);
    assert_ptr_equal(a, b);
    ro_object *lo1 = ro_int_from_i64(rt, -5), *lo2 = ro_int_from_i64(rt, -5);
    assert_ptr_equal(lo1, lo2);
    ro_object *c = ro_int_from_i64(rt, 1000), *d = ro_int_from_i64(rt, 1000);
    assert_ptr_not_equal(c, d);
    assert_int_equal(ro_equal(rt, c, d), 1);
    ro_object *e = ro_int_from_i64(rt, 257), *f = ro_int_from_i64(rt, 257);
    assert_ptr_not_equal(e, f);
    ro_object *g = ro_int_from_i64(rt, -6), *h = ro_int_from_i64(rt, -6);
    assert_ptr_not_equal(g, h);
    ro_decref(rt, a); ro_decref(rt, b); ro_decref(rt, lo1); ro_decref(rt, lo2);
    ro_decref(rt, c); ro_decref(rt, d); ro_decref(rt, e); ro_decref(rt, f);
    ro_decref(rt, g); ro_decref(rt, h);
}

static void ints_round_trip_every_layout(void **state)
{
    ro_state *rt = RT(state);
    const int64_t values[] = {0, 1, -1, 256, 257, -5, -6, INT32_MAX, INT32_MIN, (int64_t)INT32_MIN + 1,
                              (int64_t)INT32_MAX + 1, (int64_t)INT32_MIN - 1, INT64_MAX, INT64_MIN,
                              1760000000, 1ll << 40};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        ro_object *o = ro_int_from_i64(rt, values[i]);
        assert_non_null(o);
        int64_t v = 0;
        assert_int_equal(ro_int_as_i64(rt, o, &v), 0);
        assert_true(v == values[i]);
        bool compact = values[i] > INT32_MIN && values[i] <= INT32_MAX;
        assert_int_equal(ro_object_sizeof(o), compact ? 16 : 24);
        ro_decref(rt, o);
    }
}

static void none_and_bools_are_singletons(void **state)
{
    ro_state *rt = RT(state);
    assert_ptr_equal(ro_bool(rt, 5), ro_true(rt));
    assert_ptr_equal(ro_bool(rt, 0), ro_false(rt));
    assert_string_equal(RO_TYPE(ro_none(rt))->tp_name, "NoneType");
    assert_null(ro_object_new(rt, RO_TYPE(ro_none(rt)), 0));
    assert_int_equal(ro_err_kind(rt), RO_E_TYPE);
    ro_err_clear(rt);
    ro_object *one = ro_int_from_i64(rt, 1);
    assert_int_equal(ro_equal(rt, ro_true(rt), one), 1);
    uint64_t h1, h2;
    assert_int_equal(ro_hash(rt, ro_true(rt), &h1), 0);
    assert_int_equal(ro_hash(rt, one, &h2), 0);
    assert_true(h1 == h2);
}

static void list_aliases_see_appends(void **state)
{
    ro_state *rt = RT(state);
    ro_object *a = ro_list_new(rt, 0);
    ro_object *b = a;               /* b = a */
    ro_incref(b);
    assert_int_equal(ro_list_append_steal(rt, a, ro_int_from_i64(rt, 7)), 0);
    assert_int_equal(ro_list_len(b), 1);
    assert_int_equal(ro_int_value(ro_list_get_item(rt, b, 0)), 7);
    ro_decref(rt, a);
    assert_int_equal(ro_list_len(b), 1);   /* b still holds the list */
    ro_decref(rt, b);
}

static void rebinding_a_str_leaves_its_alias(void **state)
{
    ro_state *rt = RT(state);
    ro_object *a = ro_str_from_cstr(rt, "spam");
    ro_object *b = a;               /* b = a */
    ro_incref(b);
    ro_object *suffix = ro_str_from_cstr(rt, "!");
    ro_object *na = ro_str_concat(rt, a, suffix);   /* a = a + "!" */
    ro_decref(rt, a);
    a = na;
    assert_string_equal(ro_str_utf8(a), "spam!");
    assert_string_equal(ro_str_utf8(b), "spam");
    ro_decref(rt, a); ro_decref(rt, b); ro_decref(rt, suffix);
}

static void refcount_zero_frees_the_memory(void **state)
{
    ro_state *rt = RT(state);
    uint64_t base = test_bytes_in_use(rt);
    ro_object *l = ro_list_new(rt, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(ro_list_append_steal(rt, l, ro_float_from_double(rt, i + 0.5)), 0);
    ro_object *s = ro_str_from_cstr(rt, "kept");
    ro_list_append(rt, l, s);
    assert_int_equal(s->ob_refcnt, 2);
    assert_true(test_bytes_in_use(rt) > base + 1000 * 24);
    ro_decref(rt, l);
    assert_int_equal(s->ob_refcnt, 1);
    ro_decref(rt, s);
    ro_freelists_clear(rt);
    assert_int_equal(test_bytes_in_use(rt), base);
}

static void generic_creation_gives_zero_values(void **state)
{
    ro_state *rt = RT(state);
    ro_object *i = ro_object_new(rt, ro_builtin_type(rt, RO_K_INT), 0);
    assert_int_equal(ro_int_value(i), 0);
    ro_object *f = ro_object_new(rt, ro_builtin_type(rt, RO_K_FLOAT), 0);
    assert_true(ro_float_value(f) == 0.0);
    ro_object *s = ro_object_new(rt, ro_builtin_type(rt, RO_K_STR), 0);
    assert_int_equal(ro_str_nbytes(s), 0);
    assert_string_equal(ro_str_utf8(s), "");
    ro_object *l = ro_object_new(rt, ro_builtin_type(rt, RO_K_LIST), 0);
    assert_int_equal(ro_list_append_steal(rt, l, ro_int_from_i64(rt, 3)), 0);
    ro_object *d = ro_object_new(rt, ro_builtin_type(rt, RO_K_DICT), 0);
    assert_int_equal(ro_dict_set(rt, d, s, i), 0);
    assert_ptr_equal(ro_dict_get(rt, d, s), i);
    ro_object *t = ro_object_new(rt, ro_builtin_type(rt, RO_K_TUPLE), 2);
    assert_int_equal(ro_tuple_len(t), 2);
    ro_tuple_set_item(rt, t, 0, ro_int_from_i64(rt, 1));
    ro_tuple_set_item(rt, t, 1, ro_int_from_i64(rt, 2));
    ro_object *fl = ro_object_new(rt, ro_builtin_type(rt, RO_K_FILE), 0);
    assert_true(ro_file_is_closed(fl));
    assert_int_equal(ro_file_fileno(fl), -1);
    assert_null(ro_file_read(rt, fl, 1));
    assert_int_equal(ro_err_kind(rt), RO_E_CLOSED);
    ro_err_clear(rt);
    assert_null(ro_object_new(rt, ro_builtin_type(rt, RO_K_INT), 3));
    assert_int_equal(ro_err_kind(rt), RO_E_VALUE);
    ro_err_clear(rt);
    ro_object *objs[] = {i, f, s, l, d, t, fl};
    for (size_t k = 0; k < sizeof objs / sizeof objs[0]; k++)
        ro_decref(rt, objs[k]);
}

static void check_repr(ro_state *rt, ro_object *o, const char *want)
{
    ro_object *r = ro_repr(rt, o);
    assert_non_null(r);
    assert_string_equal(ro_str_utf8(r), want);
    ro_decref(rt, r);
}

static void repr_matches_python(void **state)
{
    ro_state *rt = RT(state);
    ro_object *l = ro_list_new(rt, 0);
    ro_list_append_steal(rt, l, ro_int_from_i64(rt, -42));
    ro_list_append_steal(rt, l, ro_str_from_cstr(rt, "it's\n"));
    ro_list_append_steal(rt, l, ro_float_from_double(rt, 0.1));
    ro_list_append(rt, l, ro_none(rt));
    ro_list_append(rt, l, ro_true(rt));
    ro_list_append_steal(rt, l, ro_bytes_from(rt, "a\x01", 2));
    check_repr(rt, l, "[-42, 'it\\'s\\n', 0.1, None, True, b'a\\x01']");
    ro_list_append(rt, l, l);    /* a list containing itself */
    check_repr(rt, l, "[-42, 'it\\'s\\n', 0.1, None, True, b'a\\x01', [...]]");
    ro_list_clear_items(rt, l);  /* break the cycle before dropping */
    ro_decref(rt, l);
    ro_object *t1 = ro_tuple_pack(rt, 1, ro_none(rt));
    check_repr(rt, t1, "(None,)");
    ro_object *d = ro_dict_new(rt);
    ro_dict_set_cstr_steal(rt, d, "b", ro_int_from_i64(rt, 2));
    ro_dict_set_cstr_steal(rt, d, "a", t1);
    check_repr(rt, d, "{'b': 2, 'a': (None,)}");
    ro_decref(rt, d);
}

static void float_repr_is_shortest_round_trip(void **state)
{
    ro_state *rt = RT(state);
    static const struct { double v; const char *want; } cases[] = {
        {1.0, "1.0"}, {0.1, "0.1"}, {-2.5, "-2.5"}, {1e16, "1e+16"}, {1e15, "1000000000000000.0"},
        {123456789.125, "123456789.125"}, {0.0001, "0.0001"}, {0.00001, "1e-05"},
        {1.0 / 3.0, "0.3333333333333333"}, {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
        {-0.0, "-0.0"}, {0.0, "0.0"}, {100.0, "100.0"}, {2.5e-7, "2.5e-07"}, {123.456, "123.456"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ro_object *f = ro_float_from_double(rt, cases[i].v);
        check_repr(rt, f, cases[i].want);
        ro_decref(rt, f);
    }
}

static void numbers_compare_across_types(void **state)
{
    ro_state *rt = RT(state);
    ro_object *i = ro_int_from_i64(rt, 3), *f = ro_float_from_double(rt, 3.0);
    ro_object *g = ro_float_from_double(rt, 3.5), *big = ro_int_from_i64(rt, INT64_MAX);
    ro_object *fbig = ro_float_from_double(rt, 9223372036854775807.0);
    assert_int_equal(ro_equal(rt, i, f), 1);
    assert_int_equal(ro_equal(rt, i, g), 0);
    assert_int_equal(ro_equal(rt, big, fbig), 0);   /* 2^63 as double != 2^63 - 1 */
    uint64_t hi, hf;
    ro_hash(rt, i, &hi);
    ro_hash(rt, f, &hf);
    assert_true(hi == hf);
    ro_object *s = ro_str_from_cstr(rt, "3");
    assert_int_equal(ro_equal(rt, i, s), 0);
    ro_decref(rt, i); ro_decref(rt, f); ro_decref(rt, g); ro_decref(rt, big); ro_decref(rt, fbig);
    ro_decref(rt, s);
}

/* A user-defined container: a node with one reference. */
typedef struct node {
    ro_object ob_base;
    ro_object *next;
} node;

static int node_traverse(ro_object *o, ro_visit_fn visit, void *arg)
{
    RO_VISIT(((node *)o)->next, visit, arg);
    return 0;
}

static void node_clear(ro_state *rt, ro_object *o)
{
    RO_CLEAR(rt, ((node *)o)->next);
}

static void heap_types_are_objects_kept_alive_by_instances(void **state)
{
    ro_state *rt = RT(state);
    uint64_t base = test_bytes_in_use(rt);
    ro_type_spec spec = {.name = "node", .basicsize = sizeof(node), .flags = RO_TPFLAG_GC,
                         .traverse = node_traverse, .clear = node_clear};
    ro_type *t = ro_type_new(rt, &spec);
    assert_non_null(t);
    assert_ptr_equal(RO_TYPE(t), ro_builtin_type(rt, RO_K_TYPE));
    ro_object *n = ro_object_new(rt, t, 0);
    assert_ptr_equal(RO_TYPE(n), t);
    assert_int_equal(RO_OBJ(t)->ob_refcnt, 2);
    ro_decref(rt, RO_OBJ(t));   /* the instance keeps its type alive */
    assert_string_equal(RO_TYPE(n)->tp_name, "node");
    ro_decref(rt, n);           /* now both go */
    assert_int_equal(test_bytes_in_use(rt), base);
    spec.clear = NULL;
    assert_null(ro_type_new(rt, &spec));
    assert_int_equal(ro_err_kind(rt), RO_E_VALUE);
    ro_err_clear(rt);
}

static void deep_chains_free_without_recursion(void **state)
{
    ro_state *rt = RT(state);
    uint64_t base = test_bytes_in_use(rt);
    ro_object *head = ro_list_new(rt, 0);
    for (int i = 0; i < 1000000; i++) {   /* [[[[...]]]] a million deep */
        ro_object *outer = ro_list_new(rt, 1);
        assert_int_equal(ro_list_append_steal(rt, outer, head), 0);
        head = outer;
    }
    ro_decref(rt, head);
    ro_freelists_clear(rt);
    assert_int_equal(test_bytes_in_use(rt), base);
    /* The same through tuples and dicts, which free themselves (no ro_dealloc). */
    ro_object *key = ro_str_from_cstr(rt, "k");
    head = ro_list_new(rt, 0);
    for (int i = 0; i < 600000; i++) {    /* (…,) {'k': …} […] in turn */
        ro_object *outer;
        if (i % 3 == 0) {
            outer = ro_tuple_pack(rt, 1, head);
        } else if (i % 3 == 1) {
            outer = ro_dict_new(rt);
            assert_int_equal(ro_dict_set(rt, outer, key, head), 0);
        } else {
            outer = ro_list_new(rt, 0);
            assert_int_equal(ro_list_append(rt, outer, head), 0);
        }
        assert_non_null(outer);
        ro_decref(rt, head);
        head = outer;
    }
    ro_decref(rt, head);
    ro_decref(rt, key);
    ro_freelists_clear(rt);
    assert_int_equal(test_bytes_in_use(rt), base);
    /* Long lists deep in a chain: past the depth bound they are drained from
     * the trash untracked, so their items go through ro_drop_atoms although
     * they hold containers (the child list, tuples, dicts, lists) and atoms
     * (ints, floats) that die with them. */
    head = ro_list_new(rt, 0);
    for (int i = 0; i < 300; i++) {
        ro_object *outer = ro_list_new(rt, 0);
        assert_int_equal(ro_list_append_steal(rt, outer, head), 0);
        for (int j = 0; j < 19; j++) {
            ro_object *x;
            switch (j % 5) {
            case 0: x = ro_tuple_pack(rt, 1, ro_none(rt)); break;
            case 1: x = ro_dict_new(rt); break;
            case 2: x = ro_list_new(rt, 0); break;
            case 3: x = ro_int_from_i64(rt, 100000 + i * 19 + j); break;
            default: x = ro_float_from_double(rt, i + j * 0.5); break;
            }
            assert_non_null(x);
            assert_int_equal(ro_list_append_steal(rt, outer, x), 0);
        }
        head = outer;
    }
    ro_decref(rt, head);
    ro_freelists_clear(rt);
    assert_int_equal(test_bytes_in_use(rt), base);
}

static void overflowing_count_saturates_to_immortal(void **state)
{
    ro_state *rt = RT(state);
    ro_object *o = ro_int_from_i64(rt, 123456);
    o->ob_refcnt = RO_IMMORTAL - 1;
    ro_incref(o);
    assert_int_equal(o->ob_refcnt, RO_IMMORTAL);
    ro_decref(rt, o);
    assert_int_equal(o->ob_refcnt, RO_IMMORTAL);   /* never freed, never wraps */
    o->ob_refcnt = 1;                              /* (let the test release it) */
    ro_decref(rt, o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(type_of_type_is_type, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(small_ints_are_shared_others_are_not, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(ints_round_trip_every_layout, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(none_and_bools_are_singletons, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(list_aliases_see_appends, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(rebinding_a_str_leaves_its_alias, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(refcount_zero_frees_the_memory, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(generic_creation_gives_zero_values, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(repr_matches_python, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(float_repr_is_shortest_round_trip, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(numbers_compare_across_types, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(heap_types_are_objects_kept_alive_by_instances, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(deep_chains_free_without_recursion, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(overflowing_count_saturates_to_immortal, test_rt_setup, test_rt_teardown),
    };
    return cmocka_run_group_tests_name("runtime/object", tests, NULL, NULL);
}
