/* test_nj.c - strict JSON records: what parses to what, and every rejection with its column. */
#include "testutil.h"
#include "nj.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse, emit, compare with the expected canonical text. */
static void check_round(ro_state *rt, const char *in, const char *want)
{
    nj_error err;
    ro_object *v = nj_parse(rt, in, strlen(in), NULL, &err);
    if (v == NULL)
        fail_msg("'%s' did not parse: column %zu: %s", in, err.column, err.msg);
    nj_buf b = {0};
    assert_int_equal(nj_emit(rt, v, &b), 0);
    assert_string_equal(b.data, want);
    ro_sbuf_free(&b);
    ro_decref(rt, v);
}

static void valid_records_parse_to_the_right_objects(void **state)
{
    ro_state *rt = RT(state);
    static const char *const cases[][2] = {
        {"{}", "{}"},
        {" [ ] ", "[]"},
        {"{\"a\":1,\"b\":[true,false,null]}", "{\"a\": 1, \"b\": [true, false, null]}"},
        {"-0", "0"},
        {"-0.0", "-0.0"},
        {"1.5e3", "1500.0"},
        {"1E-7", "1e-07"},
        {"0.1", "0.1"},
        {"123456789012345678", "123456789012345678"},
        {"9223372036854775807", "9223372036854775807"},
        {"-9223372036854775808", "-9223372036854775808"},
        {"1e308", "1e+308"},
        {"5e-324", "5e-324"},
        {"1e-400", "0.0"},                                 /* underflow reads as zero */
        {"\"\\u00e9\\u20ac\\ud834\\udd1e\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\""},
        {"\"tab\\there \\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\"", "\"tab\\there \\\"q\\\" \\\\ / \\b\\f\\n\\r\""},
        {"\"\\u0001\\u001f\"", "\"\\u0001\\u001f\""},
        {"\"\\u0000x\"", "\"\\u0000x\""},                   /* NUL inside a string is kept */
        {"{\"k\":1,\"j\":2,\"k\":3}", "{\"k\": 3, \"j\": 2}"},   /* duplicate: last wins, first place */
        {"\"caf\xc3\xa9\"", "\"caf\xc3\xa9\""},
        {"[[[[[]]]]]", "[[[[[]]]]]"},
        {"\r\n{\"x\" : 1 }\r", "{\"x\": 1}"},
        {"[1, 2 , \t3 ,\n 4,  5 ] ", "[1, 2, 3, 4, 5]"},   /* one space, one then more, more */
        {"{\"x\":1,\"a\\nb\":2,\"\":3,\"y\":{\"\\u0001\":4}}",          /* keys with and without escapes */
         "{\"x\": 1, \"a\\nb\": 2, \"\": 3, \"y\": {\"\\u0001\": 4}}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_round(rt, cases[i][0], cases[i][1]);
}

static void integers_and_floats_keep_their_types(void **state)
{
    ro_state *rt = RT(state);
    ro_object *a = nj_parse(rt, "[3, 3.0, 3e0]", 13, NULL, NULL);
    assert_true(ro_is_kind(ro_list_get_item(rt, a, 0), RO_K_INT));
    assert_true(ro_is_kind(ro_list_get_item(rt, a, 1), RO_K_FLOAT));
    assert_true(ro_is_kind(ro_list_get_item(rt, a, 2), RO_K_FLOAT));
    ro_decref(rt, a);
}

/* Numbers of every shape - integer parts of 1 to 21 digits (the parser takes
 * eight at a time where there are eight), fractions, exponents, signs - read
 * as strtoll and strtod read them, bit for bit, both where the record ends
 * right after the number and where it does not. */
static void numbers_read_as_strtoll_and_strtod_do(void **state)
{
    ro_state *rt = RT(state);
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    char num[96], rec[100];
    for (int iter = 0; iter < 40000; iter++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t r = seed >> 11;
        size_t n = 0;
        if (r & 1)
            num[n++] = '-';
        int idigits = 1 + (int)((r >> 1) % 21), fdigits = (r >> 6) % 3 == 0 ? 1 + (int)((r >> 8) % 18) : 0;
        int edigits = (r >> 13) % 4 == 0 ? 1 + (int)((r >> 15) % 3) : 0;
        for (int i = 0; i < idigits; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            int d = (int)((seed >> 33) % 10);
            num[n++] = (char)('0' + (i == 0 && idigits > 1 && d == 0 ? 1 + (int)((seed >> 40) % 9) : d));
        }
        if (fdigits) {
            num[n++] = '.';
            for (int i = 0; i < fdigits; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                num[n++] = (char)('0' + (int)((seed >> 33) % 10));
            }
        }
        if (edigits) {
            num[n++] = (r >> 18) & 1 ? 'e' : 'E';
            if ((r >> 19) % 3)
                num[n++] = (r >> 21) & 1 ? '-' : '+';
            for (int i = 0; i < edigits; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                num[n++] = (char)('0' + (int)((seed >> 33) % 10));
            }
        }
        num[n] = '\0';
        snprintf(rec, sizeof rec, "[%s]", num);
        for (int framed = 0; framed < 2; framed++) {
            const char *in = framed ? rec : num;
            nj_error err;
            ro_object *v = nj_parse(rt, in, strlen(in), NULL, &err);
            ro_object *x = v != NULL && framed ? ro_list_get_item(rt, v, 0) : v;
            if (fdigits == 0 && edigits == 0) {
                errno = 0;
                long long want = strtoll(num, NULL, 10);
                if (errno == ERANGE) {
                    if (v != NULL || strstr(err.msg, "outside the 64-bit range") == NULL)
                        fail_msg("'%s': want the 64-bit range error, got %s", in, v ? "a value" : err.msg);
                } else if (x == NULL || !ro_is_kind(x, RO_K_INT) || ro_int_value(x) != want) {
                    fail_msg("'%s': want int %lld (%s)", in, want, v ? "got another value" : err.msg);
                }
            } else {
                double want = strtod(num, NULL);
                if (isinf(want)) {
                    if (v != NULL || strstr(err.msg, "outside the range of a double") == NULL)
                        fail_msg("'%s': want the double range error, got %s", in, v ? "a value" : err.msg);
                } else {
                    if (x == NULL || !ro_is_kind(x, RO_K_FLOAT))
                        fail_msg("'%s': want float %.17g (%s)", in, want, v ? "got another kind" : err.msg);
                    double got = ro_float_value(x);
                    if (memcmp(&got, &want, sizeof got) != 0)
                        fail_msg("'%s': got %.17g, strtod reads %.17g", in, got, want);
                }
            }
            if (v == NULL)
                ro_err_clear(rt);
            else
                ro_decref(rt, v);
        }
    }
}

static void keys_are_interned(void **state)
{
    ro_state *rt = RT(state);
    ro_object *a = nj_parse(rt, "{\"user_id\":\"u1\"}", 16, NULL, NULL);
    ro_object *b = nj_parse(rt, "{\"user_id\":\"u2\"}", 16, NULL, NULL);
    size_t pa = 0, pb = 0;
    ro_object *ka, *kb, *va, *vb;
    ro_dict_next(a, &pa, &ka, &va);
    ro_dict_next(b, &pb, &kb, &vb);
    assert_ptr_equal(ka, kb);
    ro_decref(rt, a);
    ro_decref(rt, b);
}

/* Keys guessed from the object before at the same depth: a guess that is a
 * prefix, an extension or a reordering of the real key must not be taken,
 * an escaped spelling is the same interned key, and a guess never reads past
 * the end of the record. */
static void key_guesses_never_change_what_parses(void **state)
{
    ro_state *rt = RT(state);
    check_round(rt, "[{\"ab\":1,\"a\":2},{\"a\":3,\"ab\":4},{\"a\\u0062\":5,\"abc\":6},{\"ab\":7,\"ab\":8},{\"b\":9},"
                    "{\"abc\":10,\"a\":11},{\"ab\":12}]",
                "[{\"ab\": 1, \"a\": 2}, {\"a\": 3, \"ab\": 4}, {\"ab\": 5, \"abc\": 6}, {\"ab\": 8}, {\"b\": 9}, "
                "{\"abc\": 10, \"a\": 11}, {\"ab\": 12}]");
    check_round(rt, "{\"k\":{\"x\":{\"y\":1}},\"j\":{\"x\":{\"y\":2,\"z\":3}},\"x\":{\"k\":0}}",
                "{\"k\": {\"x\": {\"y\": 1}}, \"j\": {\"x\": {\"y\": 2, \"z\": 3}}, \"x\": {\"k\": 0}}");
    /* One key object for both spellings, and for the guessed one. */
    const char *t = "[{\"ab\":1},{\"a\\u0062\":2},{\"ab\":3}]";
    ro_object *l = nj_parse(rt, t, strlen(t), NULL, NULL);
    assert_non_null(l);
    ro_object *keys[3];
    for (int i = 0; i < 3; i++) {
        size_t pos = 0;
        ro_object *v;
        assert_true(ro_dict_next(((ro_list *)l)->l_items[i], &pos, &keys[i], &v));
    }
    assert_ptr_equal(keys[0], keys[1]);
    assert_ptr_equal(keys[0], keys[2]);
    ro_decref(rt, l);
    /* A record cut inside a key the guess would match in full. */
    static const struct { const char *in; size_t column; const char *msg; } cut[] = {
        {"[{\"abcdef\":1},{\"abcdef", 16, "unterminated string"},
        {"[{\"abcdef\":1},{\"abcdef\"", 24, "expected ':' after a key, got end of record"},
        {"[{\"abcdef\":1},{\"abc", 16, "unterminated string"},
    };
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        nj_error err;
        assert_null(nj_parse(rt, cut[i].in, strlen(cut[i].in), NULL, &err));
        if (err.column != cut[i].column || strstr(err.msg, cut[i].msg) == NULL)
            fail_msg("case %zu: got column %zu '%s', want column %zu '%s'", i, err.column, err.msg, cut[i].column,
                     cut[i].msg);
        ro_err_clear(rt);
    }
}

/* A seeded generator of records and, beside each, the text nj_emit must give
 * for it, worked out here (duplicate keys: the first place, the last value;
 * escaped spellings decoded): keys from a small pool of prefixes of each
 * other, one spelled with an escape, one too long for a shape's bytes, in
 * random orders and numbers, nested, with whitespace of every kind around
 * the separators, mostly none or one space as writers do. */
typedef struct gen {
    uint64_t x;
    nj_buf in, want;
} gen;

static uint32_t gen_next(gen *g, uint32_t n)
{
    g->x ^= g->x << 13;
    g->x ^= g->x >> 7;
    g->x ^= g->x << 17;
    return (uint32_t)(g->x % n);
}

static void gen_put(ro_state *rt, nj_buf *b, const char *s)
{
    assert_int_equal(ro_sbuf_append(rt, b, s, strlen(s)), 0);
}

static void gen_ws(ro_state *rt, gen *g)
{
    static const char *const ws[] = {"", "", "", "", " ", " ", " ", "  ", "\t", "\r\n "};
    gen_put(rt, &g->in, ws[gen_next(g, 10)]);
}

static void gen_value(ro_state *rt, gen *g, int depth);

static void gen_object(ro_state *rt, gen *g, int depth)
{
    /* spelled as, decoded */
    static const char *const keys[][2] = {
        {"ts", "ts"}, {"type", "type"}, {"tags", "tags"}, {"t", "t"}, {"tsx", "tsx"}, {"amount", "amount"},
        {"a\\u006dount", "amount"}, {"a_key_longer_than_sixteen", "a_key_longer_than_sixteen"}, {"", ""},
    };
    size_t nk = sizeof keys / sizeof keys[0], n = gen_next(g, 6), used = 0;
    const char *names[8];
    nj_buf vals[8] = {{0}};
    gen_put(rt, &g->in, "{");
    for (size_t i = 0; i < n; i++) {
        size_t k = gen_next(g, 3) != 0 ? i % 5 : gen_next(g, (uint32_t)nk);   /* mostly in order */
        gen_ws(rt, g);
        if (i > 0) {
            gen_put(rt, &g->in, ",");
            gen_ws(rt, g);
        }
        gen_put(rt, &g->in, "\"");
        gen_put(rt, &g->in, keys[k][0]);
        gen_put(rt, &g->in, "\"");
        gen_ws(rt, g);
        gen_put(rt, &g->in, ":");
        gen_ws(rt, g);
        size_t at = 0;
        while (at < used && strcmp(names[at], keys[k][1]) != 0)
            at++;
        if (at == used)
            names[used++] = keys[k][1];
        nj_buf save = g->want;
        g->want = (nj_buf){0};
        gen_value(rt, g, depth + 1);
        ro_sbuf_free(&vals[at]);
        vals[at] = g->want;
        g->want = save;
    }
    gen_ws(rt, g);
    gen_put(rt, &g->in, "}");
    gen_put(rt, &g->want, "{");
    for (size_t i = 0; i < used; i++) {
        gen_put(rt, &g->want, i ? ", \"" : "\"");
        gen_put(rt, &g->want, names[i]);
        gen_put(rt, &g->want, "\": ");
        assert_int_equal(ro_sbuf_append(rt, &g->want, vals[i].data, vals[i].len), 0);
        ro_sbuf_free(&vals[i]);
    }
    gen_put(rt, &g->want, "}");
}

static void gen_value(ro_state *rt, gen *g, int depth)
{
    uint32_t r = gen_next(g, 10);
    if (depth < 6 && r < 3) {
        gen_object(rt, g, depth);
    } else if (depth < 6 && r < 4) {
        size_t n = gen_next(g, 4);
        gen_put(rt, &g->in, "[");
        gen_put(rt, &g->want, "[");
        for (size_t i = 0; i < n; i++) {
            if (i > 0) {
                gen_put(rt, &g->in, ",");
                gen_put(rt, &g->want, ", ");
            }
            gen_ws(rt, g);
            gen_value(rt, g, depth + 1);
        }
        gen_put(rt, &g->in, "]");
        gen_put(rt, &g->want, "]");
    } else if (r < 6) {
        gen_put(rt, &g->in, "\"ts\"");          /* a value spelled as a key */
        gen_put(rt, &g->want, "\"ts\"");
    } else {
        char num[24];
        snprintf(num, sizeof num, "%u", gen_next(g, 100000));
        gen_put(rt, &g->in, num);
        gen_put(rt, &g->want, num);
    }
}

/* Records wider than the value stack's 128 slots on the C stack: objects of
 * hundreds of keys (each a key and a value on the stack, the value itself an
 * object or an array that pushes and takes off its own), and long arrays,
 * nested in each other, parse to what the text says, under ASan too. */
static void wide_records_grow_the_value_stack(void **state)
{
    ro_state *rt = RT(state);
    for (int width = 60; width <= 700; width += 160) {
        nj_buf in = {0}, want = {0};
        gen_put(rt, &in, "[0");                /* the objects' pairs start at an odd slot */
        gen_put(rt, &want, "[0");
        for (int outer = 0; outer < 3; outer++) {
            gen_put(rt, &in, ",{");
            gen_put(rt, &want, ", {");
            for (int i = 0; i < width; i++) {
                char kv[160], wkv[160];
                snprintf(kv, sizeof kv, "%s\"k%d\":{\"a\":[%d,%d,{\"b\":%d}],\"c\":\"x\"}", i ? "," : "", i, i, outer,
                         i + outer);
                snprintf(wkv, sizeof wkv, "%s\"k%d\": {\"a\": [%d, %d, {\"b\": %d}], \"c\": \"x\"}", i ? ", " : "", i,
                         i, outer, i + outer);
                gen_put(rt, &in, kv);
                gen_put(rt, &want, wkv);
            }
            for (int i = 0; i < width; i++) {      /* scalars: a key and a value that pushes nothing */
                char kv[48];
                snprintf(kv, sizeof kv, ",\"s%d\":%d", i, i);
                gen_put(rt, &in, kv);
                snprintf(kv, sizeof kv, ", \"s%d\": %d", i, i);
                gen_put(rt, &want, kv);
            }
            gen_put(rt, &in, ",\"list\":[");
            gen_put(rt, &want, ", \"list\": [");
            for (int i = 0; i < width; i++) {
                char item[32];
                snprintf(item, sizeof item, "%s%d", i ? "," : "", i);
                gen_put(rt, &in, item);
                snprintf(item, sizeof item, "%s%d", i ? ", " : "", i);
                gen_put(rt, &want, item);
            }
            gen_put(rt, &in, "]}");
            gen_put(rt, &want, "]}");
        }
        gen_put(rt, &in, "]");
        gen_put(rt, &want, "]");
        check_round(rt, in.data, want.data);
        ro_sbuf_free(&in);
        ro_sbuf_free(&want);
    }
}

/* Objects nested up to the depth limit, each with 0 to 10 members before the
 * nested one (an object makes room on the value stack for its first 8
 * members at once, then for each further one): the stack grows while the
 * objects above still hold their members on it, and every member is where
 * the text put it, under ASan too. */
static void nested_objects_grow_the_value_stack_at_every_depth(void **state)
{
    ro_state *rt = RT(state);
    static const int depths[] = {1, 2, 8, 9, 17, 30, 63};    /* 63 objects and the array: the limit, 64 */
    for (size_t t = 0; t < sizeof depths / sizeof depths[0]; t++) {
        int depth = depths[t];
        nj_buf in = {0}, want = {0};
        for (int d = 0; d < depth; d++) {
            gen_put(rt, &in, "{");
            gen_put(rt, &want, "{");
            int width = (d * 5 + depth) % 11;
            for (int i = 0; i < width; i++) {
                char kv[48];
                snprintf(kv, sizeof kv, "\"m%d\":%d,", i, d * 100 + i);
                gen_put(rt, &in, kv);
                snprintf(kv, sizeof kv, "\"m%d\": %d, ", i, d * 100 + i);
                gen_put(rt, &want, kv);
            }
            gen_put(rt, &in, d + 1 < depth ? "\"next\":" : "\"last\":[1,2,3]");
            gen_put(rt, &want, d + 1 < depth ? "\"next\": " : "\"last\": [1, 2, 3]");
        }
        for (int d = 0; d < depth; d++) {
            gen_put(rt, &in, "}");
            gen_put(rt, &want, "}");
        }
        check_round(rt, in.data, want.data);
        ro_sbuf_free(&in);
        ro_sbuf_free(&want);
    }
}

/* Every dict in v finds each of its keys, by the key object and by an equal
 * one that is not it (a dict made from a layout has the layout's index and
 * hashes: a wrong one loses keys), to the value its entry holds. */
static void check_lookups(ro_state *rt, ro_object *v)
{
    if (ro_is_kind(v, RO_K_LIST)) {
        for (size_t i = 0; i < ro_list_len(v); i++)
            check_lookups(rt, ((ro_list *)v)->l_items[i]);
        return;
    }
    if (!ro_is_kind(v, RO_K_DICT))
        return;
    size_t pos = 0;
    ro_object *k, *val;
    while (ro_dict_next(v, &pos, &k, &val)) {
        ro_object *other = ro_str_from_utf8(rt, ro_str_utf8(k), ro_str_nbytes(k));
        assert_non_null(other);
        assert_ptr_equal(ro_dict_get(rt, v, k), val);
        assert_ptr_equal(ro_dict_get(rt, v, other), val);
        ro_decref(rt, other);
        check_lookups(rt, val);
    }
}

/* The shapes and layouts one stream's records leave for the next never
 * change what a record parses to: each record, in a buffer of its own exact
 * size (so that a read past it is caught under ASan), parsed with the
 * stream's shapes and emitted, gives the text the generator worked out, and
 * its dicts find their keys. */
static void shapes_kept_across_records_never_change_what_parses(void **state)
{
    ro_state *rt = RT(state);
    nj_shapes *sh = nj_shapes_new();
    assert_non_null(sh);
    gen g = {.x = 0x9E3779B97F4A7C15ull};
    for (int rec = 0; rec < 3000; rec++) {
        g.in.len = g.want.len = 0;
        if (gen_next(&g, 4) == 0) {
            gen_value(rt, &g, 1);              /* now and then not an object */
        } else {
            gen_ws(rt, &g);
            gen_object(rt, &g, 1);
        }
        char *exact = malloc(g.in.len ? g.in.len : 1);
        assert_non_null(exact);
        memcpy(exact, g.in.data, g.in.len);
        nj_error err;
        ro_object *v = nj_parse_shaped(rt, sh, exact, g.in.len, NULL, &err);
        if (v == NULL)
            fail_msg("record %d '%.*s' did not parse: column %zu: %s", rec, (int)g.in.len, g.in.data, err.column,
                     err.msg);
        nj_buf out = {0};
        assert_int_equal(nj_emit(rt, v, &out), 0);
        if (out.len != g.want.len || memcmp(out.data, g.want.data, out.len) != 0)
            fail_msg("record %d '%.*s': got '%.*s', want '%.*s'", rec, (int)g.in.len, g.in.data, (int)out.len,
                     out.data, (int)g.want.len, g.want.data);
        ro_sbuf_free(&out);
        check_lookups(rt, v);
        ro_decref(rt, v);
        free(exact);
    }
    /* Records cut inside or right after bytes the shapes hold in full: the
     * error and its column are those of a stream without shapes. */
    static const char *const cut[] = {
        "{\"ts\": 1, \"type\": 2}", "{\"ts\": 1, \"type", "{\"ts\": 1, \"type\": ", "{\"ts\": 1, \"type\"",
        "{\"ts\": 1, \"ty", "{\"ts\": 1, ", "{\"ts\": 1, \"type\": 2, \"tags\" 3}", "{\"ts\":",
    };
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        size_t n = strlen(cut[i]);
        char *exact = malloc(n);
        assert_non_null(exact);
        memcpy(exact, cut[i], n);
        nj_error with, without;
        ro_object *a = nj_parse_shaped(rt, sh, exact, n, NULL, &with);
        ro_err_clear(rt);
        ro_object *b = nj_parse_shaped(rt, NULL, exact, n, NULL, &without);
        ro_err_clear(rt);
        assert_true((a == NULL) == (b == NULL));
        if (a == NULL && (with.column != without.column || strcmp(with.msg, without.msg) != 0))
            fail_msg("'%s': with shapes column %zu '%s', without column %zu '%s'", cut[i], with.column, with.msg,
                     without.column, without.msg);
        ro_xdecref(rt, a);
        ro_xdecref(rt, b);
        free(exact);
    }
    ro_sbuf_free(&g.in);
    ro_sbuf_free(&g.want);
    nj_shapes_free(rt, sh);
}

