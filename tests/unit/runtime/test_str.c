/* test_str.c - UTF-8 strings: validation, lengths, hashing, interning. */
#include "testutil.h"
#include "ro_internal.h"

#include <stdio.h>
#include <string.h>

static void valid_utf8_counts_code_points(void **state)
{
    ro_state *rt = RT(state);
    static const struct { const char *s; size_t bytes, cps; } cases[] = {
        {"", 0, 0}, {"abc", 3, 3}, {"caf\xc3\xa9", 5, 4}, {"\xe2\x82\xac", 3, 1},
        {"\xf0\x9d\x84\x9e", 4, 1}, {"a\xf4\x8f\xbf\xbfz", 6, 3}, {"\xed\x9f\xbf", 3, 1},
        {"0123456789abcdef\xc3\xa9", 18, 17},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ro_object *s = ro_str_from_utf8(rt, cases[i].s, cases[i].bytes);
        assert_non_null(s);
        assert_int_equal(ro_str_nbytes(s), cases[i].bytes);
        assert_int_equal(ro_str_len(s), cases[i].cps);
        assert_memory_equal(ro_str_utf8(s), cases[i].s, cases[i].bytes);
        ro_decref(rt, s);
    }
}

static void invalid_utf8_is_an_error_naming_the_offset(void **state)
{
    ro_state *rt = RT(state);
    static const struct { const char *s; size_t n; const char *where; } cases[] = {
        {"ab\x80", 3, "byte 2"},               /* lone continuation */
        {"\xc0\x80", 2, "byte 0"},             /* overlong NUL */
        {"\xc1\xbf", 2, "byte 0"},             /* overlong */
        {"x\xe0\x80\x80", 4, "byte 1"},        /* overlong 3-byte */
        {"\xed\xa0\x80", 3, "byte 0"},         /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, "byte 0"},     /* past U+10FFFF */
        {"\xf0\x80\x80\x80", 4, "byte 0"},     /* overlong 4-byte */
        {"abc\xe2\x82", 5, "byte 3"},          /* truncated */
        {"\xff", 1, "byte 0"},
        {"\xc3\x28", 2, "byte 0"},             /* bad continuation */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_null(ro_str_from_utf8(rt, cases[i].s, cases[i].n));
        assert_int_equal(ro_err_kind(rt), RO_E_UNICODE);
        assert_non_null(strstr(ro_err_msg(rt), cases[i].where));
        ro_err_clear(rt);
    }
}

/* Reference vector from the SipHash paper (appendix A): SipHash-2-4 with key
 * 00..0f over the 15 bytes 00..0e, and over the empty message. */
static void siphash_matches_the_reference_vectors(void **state)
{
    (void)state;
    uint8_t msg[64];
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    uint64_t k0 = 0x0706050403020100ull, k1 = 0x0f0e0d0c0b0a0908ull;
    assert_true(ro_siphash(k0, k1, 2, 4, msg, 0) == 0x726fdb47dd0e0e31ull);
    assert_true(ro_siphash(k0, k1, 2, 4, msg, 15) == 0xa129ca6149be45e5ull);
}

static void equal_strings_hash_alike_and_hash_is_cached(void **state)
{
    ro_state *rt = RT(state);
    ro_object *a = ro_str_from_cstr(rt, "user_id"), *b = ro_str_from_format(rt, "user_%s", "id");
    uint64_t ha, hb;
    assert_int_equal(ro_hash(rt, a, &ha), 0);
    assert_int_equal(ro_hash(rt, b, &hb), 0);
    assert_true(ha == hb);
    assert_true(((ro_str *)a)->s_state & RO_STR_HASHED);
    assert_int_equal(ro_equal(rt, a, b), 1);
    ro_decref(rt, a);
    ro_decref(rt, b);
}

static void interned_equal_strings_are_one_object(void **state)
{
    ro_state *rt = RT(state);
    ro_object *a = ro_str_from_cstr(rt, "events"), *b = ro_str_from_cstr(rt, "events");
    assert_ptr_not_equal(a, b);
    assert_int_equal(ro_str_intern(rt, &a), 0);
    assert_int_equal(ro_str_intern(rt, &b), 0);
    assert_ptr_equal(a, b);
    ro_object *c = ro_str_intern_cstr(rt, "events");
    assert_ptr_equal(a, c);
    assert_int_equal(ro_str_interned_count(rt), 1);
    ro_object *n = ro_int_from_i64(rt, 3);
    assert_int_equal(ro_str_intern(rt, &n), -1);
    assert_int_equal(ro_err_kind(rt), RO_E_TYPE);
    ro_err_clear(rt);
    ro_decref(rt, a);
    ro_decref(rt, b);
    assert_int_equal(ro_str_intern_prune(rt), 0);   /* c still holds it */
    ro_decref(rt, c);
    assert_int_equal(ro_str_intern_prune(rt), 1);   /* only the table held it */
    assert_int_equal(ro_str_interned_count(rt), 0);
}

