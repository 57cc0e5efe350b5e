/* test_summary.c - the summary job on records however they were built: by the parser (interned keys) or by hand. */
#include "testutil.h"
#include "bt.h"
#include "nj.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A new summary job instance (fails the test when none can be made). */
static void *summary_instance(ro_state *rt)
{
    char err[200];
    void *inst = bt_job_summary()->create(rt, NULL, 0, err, sizeof err);
    if (inst == NULL)
        fail_msg("summary job: %s", err);
    return inst;
}

/* The job's result for rec as JSON text (malloc'd), or NULL with the bad-record message in msg. */
static char *summarize(ro_state *rt, ro_object *rec, char *msg, size_t msglen)
{
    const bt_job *job = bt_job_summary();
    void *inst = summary_instance(rt);
    ro_object *res = job->process(inst, rt, rec, msg, msglen);
    char *text = NULL;
    if (res != NULL) {
        nj_buf b = {0};
        assert_int_equal(nj_emit(rt, res, &b), 0);
        text = b.data;
        ro_decref(rt, res);
    } else {
        assert_int_equal(ro_err_kind(rt), RO_OK);   /* a bad record, not a runtime error */
    }
    job->destroy(inst, rt);
    return text;
}

/* {"ts": ts, "type": type, "amount": amount, "tags": [tag]} with keys made as
 * plain strings, never interned: other objects than the job's keys. */
static ro_object *event_by_hand(ro_state *rt, int64_t ts, const char *type, double amount, const char *tag)
{
    ro_object *e = ro_dict_new(rt);
    ro_object *k;
    k = ro_str_from_cstr(rt, "tags");
    ro_object *tags = ro_list_new(rt, 0);
    assert_int_equal(ro_list_append_steal(rt, tags, ro_str_from_cstr(rt, tag)), 0);
    assert_int_equal(ro_dict_set_steal(rt, e, k, tags), 0);       /* out of the usual order on purpose */
    ro_decref(rt, k);
    k = ro_str_from_cstr(rt, "ts");
    assert_int_equal(ro_dict_set_steal(rt, e, k, ro_int_from_i64(rt, ts)), 0);
    ro_decref(rt, k);
    k = ro_str_from_cstr(rt, "note");                                /* ignored */
    assert_int_equal(ro_dict_set_steal(rt, e, k, ro_str_from_cstr(rt, "x")), 0);
    ro_decref(rt, k);
    k = ro_str_from_cstr(rt, "amount");
    assert_int_equal(ro_dict_set_steal(rt, e, k, ro_float_from_double(rt, amount)), 0);
    ro_decref(rt, k);
    k = ro_str_from_cstr(rt, "type");
    assert_int_equal(ro_dict_set_steal(rt, e, k, ro_str_from_cstr(rt, type)), 0);
    ro_decref(rt, k);
    return e;
}

/* {"user_id": uid, "events": events} with keys made as plain strings.
 * Steals: events. */
static ro_object *record_of(ro_state *rt, const char *uid, ro_object *events)
{
    ro_object *rec = ro_dict_new(rt), *k;
    k = ro_str_from_cstr(rt, "user_id");
    assert_int_equal(ro_dict_set_steal(rt, rec, k, ro_str_from_cstr(rt, uid)), 0);
    ro_decref(rt, k);
    k = ro_str_from_cstr(rt, "events");
    assert_int_equal(ro_dict_set_steal(rt, rec, k, events), 0);
    ro_decref(rt, k);
    return rec;
}

