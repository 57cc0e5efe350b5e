/* leaky.c - a job that computes exactly what the built-in summary job does, and leaks.
 *
 * For the leak guard's tests and demos ([batch] job = PATH/leaky_job.so).
 * Its [job] options, each per input record (user):
 *   cycle_bytes_per_user = N   a reference cycle of about N bytes, then dropped:
 *                              only the cycle collector frees it
 *   files_per_user = N         files (/dev/null) opened and kept open in a list
 *                              the job never trims: only a force-close reclaims them
 *   leaked_refs_per_user = N   about N bytes in objects whose reference is never
 *                              dropped: only a restart reclaims them
 *   gc_auto = on|off           off switches automatic collection off, as some
 *                              applications do for speed (default on)
 */
#include "bt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const bt_job *reclaimd_job(void);

#define CHUNK 240          /* bytes per leaked object: pooled, not malloc'd */

typedef struct leaky {
    const bt_job *summary;
    void *inner;
    unsigned long long cycle_bytes, files, leaked_bytes;
    ro_object *kept_files;  /* new reference: a list of every file opened */
} leaky;

static int parse_count(const bt_job_option *o, unsigned long long *out, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(o->value, &end, 10);
    if (o->value[0] < '0' || o->value[0] > '9' || *end != '\0' || errno != 0 || v > (1ull << 30)) {
        snprintf(err, errlen, "[job] %s: '%s' is not valid (expected a whole number up to 2^30)", o->key,
                 o->value);
        return -1;
    }
    *out = v;
    return 0;
}

static void destroy(void *inst, ro_state *rt)
{
    leaky *j = inst;
    if (j == NULL)
        return;
    if (j->inner != NULL)
        j->summary->destroy(j->inner, rt);
    ro_xdecref(rt, j->kept_files);
    free(j);
}

static void *create(ro_state *rt, const bt_job_option *opts, size_t nopts, char *err, size_t errlen)
{
    leaky *j = calloc(1, sizeof *j);
    if (j == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    j->summary = bt_job_summary();
    bool gc_off = false;
    for (size_t i = 0; i < nopts; i++) {
        const bt_job_option *o = &opts[i];
        int r = 0;
        if (strcmp(o->key, "cycle_bytes_per_user") == 0)
            r = parse_count(o, &j->cycle_bytes, err, errlen);
        else if (strcmp(o->key, "files_per_user") == 0)
            r = parse_count(o, &j->files, err, errlen);
        else if (strcmp(o->key, "leaked_refs_per_user") == 0)
            r = parse_count(o, &j->leaked_bytes, err, errlen);
        else if (strcmp(o->key, "gc_auto") == 0 && (strcmp(o->value, "on") == 0 || strcmp(o->value, "off") == 0))
            gc_off = strcmp(o->value, "off") == 0;
        else if (strcmp(o->key, "gc_auto") == 0) {
            snprintf(err, errlen, "[job] gc_auto: '%s' is not valid (expected on or off)", o->value);
            r = -1;
        } else {
            snprintf(err, errlen, "[job] %s: unknown option (the leaky job knows: cycle_bytes_per_user, "
                                  "files_per_user, leaked_refs_per_user, gc_auto)", o->key);
            r = -1;
        }
        if (r != 0) {
            destroy(j, rt);
            return NULL;
        }
    }
    j->inner = j->summary->create(rt, NULL, 0, err, errlen);
    j->kept_files = ro_list_new(rt, 0);
    if (j->inner == NULL || j->kept_files == NULL) {
        if (j->kept_files == NULL)
            snprintf(err, errlen, "out of memory");
        destroy(j, rt);
        return NULL;
    }
    if (gc_off)
        ro_gc_disable(rt);
    return j;
}

/* A list holding itself and about n bytes of small bytes objects. */
static int leak_cycle(ro_state *rt, unsigned long long n)
{
    ro_object *l = ro_list_new(rt, 0);
    if (l == NULL || ro_list_append(rt, l, l) != 0) {
        ro_xdecref(rt, l);
        return -1;
    }
    static const char fill[CHUNK];
    for (unsigned long long b = 0; b < n; b += CHUNK) {
        ro_object *c = ro_bytes_from(rt, fill, CHUNK);
        if (c == NULL || ro_list_append_steal(rt, l, c) != 0) {
            ro_decref(rt, l);
            return -1;
        }
    }
    ro_decref(rt, l);               /* unreachable now, but its count stays above zero */
    return 0;
}

static int leak_refs(ro_state *rt, unsigned long long n)
{
    static const char fill[CHUNK];
    for (unsigned long long b = 0; b < n; b += CHUNK)
        if (ro_bytes_from(rt, fill, CHUNK) == NULL)  /* the new reference is dropped on the floor */
            return -1;
    return 0;
}

static ro_object *process(void *inst, ro_state *rt, ro_object *record, char *err, size_t errlen)
{
    leaky *j = inst;
    ro_object *res = j->summary->process(j->inner, rt, record, err, errlen);
    if (res == NULL)
        return NULL;
    for (unsigned long long i = 0; i < j->files; i++) {
        ro_object *f = ro_file_open(rt, "/dev/null", "r", NULL);   /* owned by the running batch */
        if (f == NULL || ro_list_append_steal(rt, j->kept_files, f) != 0) {
            ro_decref(rt, res);
            return NULL;
        }
    }
    if ((j->cycle_bytes && leak_cycle(rt, j->cycle_bytes) != 0) ||
        (j->leaked_bytes && leak_refs(rt, j->leaked_bytes) != 0)) {
        ro_decref(rt, res);
        return NULL;
    }
    return res;
}

static const bt_job leaky_job = {
    .abi_version = BT_JOB_ABI_VERSION,
    .name = "leaky",
    .create = create,
    .destroy = destroy,
    .process = process,
};

const bt_job *reclaimd_job(void) { return &leaky_job; }