static void invalid_records_name_the_column(void **state)
{
    ro_state *rt = RT(state);
    static const struct { const char *in; size_t len; size_t column; const char *msg; } cases[] = {
        {"", 0, 1, "expected a value, got end of record"},
        {"   ", 3, 4, "expected a value"},
        {"{\"a\":1} x", 9, 9, "trailing characters"},
        {"[1,]", 4, 4, "expected a value, got ']'"},
        {"[1, ]", 5, 5, "expected a value, got ']'"},
        {"[1, x]", 6, 5, "expected a value, got 'x'"},
        {"[1, 2", 5, 6, "expected ',' or ']'"},
        {"[1,  2,]", 8, 8, "expected a value, got ']'"},
        {"{\"a\":1,}", 8, 8, "expected a string key"},
        {"{a:1}", 5, 2, "expected a string key, got 'a'"},
        {"{\"a\" 1}", 7, 6, "expected ':'"},
        {"[1 2]", 5, 4, "expected ',' or ']'"},
        {"NaN", 3, 1, "NaN is not JSON"},
        {"[Infinity]", 10, 2, "Infinity is not JSON"},
        {"-Infinity", 9, 1, "Infinity is not JSON"},
        {"01", 2, 1, "leading zeros"},
        {"1.", 2, 3, "after the decimal point"},
        {"1e+", 3, 4, "in the exponent"},
        {".5", 2, 1, "expected a value, got '.'"},
        {"tru", 3, 1, "invalid literal (expected true)"},
        {"nul1", 4, 1, "invalid literal (expected null)"},
        {"9223372036854775808", 19, 1, "outside the 64-bit range"},
        {"-9223372036854775809", 20, 1, "outside the 64-bit range"},
        {"123456789012345678901234567890", 30, 1, "outside the 64-bit range"},
        {"1e400", 5, 1, "outside the range of a double"},
        {"\"abc", 4, 1, "unterminated string"},
        {"\"a\tb\"", 5, 3, "control character 0x09"},
        {"\"\\x\"", 4, 2, "invalid escape \\x"},
        {"\"\\u12\"", 6, 2, "four hex digits"},
        {"\"\\ud800\"", 8, 2, "lone high surrogate"},
        {"\"\\ud800\\u0041\"", 14, 2, "lone high surrogate"},
        {"\"\\udc00\"", 8, 2, "lone low surrogate"},
        {"\"ab\xff\"", 5, 4, "invalid UTF-8 (byte 0xff)"},
        {"\"\xc0\x80\"", 4, 2, "invalid UTF-8"},
        {"\"\xed\xa0\x80\"", 5, 2, "invalid UTF-8"},
        {"[\"\xe2\x82\"]", 5, 3, "invalid UTF-8"},
        {"\xef\xbb\xbf{}", 5, 1, "expected a value, got byte 0xef"},   /* a BOM is not JSON */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nj_error err;
        ro_object *v = nj_parse(rt, cases[i].in, cases[i].len, NULL, &err);
        if (v != NULL)
            fail_msg("case %zu ('%s') parsed but must not", i, cases[i].in);
        if (err.column != cases[i].column || strstr(err.msg, cases[i].msg) == NULL)
            fail_msg("case %zu ('%s'): got column %zu '%s', want column %zu '%s'", i, cases[i].in,
                     err.column, err.msg, cases[i].column, cases[i].msg);
        assert_int_equal(ro_err_kind(rt), RO_E_VALUE);
        ro_err_clear(rt);
    }
}