static void keys_that_are_not_the_jobs_objects_are_found_by_text(void **state)
{
    ro_state *rt = RT(state);
    const char *text = "{\"user_id\": \"u1\", \"events\": [{\"ts\": 5, \"type\": \"view\", \"amount\": 2.5, \"tags\": "
                       "[\"b\"]}, {\"type\": \"buy\", \"note\": \"x\", \"tags\": [\"a\"], \"ts\": 3, \"amount\": 1.0}]}";
    const char *want = "{\"user_id\": \"u1\", \"events\": 2, \"first_ts\": 3, \"last_ts\": 5, \"by_type\": "
                       "{\"buy\": 1, \"view\": 1}, \"amount_sum\": 3.5, \"amount_min\": 1.0, \"amount_max\": 2.5, "
                       "\"amount_mean\": 1.75, \"distinct_tags\": 2, \"top_tag\": \"a\"}";
    char msg[200];
    ro_object *parsed = nj_parse(rt, text, strlen(text), NULL, NULL);
    assert_non_null(parsed);
    char *a = summarize(rt, parsed, msg, sizeof msg);
    assert_non_null(a);
    assert_string_equal(a, want);
    ro_decref(rt, parsed);

    ro_object *events = ro_list_new(rt, 0);
    assert_int_equal(ro_list_append_steal(rt, events, event_by_hand(rt, 5, "view", 2.5, "b")), 0);
    assert_int_equal(ro_list_append_steal(rt, events, event_by_hand(rt, 3, "buy", 1.0, "a")), 0);
    ro_object *rec = record_of(rt, "u1", events);
    char *b = summarize(rt, rec, msg, sizeof msg);
    assert_non_null(b);
    assert_string_equal(b, want);
    ro_decref(rt, rec);
    free(a);
    free(b);
}