static void intern_table_grows_and_prunes(void **state)
{
    ro_state *rt = RT(state);
    uint64_t base = test_bytes_in_use(rt);
    ro_object *keep = NULL;
    for (int i = 0; i < 10000; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "tag-%d", i);
        ro_object *s = ro_str_intern_cstr(rt, buf);
        assert_non_null(s);
        if (i == 1234)
            keep = s;
        else
            ro_decref(rt, s);
    }
    assert_int_equal(ro_str_interned_count(rt), 10000);
    ro_object *again = ro_str_intern_cstr(rt, "tag-1234");
    assert_ptr_equal(again, keep);
    ro_decref(rt, again);
    assert_int_equal(ro_str_intern_prune(rt), 9999);
    assert_int_equal(ro_str_interned_count(rt), 1);
    ro_decref(rt, keep);
    assert_int_equal(ro_str_intern_prune(rt), 1);
    assert_int_equal(test_bytes_in_use(rt), base);
}

static void compare_is_byte_order(void **state)
{
    ro_state *rt = RT(state);
    ro_object *a = ro_str_from_cstr(rt, "ab"), *b = ro_str_from_cstr(rt, "abc");
    ro_object *c = ro_str_from_cstr(rt, "\xc3\xa9"), *d = ro_str_from_cstr(rt, "z");
    assert_true(ro_str_compare(a, b) < 0);
    assert_true(ro_str_compare(b, a) > 0);
    assert_true(ro_str_compare(d, c) < 0);    /* U+00E9 sorts after 'z' */
    assert_int_equal(ro_str_compare(a, a), 0);
    /* the empty text first; a NUL inside a text is a byte like any other */
    ro_object *e = ro_str_from_cstr(rt, ""), *n = ro_str_from_utf8(rt, "\0", 1);
    assert_true(ro_str_compare(e, a) < 0 && ro_str_compare(a, e) > 0);
    assert_int_equal(ro_str_compare(e, e), 0);
    assert_true(ro_str_compare(e, n) < 0 && ro_str_compare(n, e) > 0);
    assert_true(ro_str_compare(n, a) < 0);
    ro_decref(rt, e); ro_decref(rt, n);
    ro_decref(rt, a); ro_decref(rt, b); ro_decref(rt, c); ro_decref(rt, d);
}

static void bytes_hold_any_bytes(void **state)
{
    ro_state *rt = RT(state);
    ro_object *b = ro_bytes_from(rt, "\x00\xff\x80", 3);
    assert_int_equal(ro_bytes_len(b), 3);
    assert_memory_equal(ro_bytes_data(b), "\x00\xff\x80", 3);
    ro_object *c = ro_bytes_from(rt, "\x00\xff\x80", 3);
    assert_int_equal(ro_equal(rt, b, c), 1);
    uint64_t h1, h2;
    ro_hash(rt, b, &h1);
    ro_hash(rt, c, &h2);
    assert_true(h1 == h2);
    ro_decref(rt, b);
    ro_decref(rt, c);
}

/* ro_str_shared_utf8: the same short text is the same object while it stays
 * cached (each call a reference of its own); long texts are never shared;
 * a slot taken by another text leaves the old string intact for whoever
 * holds it; the cache keeps at most its slots' worth of strings however many
 * distinct ones pass, and ro_freelists_clear drops them. */
