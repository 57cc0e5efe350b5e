/* count_job.c - a job brought as a shared object (test): {"user_id": ..., "n": number of events};
 * option delay_ms makes every record take that long (tests of a run in progress). */
#include "bt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const bt_job *reclaimd_job(void);

typedef struct count_job {
    ro_object *user_id, *events, *n, *label_key, *label;   /* new references */
    long delay_ms;
} count_job;

static void *create(ro_state *rt, const bt_job_option *opts, size_t nopts, char *err, size_t errlen)
{
    count_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    j->user_id = ro_str_intern_cstr(rt, "user_id");
    j->events = ro_str_intern_cstr(rt, "events");
    j->n = ro_str_intern_cstr(rt, "n");
    for (size_t i = 0; i < nopts; i++) {
        if (strcmp(opts[i].key, "delay_ms") == 0) {
            j->delay_ms = strtol(opts[i].value, NULL, 10);
            continue;
        }
        if (strcmp(opts[i].key, "label") != 0) {
            snprintf(err, errlen, "[job] %s: unknown option (the count job knows: label, delay_ms)", opts[i].key);
            return NULL;   /* (test job: leaks its few strings on this path) */
        }
        j->label_key = ro_str_intern_cstr(rt, "label");
        j->label = ro_str_from_cstr(rt, opts[i].value);
    }
    return j;
}

static void destroy(void *inst, ro_state *rt)
{
    count_job *j = inst;
    ro_decref(rt, j->user_id);
    ro_decref(rt, j->events);
    ro_decref(rt, j->n);
    ro_xdecref(rt, j->label_key);
    ro_xdecref(rt, j->label);
    free(j);
}

static ro_object *process(void *inst, ro_state *rt, ro_object *rec, char *err, size_t errlen)
{
    count_job *j = inst;
    if (j->delay_ms > 0)
        nanosleep(&(struct timespec){.tv_sec = j->delay_ms / 1000, .tv_nsec = j->delay_ms % 1000 * 1000000}, NULL);
    ro_object *uid = ro_is_kind(rec, RO_K_DICT) ? ro_dict_get(rt, rec, j->user_id) : NULL;
    ro_object *ev = ro_is_kind(rec, RO_K_DICT) ? ro_dict_get(rt, rec, j->events) : NULL;
    if (uid == NULL || ev == NULL || !ro_is_kind(ev, RO_K_LIST)) {
        snprintf(err, errlen, "count job: needs user_id and an events array");
        return NULL;
    }
    ro_object *out = ro_dict_new(rt);
    if (out == NULL || ro_dict_set(rt, out, j->user_id, uid) != 0 ||
        ro_dict_set_steal(rt, out, j->n, ro_int_from_i64(rt, (int64_t)ro_list_len(ev))) != 0 ||
        (j->label != NULL && ro_dict_set(rt, out, j->label_key, j->label) != 0)) {
        ro_xdecref(rt, out);
        return NULL;
    }
    return out;
}

static const bt_job job = {BT_JOB_ABI_VERSION, "count", create, destroy, process};
static const bt_job old_job = {BT_JOB_ABI_VERSION + 99, "count-old", create, destroy, process};

const bt_job *reclaimd_job(void)
{
    return getenv("COUNT_JOB_WRONG_ABI") ? &old_job : &job;
}