/* Digits are scanned eight bytes at a time: the run must end at exactly
 * the first byte that is no digit, whatever byte that is and wherever it
 * falls in the word, with digits after it again. */
static void digit_scan_stops_at_every_byte(void **state)
{
    ro_state *rt = RT(state);
    const char *digits = "1234567890123456";
    char in[64];
    for (int b = 0; b < 256; b++) {
        if (b >= '0' && b <= '9')
            continue;
        for (size_t len = 1; len <= 16; len++) {
            size_t n = 0;
            in[n++] = '[';
            memcpy(in + n, digits, len);
            n += len;
            in[n++] = (char)b;
            memcpy(in + n, "9876543]", 8);
            n += 8;
            nj_error err;
            ro_object *v = nj_parse(rt, in, n, NULL, &err);
            char num[24];
            memcpy(num, digits, len);
            num[len] = '\0';
            if (b == ',') {
                if (v == NULL || ro_list_len(v) != 2)
                    fail_msg("byte 0x%02x after %zu digits: want a list of two, got %s", b, len, v ? "other" : err.msg);
                assert_int_equal(ro_int_value(ro_list_get_item(rt, v, 0)), strtoll(num, NULL, 10));
                assert_int_equal(ro_int_value(ro_list_get_item(rt, v, 1)), 9876543);
            } else if (b == '.') {
                if (v == NULL)
                    fail_msg("byte '.' after %zu digits: %s", len, err.msg);
                char f[40];
                snprintf(f, sizeof f, "%s.9876543", num);
                double got = ro_float_value(ro_list_get_item(rt, v, 0)), want = strtod(f, NULL);
                assert_memory_equal(&got, &want, sizeof got);
            } else if (b == 'e' || b == 'E' || b == ']') {
                /* an exponent too large for a double, or trailing text: rejected further on */
                assert_null(v);
            } else {
                /* whitespace ends the number and then '9' is unexpected; any other byte is itself */
                size_t at = b == ' ' || b == '\t' || b == '\r' || b == '\n' ? len + 3 : len + 2;
                if (v != NULL || err.column != at)
                    fail_msg("byte 0x%02x after %zu digits: want an error at column %zu, got %s %zu", b, len, at,
                             v ? "a value" : "column", v ? (size_t)0 : err.column);
            }
            if (v == NULL)
                ro_err_clear(rt);
            else
                ro_decref(rt, v);
        }
    }
}