static void bad_events_name_the_event_and_field(void **state)
{
    ro_state *rt = RT(state);
    static const struct { const char *in, *msg; } cases[] = {
        {"{\"user_id\": \"u\", \"events\": [{\"ts\": 1, \"type\": \"a\"}, {\"type\": \"a\"}]}", "events[1].ts is missing"},
        {"{\"user_id\": \"u\", \"events\": [{\"ts\": 1.5, \"type\": \"a\"}]}", "events[0].ts must be an integer (got float)"},
        {"{\"user_id\": \"u\", \"events\": [{\"ts\": 1}]}", "events[0].type is missing"},
        {"{\"user_id\": \"u\", \"events\": [{\"ts\": 1, \"type\": \"a\", \"amount\": \"3\"}]}",
         "events[0].amount must be a number (got str)"},
        {"{\"user_id\": \"u\", \"events\": [{\"ts\": 1, \"type\": \"a\", \"tags\": [\"x\", 2]}]}",
         "events[0].tags[1] must be a string (got int)"},
        {"{\"user_id\": \"u\", \"events\": [{\"ts\": 1, \"type\": \"a\"}, 7]}", "events[1] is not an object (got int)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char msg[200] = "";
        ro_object *rec = nj_parse(rt, cases[i].in, strlen(cases[i].in), NULL, NULL);
        assert_non_null(rec);
        char *out = summarize(rt, rec, msg, sizeof msg);
        if (out != NULL || strcmp(msg, cases[i].msg) != 0)
            fail_msg("case %zu: got '%s', want '%s'", i, out ? out : msg, cases[i].msg);
        ro_decref(rt, rec);
    }
}

/* One instance works through many records (a worker's): its counters start
 * empty for each record, also after a record that failed half way, and
 * by_type comes out in byte order on both sides of the sort's two methods
 * (up to 16 types, and more). */
static void counters_start_empty_for_every_record(void **state)
{
    ro_state *rt = RT(state);
    const bt_job *job = bt_job_summary();
    char msg[200];
    void *inst = summary_instance(rt);
    /* 20 types given in reverse byte order ("t19" ... "t00", then "T", "é"),
     * each once; the second record, bad at its second event, counted some. */
    char many[4096] = "{\"user_id\": \"m\", \"events\": [", want_bt[2048] = "{";
    for (int i = 19; i >= 0; i--) {
        char ev[96];
        snprintf(ev, sizeof ev, "{\"ts\": %d, \"type\": \"t%02d\", \"tags\": [\"x%d\"]}, ", i, i, i % 3);
        strcat(many, ev);
    }
    strcat(many, "{\"ts\": 50, \"type\": \"\u00e9\"}, {\"ts\": 51, \"type\": \"T\"}]}");
    strcat(want_bt, "\"T\": 1");                      /* 'T' < 't' < 0xC3 (the first byte of e-acute) */
    for (int i = 0; i < 20; i++) {
        char kv[32];
        snprintf(kv, sizeof kv, ", \"t%02d\": 1", i);
        strcat(want_bt, kv);
    }
    strcat(want_bt, ", \"\u00e9\": 1}");
    const char *recs[] = {
        "{\"user_id\": \"a\", \"events\": [{\"ts\": 1, \"type\": \"y\", \"tags\": [\"p\", \"q\"]}, "
        "{\"ts\": 2, \"type\": \"x\", \"tags\": [\"q\"]}]}",
        "{\"user_id\": \"bad\", \"events\": [{\"ts\": 1, \"type\": \"zz\", \"tags\": [\"r\", \"r\", \"r\"]}, "
        "{\"type\": \"y\"}]}",
        many,
        "{\"user_id\": \"c\", \"events\": [{\"ts\": 9, \"type\": \"x\", \"tags\": [\"s\"]}]}",
        "{\"user_id\": \"d\", \"events\": []}",
    };
    const char *want[] = {
        "{\"user_id\": \"a\", \"events\": 2, \"first_ts\": 1, \"last_ts\": 2, \"by_type\": {\"x\": 1, \"y\": 1}, "
        "\"amount_sum\": 0.0, \"amount_min\": null, \"amount_max\": null, \"amount_mean\": null, "
        "\"distinct_tags\": 2, \"top_tag\": \"q\"}",
        NULL,
        NULL,   /* built below */
        "{\"user_id\": \"c\", \"events\": 1, \"first_ts\": 9, \"last_ts\": 9, \"by_type\": {\"x\": 1}, "
        "\"amount_sum\": 0.0, \"amount_min\": null, \"amount_max\": null, \"amount_mean\": null, "
        "\"distinct_tags\": 1, \"top_tag\": \"s\"}",
        "{\"user_id\": \"d\", \"events\": 0, \"first_ts\": null, \"last_ts\": null, \"by_type\": {}, "
        "\"amount_sum\": 0.0, \"amount_min\": null, \"amount_max\": null, \"amount_mean\": null, "
        "\"distinct_tags\": 0, \"top_tag\": null}",
    };
    char want_many[4096];
    snprintf(want_many, sizeof want_many,
             "{\"user_id\": \"m\", \"events\": 22, \"first_ts\": 0, \"last_ts\": 51, \"by_type\": %s, "
             "\"amount_sum\": 0.0, \"amount_min\": null, \"amount_max\": null, \"amount_mean\": null, "
             "\"distinct_tags\": 3, \"top_tag\": \"x0\"}", want_bt);
    want[2] = want_many;
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++) {
            ro_object *rec = nj_parse(rt, recs[i], strlen(recs[i]), NULL, NULL);
            assert_non_null(rec);
            msg[0] = '\0';
            ro_object *res = job->process(inst, rt, rec, msg, sizeof msg);
            ro_decref(rt, rec);
            if (want[i] == NULL) {
                assert_null(res);
                assert_string_equal(msg, "events[1].ts is missing");
                continue;
            }
            assert_non_null(res);
            nj_buf b = {0};
            assert_int_equal(nj_emit(rt, res, &b), 0);
            ro_decref(rt, res);
            /* nj_emit keeps UTF-8: compare with the escapes of want read back */
            ro_object *w = nj_parse(rt, want[i], strlen(want[i]), NULL, NULL);
            nj_buf wb = {0};
            assert_int_equal(nj_emit(rt, w, &wb), 0);
            ro_decref(rt, w);
            if (strcmp(b.data, wb.data) != 0)
                fail_msg("round %d record %zu:\n got %s\nwant %s", round, i, b.data, wb.data);
            free(b.data);
            free(wb.data);
        }
    }
    job->destroy(inst, rt);
}

/* by_type is made from remembered layouts: each result must be a dict whose
 * every key is found by lookup with its own count, for key sets that share
 * a layout slot (same length, same last key) as for the others, whichever
 * was learnt. */