static void shared_strings_are_one_object_and_bounded(void **state)
{
    ro_state *rt = RT(state);
    ro_freelists_clear(rt);
    uint64_t base = test_bytes_in_use(rt);
    ro_object *a = ro_str_shared_utf8(rt, "click", 5), *b = ro_str_shared_utf8(rt, "click", 5);
    assert_ptr_equal(a, b);
    assert_int_equal(a->ob_refcnt, 3);                       /* a, b and the cache */
    assert_string_equal(ro_str_utf8(a), "click");
    assert_int_equal(ro_str_len(a), 5);
    ro_object *c = ro_str_shared_utf8(rt, "clicks", 6);
    assert_ptr_not_equal(a, c);
    /* Given as a word (as a parser that loaded it has it), a text is the
     * same object as given as bytes, at every length up to 8; texts that
     * differ only by trailing NULs (the same word) are not. */
    const char *text = "abcdefgh";
    for (size_t n = 1; n <= 8; n++) {
        uint64_t w = 0;
        for (size_t i = 0; i < n; i++)
            w |= (uint64_t)(unsigned char)text[i] << (8 * i);
        ro_object *x = ro_str_shared_utf8(rt, text, n), *y = ro_str_shared_word(rt, w, text, n);
        assert_ptr_equal(x, y);
        assert_int_equal(ro_str_nbytes(y), n);
        char nul[9] = {0};
        memcpy(nul, text, n);                  /* the text and a NUL: the same word */
        ro_object *z = ro_str_shared_word(rt, w, nul, n + 1);
        assert_ptr_not_equal(x, z);
        assert_int_equal(ro_str_nbytes(z), n + 1);
        assert_int_equal(ro_equal(rt, x, z), 0);
        assert_int_equal(ro_str_utf8(z)[n], '\0');
        ro_decref(rt, x);
        ro_decref(rt, y);
        ro_decref(rt, z);
    }
    ro_object *e = ro_str_shared_word(rt, 0, "", 0), *l = ro_str_shared_word(rt, 0, "abcdefghijkl", 12);
    assert_int_equal(ro_str_nbytes(e), 0);                   /* other lengths: the bytes, not the word */
    assert_string_equal(ro_str_utf8(l), "abcdefghijkl");
    ro_decref(rt, e);
    ro_decref(rt, l);
    const char *longer = "a text longer than the cache takes: never shared";
    ro_object *l1 = ro_str_shared_utf8(rt, longer, strlen(longer)), *l2 = ro_str_shared_utf8(rt, longer, strlen(longer));
    assert_ptr_not_equal(l1, l2);
    assert_int_equal(ro_equal(rt, l1, l2), 1);
    const char *ete = "\xc3\xa9t\xc3\xa9";                          /* UTF-8: code points counted */
    ro_object *u = ro_str_shared_utf8(rt, ete, strlen(ete));
    assert_int_equal(ro_str_len(u), 3);
    ro_decref(rt, l1);
    ro_decref(rt, l2);
    ro_decref(rt, u);
    /* Many distinct texts: each slot holds the last one; the first ones we
     * hold stay valid, and what the cache keeps stays bounded. */
    char buf[16];
    ro_object *first[8];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(buf, sizeof buf, "u%07d", i);
        ro_object *x = ro_str_shared_utf8(rt, buf, (size_t)n);
        assert_non_null(x);
        assert_string_equal(ro_str_utf8(x), buf);
        if (i < 8)
            first[i] = x;
        else
            ro_decref(rt, x);
    }
    for (int i = 0; i < 8; i++) {
        snprintf(buf, sizeof buf, "u%07d", i);
        assert_string_equal(ro_str_utf8(first[i]), buf);
        ro_decref(rt, first[i]);
    }
    ro_decref(rt, a);
    ro_decref(rt, b);
    ro_decref(rt, c);
    uint64_t cached = test_bytes_in_use(rt) - base;
    assert_true(cached > 0);
    assert_true(cached <= 256 * 64);             /* at most a slot's string each */
    assert_true(ro_freelists_clear(rt) > 0);
    assert_int_equal(test_bytes_in_use(rt), base);
}

/* A str's hint bytes start at 0, keep what was left in them, and are no
 * part of the value: strs of one text whose hints differ are equal, hash
 * alike, compare as equal and find each other in a dict. */
static void hints_are_no_part_of_the_value(void **state)
{
    ro_state *rt = RT(state);
    ro_object *a = ro_str_from_cstr(rt, "hinted"), *b = ro_str_from_cstr(rt, "hinted");
    for (unsigned i = 0; i < RO_STR_HINTS; i++) {
        assert_int_equal(ro_str_hint(a, i), 0);
        ro_str_set_hint(a, i, 200 + i);
        ro_str_set_hint(b, i, 7 * i + 1);
    }
    for (unsigned i = 0; i < RO_STR_HINTS; i++) {
        assert_int_equal(ro_str_hint(a, i), 200 + i);
        assert_int_equal(ro_str_hint(b, i), 7 * i + 1);
    }
    assert_int_equal(ro_equal(rt, a, b), 1);
    assert_int_equal(ro_str_compare(a, b), 0);
    uint64_t ha, hb;
    assert_int_equal(ro_hash(rt, a, &ha), 0);
    assert_int_equal(ro_hash(rt, b, &hb), 0);
    assert_true(ha == hb);
    ro_object *d = ro_dict_new(rt);
    assert_int_equal(ro_dict_set(rt, d, a, ro_none(rt)), 0);
    assert_ptr_equal(ro_dict_get(rt, d, b), ro_none(rt));
    assert_string_equal(ro_str_utf8(a), "hinted");
    assert_int_equal(ro_str_nbytes(a), 6);
    ro_decref(rt, d);
    ro_decref(rt, a);
    ro_decref(rt, b);
}