/* The string scan looks at eight bytes at a time: every byte that ends a plain
 * run must be found at every position in and across those words, and the
 * text around it kept. */
static void string_scan_stops_at_every_position(void **state)
{
    ro_state *rt = RT(state);
    static const struct { const char *in, *out; size_t error_at; } specials[] = {
        {"\\n", "\n", 0}, {"\\\"", "\"", 0}, {"\\\\", "\\", 0}, {"\\u0041", "A", 0},
        {"\xc3\xa9", "\xc3\xa9", 0}, {"\x7f", "\x7f", 0}, {" ", " ", 0}, {"!", "!", 0}, {"#", "#", 0},
        {"\x01", NULL, 1}, {"\x1f", NULL, 1}, {"\xff", NULL, 1}, {"\x80", NULL, 1},
    };
    char in[128], want[128];
    for (size_t pre = 0; pre < 26; pre++) {
        for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++) {
            for (size_t post = 0; post < 11; post += 5) {
                memset(want, 0, sizeof want);
                size_t n = 0, w = 0;
                in[n++] = '"';
                for (size_t i = 0; i < pre; i++)
                    in[n++] = want[w++] = (char)('a' + i % 26);
                size_t at = n;
                memcpy(in + n, specials[k].in, strlen(specials[k].in));
                n += strlen(specials[k].in);
                if (specials[k].out != NULL) {
                    memcpy(want + w, specials[k].out, strlen(specials[k].out));
                    w += strlen(specials[k].out);
                }
                for (size_t i = 0; i < post; i++)
                    in[n++] = want[w++] = (char)('z' - i);
                in[n++] = '"';
                nj_error err;
                ro_object *v = nj_parse(rt, in, n, NULL, &err);
                if (specials[k].error_at) {
                    if (v != NULL || err.column != at + 1)
                        fail_msg("pre %zu special %zu post %zu: want an error at column %zu, got %s %zu", pre, k,
                                 post, at + 1, v ? "a value" : "column", err.column);
                    ro_err_clear(rt);
                    continue;
                }
                if (v == NULL)
                    fail_msg("pre %zu special %zu post %zu: column %zu: %s", pre, k, post, err.column, err.msg);
                assert_int_equal(RO_SIZE(v), w);
                assert_memory_equal(ro_str_utf8(v), want, w);
                ro_decref(rt, v);
                /* The same text with its closing quote cut off is unterminated. */
                v = nj_parse(rt, in, n - 1, NULL, &err);
                assert_null(v);
                assert_non_null(strstr(err.msg, "unterminated"));
                ro_err_clear(rt);
            }
        }
    }
}