static void by_type_lookups_hold_for_every_key_set(void **state)
{
    ro_state *rt = RT(state);
    const bt_job *job = bt_job_summary();
    char msg[200];
    void *inst = summary_instance(rt);
    /* Each a user's types, in byte order; a type at position j occurs j + 1 times. */
    const char *sets[][4] = {
        {"a", "z"}, {"a", "z"}, {"b", "z"}, {"b", "z"}, {"b", "z"}, {"a", "z"}, {"c", "z"},
        {"a", "b", "z"}, {"a", "c", "z"}, {"a", "b", "z"}, {"a", "c", "z"}, {"a", "c", "z"}, {"z"}, {"y"},
        {"a", "z"}, {"b", "z"},
    };
    for (size_t r = 0; r < sizeof sets / sizeof sets[0]; r++) {
        char text[1024] = "{\"user_id\": \"u\", \"events\": [";
        size_t n = 0;
        for (; n < 4 && sets[r][n] != NULL; n++)
            for (size_t c = 0; c <= n; c++) {
                char ev[64];
                snprintf(ev, sizeof ev, "%s{\"ts\": 1, \"type\": \"%s\"}", strlen(text) > 30 ? ", " : "",
                         sets[r][n]);
                strcat(text, ev);
            }
        strcat(text, "]}");
        ro_object *rec = nj_parse(rt, text, strlen(text), NULL, NULL);
        assert_non_null(rec);
        ro_object *res = job->process(inst, rt, rec, msg, sizeof msg);
        ro_decref(rt, rec);
        assert_non_null(res);
        ro_object *bt = ro_dict_get_cstr(rt, res, "by_type");
        assert_non_null(bt);
        assert_int_equal(ro_dict_len(bt), n);
        for (size_t j = 0; j < n; j++) {
            ro_object *c = ro_dict_get_cstr(rt, bt, sets[r][j]);
            if (c == NULL)
                fail_msg("record %zu: by_type[\"%s\"] not found by lookup", r, sets[r][j]);
            assert_int_equal(ro_int_value(c), (int64_t)j + 1);
        }
        for (const char *absent = "abcyz"; *absent != '\0'; absent++) {
            char k[2] = {*absent, '\0'};
            bool in = false;
            for (size_t j = 0; j < n; j++)
                in |= strcmp(sets[r][j], k) == 0;
            if (!in)
                assert_null(ro_dict_get_cstr(rt, bt, k));
        }
        ro_decref(rt, res);
    }
    job->destroy(inst, rt);
}

/* Each allocation of one job->process of rec failed in turn until one run
 * has none left to fail: a failed run is RO_E_NOMEM, the run that succeeds
 * gives want. warm: the instance has made one result before (the next is
 * made from the layout the first left); else it is the instance's first. */
static void fail_each_allocation(ro_state *rt, const bt_job *job, ro_object *rec, const char *want, bool warm)
{
    char msg[200];
    bool succeeded = false;
    for (uint64_t nth = 1; nth < 400 && !succeeded; nth++) {
        void *inst = summary_instance(rt);
        if (warm) {
            ro_object *first = job->process(inst, rt, rec, msg, sizeof msg);
            assert_non_null(first);
            ro_decref(rt, first);
        }
        ro_freelists_clear(rt);
        ro_mem_inject_failure(rt, nth, 1);
        ro_object *res = job->process(inst, rt, rec, msg, sizeof msg);
        ro_mem_inject_failure(rt, 0, 0);
        if (res != NULL) {
            assert_int_equal(ro_err_kind(rt), RO_OK);   /* (a failure it got over is no error) */
            nj_buf b = {0};
            assert_int_equal(nj_emit(rt, res, &b), 0);
            assert_string_equal(b.data, want);
            ro_sbuf_free(&b);
            ro_decref(rt, res);
            succeeded = true;
        } else {
            assert_int_equal(ro_err_kind(rt), RO_E_NOMEM);
            ro_err_clear(rt);
        }
        job->destroy(inst, rt);
    }
    assert_true(succeeded);
}

/* A record by hand of user "h" whose events' types and tags are each a
 * str of its own (ro_str_from_cstr: none shared), ts 1, 2, ... */
static ro_object *record_by_hand(ro_state *rt, const char *const *types, const char *const *tags, size_t n)
{
    ro_object *events = ro_list_new(rt, 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ro_list_append_steal(rt, events, event_by_hand(rt, (int64_t)i + 1, types[i], 1.0, tags[i])),
                         0);
    return record_of(rt, "h", events);
}

/* Types and tags are counted by text, whatever object holds it (here every
 * one is an object of its own), among a few keys and past the FEW_KEYS the
 * job's arrays hold, where the counts move to a dict (those made before
 * too); that dict is empty again for the instance's next record. */
