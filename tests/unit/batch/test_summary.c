/* test_summary.c - the summary job on records however they were built: by the parser (interned keys) or by hand. */
#include "testutil.h"
#include "bt.h"
#include "nj.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The job's result for rec as JSON text (malloc'd), or NULL with the bad-record message in msg. */
static char *summarize(ro_state *rt, ro_object *rec, char *msg, size_t msglen)
{
    const bt_job *job = bt_job_summary();
    char err[200];
    void *inst = job->create(rt, NULL, 0, err, sizeof err);
    assert_non_null(inst);
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

    ro_object *rec = ro_dict_new(rt), *events = ro_list_new(rt, 0), *k;
    assert_int_equal(ro_list_append_steal(rt, events, event_by_hand(rt, 5, "view", 2.5, "b")), 0);
    assert_int_equal(ro_list_append_steal(rt, events, event_by_hand(rt, 3, "buy", 1.0, "a")), 0);
    k = ro_str_from_cstr(rt, "user_id");
    assert_int_equal(ro_dict_set_steal(rt, rec, k, ro_str_from_cstr(rt, "u1")), 0);
    ro_decref(rt, k);
    k = ro_str_from_cstr(rt, "events");
    assert_int_equal(ro_dict_set_steal(rt, rec, k, events), 0);
    ro_decref(rt, k);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(keys_that_are_not_the_jobs_objects_are_found_by_text, test_rt_setup,
                                        test_rt_teardown),
        cmocka_unit_test_setup_teardown(bad_events_name_the_event_and_field, test_rt_setup, test_rt_teardown),
    };
    return cmocka_run_group_tests_name("batch/summary", tests, NULL, NULL);
}