/* Every byte, alone in a string after 0 to 17 plain ones (so at every place
 * of the eight-byte scan) and before more: printable ASCII is kept, a
 * control byte or a lone byte >= 0x80 is an error at its own column. */
static void every_byte_in_a_string_at_every_place(void **state)
{
    ro_state *rt = RT(state);
    char in[64];
    for (int b = 0; b < 256; b++) {
        if (b == '"' || b == '\\')
            continue;                       /* (string_scan_stops_at_every_position) */
        for (size_t pre = 0; pre < 18; pre++) {
            size_t n = 0;
            in[n++] = '"';
            for (size_t i = 0; i < pre; i++)
                in[n++] = (char)('a' + i);
            in[n++] = (char)b;
            memcpy(in + n, "xyz\"", 4);
            n += 4;
            nj_error err;
            ro_object *v = nj_parse(rt, in, n, NULL, &err);
            if (b >= 0x20 && b < 0x80) {
                if (v == NULL)
                    fail_msg("byte 0x%02x after %zu: %s", b, pre, err.msg);
                assert_int_equal(RO_SIZE(v), pre + 4);
                assert_memory_equal(ro_str_utf8(v), in + 1, pre + 4);
                ro_decref(rt, v);
            } else {
                if (v != NULL || err.column != pre + 2)
                    fail_msg("byte 0x%02x after %zu: want an error at column %zu, got %s %zu", b, pre, pre + 2,
                             v ? "a value" : "column", v ? (size_t)0 : err.column);
                ro_err_clear(rt);
            }
        }
    }
}