static void counts_go_by_text_among_few_keys_and_past_them(void **state)
{
    ro_state *rt = RT(state);
    const bt_job *job = bt_job_summary();
    char msg[200];
    static const char *const few_types[] = {"view", "view", "buy"}, *const few_tags[] = {"a", "b", "a"};
    ro_object *few = record_by_hand(rt, few_types, few_tags, 3);
    ro_object *events = ro_dict_get_cstr(rt, few, "events");
    assert_ptr_not_equal(ro_dict_get_cstr(rt, ((ro_list *)events)->l_items[0], "type"),
                         ro_dict_get_cstr(rt, ((ro_list *)events)->l_items[1], "type"));
    const char *want_few = "{\"user_id\": \"h\", \"events\": 3, \"first_ts\": 1, \"last_ts\": 3, "
                           "\"by_type\": {\"buy\": 1, \"view\": 2}, \"amount_sum\": 3.0, \"amount_min\": 1.0, "
                           "\"amount_max\": 1.0, \"amount_mean\": 1.0, \"distinct_tags\": 2, \"top_tag\": \"a\"}";
    /* many: tags t00..t19 once each; t03 twice more before the 17th distinct
     * tag and once after, t17 three times more after: t03 and t17 tie at 4,
     * the byte-order smaller wins */
    const char *many_types[27], *many_tags[27];
    char names[20][4];
    size_t n = 0;
    many_tags[n++] = "t03";
    many_tags[n++] = "t03";
    for (int i = 0; i < 20; i++) {
        snprintf(names[i], sizeof names[i], "t%02d", i);
        many_tags[n++] = names[i];
    }
    many_tags[n++] = "t17";
    many_tags[n++] = "t03";
    many_tags[n++] = "t17";
    many_tags[n++] = "t17";
    for (size_t i = 0; i < n; i++)
        many_types[i] = i % 2 ? "y" : "x";
    ro_object *many = record_by_hand(rt, many_types, many_tags, n);
    const char *want_many = "{\"user_id\": \"h\", \"events\": 26, \"first_ts\": 1, \"last_ts\": 26, "
                            "\"by_type\": {\"x\": 13, \"y\": 13}, \"amount_sum\": 26.0, \"amount_min\": 1.0, "
                            "\"amount_max\": 1.0, \"amount_mean\": 1.0, \"distinct_tags\": 20, \"top_tag\": \"t03\"}";
    /* other: 17 types and 17 tags (past the arrays by one), all new */
    const char *other_types[18], *other_tags[18];
    char other_names[17][4];
    for (int i = 0; i < 17; i++) {
        snprintf(other_names[i], sizeof other_names[i], "u%02d", i);
        other_types[i] = other_tags[i] = other_names[i];
    }
    other_types[17] = other_tags[17] = "u16";
    ro_object *other = record_by_hand(rt, other_types, other_tags, 18);
    char want_other[1024] = "{\"user_id\": \"h\", \"events\": 18, \"first_ts\": 1, \"last_ts\": 18, \"by_type\": {";
    for (int i = 0; i < 17; i++) {
        char kv[24];
        snprintf(kv, sizeof kv, "%s\"u%02d\": %d", i ? ", " : "", i, i == 16 ? 2 : 1);
        strcat(want_other, kv);
    }
    strcat(want_other, "}, \"amount_sum\": 18.0, \"amount_min\": 1.0, \"amount_max\": 1.0, \"amount_mean\": 1.0, "
                       "\"distinct_tags\": 17, \"top_tag\": \"u16\"}");
    void *inst = summary_instance(rt);
    ro_object *order[] = {few, many, many, few, other, many};
    for (size_t r = 0; r < sizeof order / sizeof order[0]; r++) {
        ro_object *res = job->process(inst, rt, order[r], msg, sizeof msg);
        assert_non_null(res);
        nj_buf b = {0};
        assert_int_equal(nj_emit(rt, res, &b), 0);
        assert_string_equal(b.data, order[r] == few ? want_few : order[r] == many ? want_many : want_other);
        ro_sbuf_free(&b);
        ro_decref(rt, res);
    }
    job->destroy(inst, rt);
    ro_decref(rt, few);
    ro_decref(rt, many);
    ro_decref(rt, other);
}