static bool marked(const ro_object *o)
{
    return (((const ro_str *)o)->s_state & RO_STR_CACHED) != 0;
}

/* RO_STR_CACHED is on exactly the strs the shared-string cache holds: a str
 * the cache lets go (another text took its slot, or the cache was emptied)
 * loses it, and the next str of its text is a new, marked object. So among
 * strs held at any moment, marked ones of one text are one object, while a
 * marked and an unmarked str of one text still compare equal. */
static void the_cache_marks_what_it_holds(void **state)
{
    ro_state *rt = RT(state);
    enum { N = 3000 };
    ro_object *held[N];
    char buf[40];
    for (int i = 0; i < N; i++) {
        int n = snprintf(buf, sizeof buf, i % 3 ? "t%d" : "a longer text, number %d", i % 700);
        held[i] = ro_str_shared_utf8(rt, buf, (size_t)n);
        assert_non_null(held[i]);
        assert_true(marked(held[i]));       /* what the cache returns it holds */
    }
    /* Each held str is marked exactly when it is what the cache returns for
     * its text now (a lookup that finds it takes no slot from another). */
    size_t unmarked = 0;
    for (int i = 0; i < N; i++) {
        bool was = marked(held[i]);
        ro_object *now = ro_str_shared_utf8(rt, ro_str_utf8(held[i]), ro_str_nbytes(held[i]));
        if (was) {
            assert_ptr_equal(now, held[i]);
        } else {
            unmarked++;
            assert_ptr_not_equal(now, held[i]);
            assert_int_equal(ro_equal(rt, now, held[i]), 1);   /* equal text, one of them marked */
        }
        ro_decref(rt, now);
    }
    assert_true(unmarked > 0);              /* 700 texts in 256 slots: some were let go */
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            if (held[i] != held[j] && marked(held[i]) && marked(held[j]))
                assert_int_equal(ro_equal(rt, held[i], held[j]), 0);
    /* Emptied (ro_freelists_clear empties the cache too): nothing held is
     * marked; the next str of a text is new */
    ro_freelists_clear(rt);
    for (int i = 0; i < N; i++)
        assert_false(marked(held[i]));
    ro_object *again = ro_str_shared_utf8(rt, ro_str_utf8(held[1]), ro_str_nbytes(held[1]));
    assert_true(marked(again));
    assert_ptr_not_equal(again, held[1]);
    assert_int_equal(ro_equal(rt, again, held[1]), 1);
    assert_int_equal(ro_equal(rt, held[1], again), 1);
    ro_decref(rt, again);
    for (int i = 0; i < N; i++)
        ro_decref(rt, held[i]);
    /* Made any other way: not marked */
    ro_object *plain = ro_str_from_cstr(rt, "t1");
    assert_false(marked(plain));
    ro_decref(rt, plain);
}

/* ro_text_eq against memcmp: every length up to 40 (each load width and the
 * memcmp path), equal texts and a difference at every position. */
static void text_eq_agrees_with_memcmp(void **state)
{
    (void)state;
    unsigned char a[48], b[48];
    for (size_t n = 0; n <= 40; n++) {
        for (size_t i = 0; i < sizeof a; i++)
            a[i] = b[i] = (unsigned char)(i * 37 + n);
        assert_true(ro_text_eq(a, b, n));
        for (size_t at = 0; at < n; at++) {
            for (unsigned bit = 0; bit < 8; bit += 7) {
                b[at] ^= (unsigned char)(1u << bit);
                assert_int_equal(ro_text_eq(a, b, n), memcmp(a, b, n) == 0);
                assert_false(ro_text_eq(a, b, n));
                b[at] ^= (unsigned char)(1u << bit);
            }
        }
        b[n] ^= 1;                      /* past the end: not looked at */
        assert_true(ro_text_eq(a, b, n));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(valid_utf8_counts_code_points, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(invalid_utf8_is_an_error_naming_the_offset, test_rt_setup, test_rt_teardown),
        cmocka_unit_test(siphash_matches_the_reference_vectors),
        cmocka_unit_test_setup_teardown(equal_strings_hash_alike_and_hash_is_cached, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(interned_equal_strings_are_one_object, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(intern_table_grows_and_prunes, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(compare_is_byte_order, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(bytes_hold_any_bytes, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(shared_strings_are_one_object_and_bounded, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(the_cache_marks_what_it_holds, test_rt_setup, test_rt_teardown),
        cmocka_unit_test(text_eq_agrees_with_memcmp),
        RT_TEST(hints_are_no_part_of_the_value),
    };
    return cmocka_run_group_tests_name("runtime/str", tests, NULL, NULL);
}