static void nesting_limit_is_enforced(void **state)
{
    ro_state *rt = RT(state);
    char deep[200];
    for (int depth = 63; depth <= 65; depth++) {
        memset(deep, '[', (size_t)depth);
        memset(deep + depth, ']', (size_t)depth);
        nj_error err;
        ro_object *v = nj_parse(rt, deep, 2 * (size_t)depth, NULL, &err);
        if (depth <= NJ_DEFAULT_MAX_DEPTH) {
            assert_non_null(v);
            ro_decref(rt, v);
        } else {
            assert_null(v);
            assert_int_equal(err.column, NJ_DEFAULT_MAX_DEPTH + 1);
            assert_non_null(strstr(err.msg, "nested deeper than 64"));
            ro_err_clear(rt);
        }
    }
    nj_limits lim = {.max_depth = 2};
    assert_null(nj_parse(rt, "[[[1]]]", 7, &lim, NULL));
    ro_err_clear(rt);
}

static void emitting_rejects_what_json_cannot_say(void **state)
{
    ro_state *rt = RT(state);
    nj_buf b = {0};
    ro_object *nan = ro_float_from_double(rt, 0.0 / 0.0);
    assert_int_equal(nj_emit(rt, nan, &b), -1);
    assert_int_equal(ro_err_kind(rt), RO_E_VALUE);
    ro_err_clear(rt);
    ro_object *d = ro_dict_new(rt), *k = ro_int_from_i64(rt, 1);
    ro_dict_set(rt, d, k, k);
    assert_int_equal(nj_emit(rt, d, &b), -1);
    assert_int_equal(ro_err_kind(rt), RO_E_TYPE);
    ro_err_clear(rt);
    ro_object *l = ro_list_new(rt, 0);
    ro_list_append(rt, l, l);
    assert_int_equal(nj_emit(rt, l, &b), -1);
    assert_int_equal(ro_err_kind(rt), RO_E_RECURSION);
    ro_err_clear(rt);
    assert_int_equal(b.len, 0);   /* nothing half-written */
    ro_list_clear_items(rt, l);
    ro_decref(rt, l); ro_decref(rt, d); ro_decref(rt, k); ro_decref(rt, nan);
    ro_sbuf_free(&b);
}