/* {"ts": ts, "type": type, "tags": [tag]} of the given strs (new
 * references taken), keys made as plain strings. */
static ro_object *event_of_strs(ro_state *rt, int64_t ts, ro_object *type, ro_object *tag)
{
    ro_object *e = ro_dict_new(rt), *tags = ro_list_new(rt, 0);
    ro_incref(type);
    ro_incref(tag);
    assert_int_equal(ro_list_append_steal(rt, tags, tag), 0);
    assert_int_equal(ro_dict_set_cstr_steal(rt, e, "ts", ro_int_from_i64(rt, ts)), 0);
    assert_int_equal(ro_dict_set_cstr_steal(rt, e, "type", type), 0);
    assert_int_equal(ro_dict_set_cstr_steal(rt, e, "tags", tags), 0);
    return e;
}

/* The summary of user uid with n events made by event_of_strs: the i-th
 * with ts ts0 + i, type types[i] and the one tag tags[i] (borrowed), must
 * be want, byte for byte. */
static void assert_summary_of_strs(ro_state *rt, const char *uid, size_t n, int64_t ts0, ro_object *const *types,
                                   ro_object *const *tags, const char *want)
{
    ro_object *events = ro_list_new(rt, 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ro_list_append_steal(rt, events, event_of_strs(rt, ts0 + (int64_t)i, types[i], tags[i])), 0);
    ro_object *rec = record_of(rt, uid, events);
    char msg[200];
    char *text = summarize(rt, rec, msg, sizeof msg);
    assert_non_null(text);
    assert_string_equal(text, want);
    free(text);
    ro_decref(rt, rec);
}

/* first_ts and last_ts at the ends of the int64 range, alone and together:
 * the minimum and maximum start past every ts, and these are the ts that
 * would tell a start one short of the end from the end itself. */