/* n lists, each holding the next, the innermost 7 and then 8 or a NaN:
 * nj_emit's result, its text in b, the error kind in *kind. */
static int emit_nested(ro_state *rt, int n, bool nan, nj_buf *b, ro_errkind *kind)
{
    ro_object *inner = ro_list_new(rt, 0), *seven = ro_int_from_i64(rt, 7);
    ro_object *last = nan ? ro_float_from_double(rt, 0.0 / 0.0) : ro_int_from_i64(rt, 8);
    assert_int_equal(ro_list_append(rt, inner, seven), 0);
    assert_int_equal(ro_list_append(rt, inner, last), 0);
    ro_decref(rt, seven);
    ro_decref(rt, last);
    for (int i = 1; i < n; i++) {
        ro_object *outer = ro_list_new(rt, 0);
        assert_int_equal(ro_list_append(rt, outer, inner), 0);
        ro_decref(rt, inner);
        inner = outer;
    }
    b->len = 0;
    int r = nj_emit(rt, inner, b);
    *kind = ro_err_kind(rt);
    ro_err_clear(rt);
    ro_decref(rt, inner);
    return r;
}

/* The serializer's depth limit counts containers: 1001 nested lists (depths
 * 0..1000) are written, their innermost's values too; 1002 are refused, with
 * nothing written. A NaN in the innermost list is still refused (the values
 * a container writes in its own loop are ints, strs and nulls only). */
static void emitting_counts_containers_to_its_depth_limit(void **state)
{
    ro_state *rt = RT(state);
    nj_buf b = {0};
    ro_errkind kind;
    assert_int_equal(emit_nested(rt, 1001, false, &b, &kind), 0);
    assert_int_equal(b.len, 2 * 1001 + strlen("7, 8"));
    assert_memory_equal(b.data + 1000, "[7, 8]", 6);
    assert_int_equal(emit_nested(rt, 1002, false, &b, &kind), -1);
    assert_int_equal(kind, RO_E_RECURSION);
    assert_int_equal(b.len, 0);
    assert_int_equal(emit_nested(rt, 3, true, &b, &kind), -1);
    assert_int_equal(kind, RO_E_VALUE);
    assert_int_equal(b.len, 0);
    ro_sbuf_free(&b);
}

/* Every ASCII byte in a string is written as json.dumps writes it (the
 * escapes spelled out here), into a buffer that must grow many times, and
 * the text reads back to the same string. */
static void emitted_strings_escape_every_control_byte(void **state)
{
    ro_state *rt = RT(state);
    char raw[128], want[1024];
    size_t w = 0;
    want[w++] = '"';
    for (int c = 0; c < 128; c++) {
        raw[c] = (char)c;
        const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                      : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
        if (e != NULL)
            w += (size_t)snprintf(want + w, sizeof want - w, "%s", e);
        else if (c < 0x20)
            w += (size_t)snprintf(want + w, sizeof want - w, "\\u%04x", c);
        else
            want[w++] = (char)c;
    }
    want[w++] = '"';
    want[w] = '\0';
    ro_object *s = ro_str_from_utf8(rt, raw, sizeof raw);
    assert_non_null(s);
    nj_buf b = {0};
    for (int rep = 0; rep < 200; rep++) {
        size_t mark = b.len;
        assert_int_equal(nj_emit(rt, s, &b), 0);
        assert_int_equal(b.len - mark, w);
        assert_memory_equal(b.data + mark, want, w);
        assert_int_equal(b.data[b.len], '\0');
    }
    nj_error err;
    ro_object *back = nj_parse(rt, want, w, NULL, &err);
    assert_non_null(back);
    assert_int_equal(ro_equal(rt, back, s), 1);
    ro_decref(rt, back);
    /* A bounded buffer (the runtime's repr messages) is refused, not cut. */
    nj_buf bounded = {.limit = 16};
    assert_int_equal(nj_emit(rt, s, &bounded), -1);
    assert_int_equal(ro_err_kind(rt), RO_E_VALUE);
    ro_err_clear(rt);
    assert_int_equal(bounded.len, 0);
    ro_sbuf_free(&b);
    ro_decref(rt, s);
}