static void timestamps_at_the_ends_of_the_range(void **state)
{
    ro_state *rt = RT(state);
    static const struct {
        const char *events, *want;
    } cases[] = {
        {"{\"ts\": 9223372036854775807, \"type\": \"a\"}",
         "\"first_ts\": 9223372036854775807, \"last_ts\": 9223372036854775807,"},
        {"{\"ts\": -9223372036854775808, \"type\": \"a\"}",
         "\"first_ts\": -9223372036854775808, \"last_ts\": -9223372036854775808,"},
        {"{\"ts\": 9223372036854775807, \"type\": \"a\"}, {\"ts\": -9223372036854775808, \"type\": \"a\"}",
         "\"first_ts\": -9223372036854775808, \"last_ts\": 9223372036854775807,"},
        {"{\"ts\": 5, \"type\": \"a\"}, {\"ts\": 5, \"type\": \"b\"}", "\"first_ts\": 5, \"last_ts\": 5,"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[300], msg[200];
        snprintf(text, sizeof text, "{\"user_id\": \"e\", \"events\": [%s]}", cases[i].events);
        ro_object *rec = nj_parse(rt, text, strlen(text), NULL, NULL);
        assert_non_null(rec);
        char *out = summarize(rt, rec, msg, sizeof msg);
        assert_non_null(out);
        if (strstr(out, cases[i].want) == NULL)
            fail_msg("%s: got %s, want %s", text, out, cases[i].want);
        free(out);
        ro_decref(rt, rec);
    }
}

/* A text met as a str the shared-string cache holds (RO_STR_CACHED) and as
 * one it let go, in either order and among other marked keys, is one key:
 * the counters skip comparing texts only when both strs are marked. */
static void a_text_held_and_let_go_by_the_cache_is_one_key(void **state)
{
    ro_state *rt = RT(state);
    ro_object *gone = ro_str_shared_utf8(rt, "click", 5);
    ro_freelists_clear(rt);                            /* the cache lets it go */
    ro_object *held = ro_str_shared_utf8(rt, "click", 5), *other = ro_str_shared_utf8(rt, "view", 4);
    assert_ptr_not_equal(gone, held);
    assert_false(((ro_str *)gone)->s_state & RO_STR_CACHED);
    assert_true(((ro_str *)held)->s_state & RO_STR_CACHED);
    assert_true(((ro_str *)other)->s_state & RO_STR_CACHED);
    ro_object *orders[][4] = {
        {held, other, gone, held}, {gone, other, held, gone}, {other, held, held, gone}, {other, gone, held, held},
    };
    for (size_t o = 0; o < sizeof orders / sizeof orders[0]; o++) {
        /* the same strs as types and as tags, the tags in reverse */
        ro_object *tags[4] = {orders[o][3], orders[o][2], orders[o][1], orders[o][0]};
        assert_summary_of_strs(rt, "m", 4, 1, orders[o], tags,
                               "{\"user_id\": \"m\", \"events\": 4, \"first_ts\": 1, \"last_ts\": 4, "
                               "\"by_type\": {\"click\": 3, \"view\": 1}, \"amount_sum\": 0.0, "
                               "\"amount_min\": null, \"amount_max\": null, \"amount_mean\": null, "
                               "\"distinct_tags\": 2, \"top_tag\": \"click\"}");
    }
    ro_decref(rt, gone);
    ro_decref(rt, held);
    ro_decref(rt, other);
}

/* Events read by the parser (the job's key objects) whose keys start as
 * usual but then differ: another key between, tags before amount, a key
 * past them, amount or tags alone after another key. Every field is found
 * wherever it is, as in the usual order (the same figures each time). */
static void fields_are_found_past_the_usual_order(void **state)
{
    ro_state *rt = RT(state);
    static const char *const events[] = {
        "{\"ts\": 1, \"type\": \"a\", \"amount\": 2.5, \"tags\": [\"t\"]}",           /* the usual order */
        "{\"ts\": 1, \"type\": \"a\", \"note\": \"x\", \"amount\": 2.5, \"tags\": [\"t\"]}",
        "{\"ts\": 1, \"type\": \"a\", \"tags\": [\"t\"], \"amount\": 2.5}",
        "{\"ts\": 1, \"type\": \"a\", \"amount\": 2.5, \"tags\": [\"t\"], \"note\": 0}",
        "{\"ts\": 1, \"type\": \"a\", \"amount\": 2.5, \"note\": null, \"tags\": [\"t\"]}",
        "{\"type\": \"a\", \"ts\": 1, \"tags\": [\"t\"], \"amount\": 2.5}",
    };
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        char text[300], msg[200];
        /* twice, so that the second event meets the parser's learnt shapes */
        snprintf(text, sizeof text, "{\"user_id\": \"f\", \"events\": [%s, %s]}", events[i], events[i]);
        ro_object *rec = nj_parse(rt, text, strlen(text), NULL, NULL);
        assert_non_null(rec);
        char *out = summarize(rt, rec, msg, sizeof msg);
        if (out == NULL)
            fail_msg("%s: %s", text, msg);
        assert_string_equal(out, "{\"user_id\": \"f\", \"events\": 2, \"first_ts\": 1, \"last_ts\": 1, "
                                 "\"by_type\": {\"a\": 2}, \"amount_sum\": 5.0, \"amount_min\": 2.5, "
                                 "\"amount_max\": 2.5, \"amount_mean\": 2.5, \"distinct_tags\": 1, "
                                 "\"top_tag\": \"t\"}");
        free(out);
        ro_decref(rt, rec);
    }
}

/* The counters leave each key its index in a hint byte of its own
 * (ro_str_hint) and trust a hint only where it points at the key itself:
 * hints left in the strs beforehand, pointing anywhere, change no count;
 * nor does a str that is both a type and a tag (each counter its own byte),
 * met in both counters in turn. */
static void hints_left_in_strs_are_only_guesses(void **state)
{
    ro_state *rt = RT(state);
    /* held by the shared-string cache (RO_STR_CACHED), as the parser's are:
     * a key not found by its hint is then compared by no text either */
    ro_object *str[3] = {ro_str_shared_utf8(rt, "a", 1), ro_str_shared_utf8(rt, "b", 1), ro_str_shared_utf8(rt, "c", 1)};
    for (size_t i = 0; i < 3; i++)
        assert_true(((ro_str *)str[i])->s_state & RO_STR_CACHED);
    /* (type, tag) of each event: types a 3, b 2, c 1; tags b 3, a 2, c 1 */
    static const int ev[][2] = {{0, 1}, {1, 0}, {0, 0}, {2, 1}, {1, 2}, {0, 1}};
    static const unsigned left[][2] = {{0, 0}, {1, 0}, {0, 1}, {2, 2}, {255, 255}};
    for (size_t l = 0; l < sizeof left / sizeof left[0]; l++) {
        for (size_t i = 0; i < 3; i++)
            for (unsigned lane = 0; lane < RO_STR_HINTS; lane++)
                ro_str_set_hint(str[i], lane, (left[l][lane] + (unsigned)i * (l % 2)) % 256);
        enum { NEV = sizeof ev / sizeof ev[0] };
        ro_object *types[NEV], *tags[NEV];
        for (size_t i = 0; i < NEV; i++) {
            types[i] = str[ev[i][0]];
            tags[i] = str[ev[i][1]];
        }
        assert_summary_of_strs(rt, "h", NEV, 0, types, tags,
                               "{\"user_id\": \"h\", \"events\": 6, \"first_ts\": 0, \"last_ts\": 5, "
                               "\"by_type\": {\"a\": 3, \"b\": 2, \"c\": 1}, \"amount_sum\": 0.0, "
                               "\"amount_min\": null, \"amount_max\": null, \"amount_mean\": null, "
                               "\"distinct_tags\": 3, \"top_tag\": \"b\"}");
    }
    for (size_t i = 0; i < 3; i++)
        ro_decref(rt, str[i]);
}

/* Every allocation the job makes, failed in turn: the record is then no
 * result and a runtime error (out of memory), never a bad record, and
 * nothing it made is left behind (the teardown checks every byte); with no
 * failure the result is the one of a run without any; for an instance's
 * first record and for a later one. Records with and without amounts and
 * tags, and with more types than the job's stack holds. */
static void injected_allocation_failures_fail_cleanly(void **state)
{
    ro_state *rt = RT(state);
    const bt_job *job = bt_job_summary();
    char msg[200];
    char many[2048] = "{\"user_id\": \"m\", \"events\": [";
    for (int i = 0; i < 18; i++) {
        char ev[96];
        snprintf(ev, sizeof ev, "%s{\"ts\": %d, \"type\": \"t%02d\", \"amount\": %d.5, \"tags\": [\"x%d\"]}",
                 i ? ", " : "", 1700000000 + i, 17 - i, i, i % 4);
        strcat(many, ev);
    }
    strcat(many, "]}");
    const char *recs[] = {
        "{\"user_id\": \"u1\", \"events\": [{\"ts\": 1700000000, \"type\": \"view\", \"amount\": 12.5, "
        "\"tags\": [\"a\", \"b\"]}, {\"ts\": 1700000001, \"type\": \"buy\"}]}",
        "{\"user_id\": \"u2\", \"events\": []}",
        many,
    };
    for (size_t r = 0; r < sizeof recs / sizeof recs[0]; r++) {
        ro_object *rec = nj_parse(rt, recs[r], strlen(recs[r]), NULL, NULL);
        assert_non_null(rec);
        char *want = summarize(rt, rec, msg, sizeof msg);
        assert_non_null(want);
        fail_each_allocation(rt, job, rec, want, false);
        fail_each_allocation(rt, job, rec, want, true);
        free(want);
        ro_decref(rt, rec);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(keys_that_are_not_the_jobs_objects_are_found_by_text, test_rt_setup,
                                        test_rt_teardown),
        cmocka_unit_test_setup_teardown(bad_events_name_the_event_and_field, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(counters_start_empty_for_every_record, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(by_type_lookups_hold_for_every_key_set, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(counts_go_by_text_among_few_keys_and_past_them, test_rt_setup,
                                        test_rt_teardown),
        cmocka_unit_test_setup_teardown(a_text_held_and_let_go_by_the_cache_is_one_key, test_rt_setup,
                                        test_rt_teardown),
        RT_TEST(timestamps_at_the_ends_of_the_range),
        RT_TEST(hints_left_in_strs_are_only_guesses),
        RT_TEST(fields_are_found_past_the_usual_order),
        cmocka_unit_test_setup_teardown(injected_allocation_failures_fail_cleanly, test_rt_setup, test_rt_teardown),
    };
    return cmocka_run_group_tests_name("batch/summary", tests, NULL, NULL);
}