/* A str known to need no escape (RO_STR_NOESC: the parser's plain strings,
 * any str after one escaping pass found nothing, a concatenation of two such)
 * is copied as it is; one that needs escapes never gets the mark, however
 * often it is written. */
static void strings_known_to_need_no_escape_are_copied(void **state)
{
    ro_state *rt = RT(state);
    const char *in = "[\"plain text\", \"quo\\\"te\", \"caf\\u00e9\", \"tab\\there\"]";
    static const char *const want[] = {"\"plain text\"", "\"quo\\\"te\"", "\"caf\xc3\xa9\"",
                                       "\"tab\\there\""};
    static const bool noesc_after[] = {true, false, true, false};
    nj_error err;
    ro_object *l = nj_parse(rt, in, strlen(in), NULL, &err);
    if (l == NULL)
        fail_msg("did not parse: %s", err.msg);
    assert_true(((ro_str *)ro_list_get_item(rt, l, 0))->s_state & RO_STR_NOESC);      /* from the plain run */
    assert_false(((ro_str *)ro_list_get_item(rt, l, 2))->s_state & RO_STR_NOESC);   /* from an escape */
    for (size_t i = 0; i < 4; i++) {
        ro_object *x = ro_list_get_item(rt, l, i);
        for (int rep = 0; rep < 2; rep++) {
            nj_buf b = {0};
            assert_int_equal(nj_emit(rt, x, &b), 0);
            assert_string_equal(b.data, want[i]);
            ro_sbuf_free(&b);
            assert_int_equal((((ro_str *)x)->s_state & RO_STR_NOESC) != 0, noesc_after[i]);
        }
    }
    ro_object *both = ro_str_concat(rt, ro_list_get_item(rt, l, 0), ro_list_get_item(rt, l, 2));
    ro_object *mixed = ro_str_concat(rt, ro_list_get_item(rt, l, 0), ro_list_get_item(rt, l, 1));
    assert_true(((ro_str *)both)->s_state & RO_STR_NOESC);
    assert_false(((ro_str *)mixed)->s_state & RO_STR_NOESC);
    nj_buf b = {0};
    assert_int_equal(nj_emit(rt, mixed, &b), 0);
    assert_string_equal(b.data, "\"plain textquo\\\"te\"");
    ro_sbuf_free(&b);
    ro_decref(rt, both);
    ro_decref(rt, mixed);
    ro_decref(rt, l);
}

static void injected_allocation_failures_fail_cleanly(void **state)
{
    ro_state *rt = RT(state);
    const char *doc = "{\"user_id\":\"u1\",\"events\":[{\"ts\":1700000000,\"type\":\"view\","
                      "\"amount\":12.5,\"tags\":[\"a\",\"b\"]}]}";
    for (uint64_t nth = 1; nth < 200; nth++) {
        ro_freelists_clear(rt);
        ro_mem_inject_failure(rt, nth, 1);
        nj_error err;
        ro_object *v = nj_parse(rt, doc, strlen(doc), NULL, &err);
        ro_mem_inject_failure(rt, 0, 0);
        if (v != NULL) {
            ro_decref(rt, v);
            continue;
        }
        assert_int_equal(ro_err_kind(rt), RO_E_NOMEM);
        assert_non_null(strstr(err.msg, "out of memory"));
        ro_err_clear(rt);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(valid_records_parse_to_the_right_objects, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(integers_and_floats_keep_their_types, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(numbers_read_as_strtoll_and_strtod_do, test_rt_setup,
                                        test_rt_teardown),
        cmocka_unit_test_setup_teardown(keys_are_interned, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(key_guesses_never_change_what_parses, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(shapes_kept_across_records_never_change_what_parses, test_rt_setup,
                                        test_rt_teardown),
        cmocka_unit_test_setup_teardown(wide_records_grow_the_value_stack, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(nested_objects_grow_the_value_stack_at_every_depth, test_rt_setup,
                                        test_rt_teardown),
        cmocka_unit_test_setup_teardown(invalid_records_name_the_column, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(string_scan_stops_at_every_position, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(digit_scan_stops_at_every_byte, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(every_byte_in_a_string_at_every_place, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(nesting_limit_is_enforced, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(emitting_rejects_what_json_cannot_say, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(emitting_counts_containers_to_its_depth_limit, test_rt_setup,
                                        test_rt_teardown),
        cmocka_unit_test_setup_teardown(emitted_strings_escape_every_control_byte, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(strings_known_to_need_no_escape_are_copied, test_rt_setup,
                                        test_rt_teardown),
        cmocka_unit_test_setup_teardown(injected_allocation_failures_fail_cleanly, test_rt_setup, test_rt_teardown),
    };
    return cmocka_run_group_tests_name("ndjson", tests, NULL, NULL);
}
