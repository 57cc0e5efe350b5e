/* churn.c - create and drop small objects in a loop: the release policy must cost nothing; vs CPython. */
#include "benchutil.h"
#include "ro.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * usage: churn [--n N] [--kind dict|tuple|float|list] [--json] [--no-python]
 * For each kind, N times: make the loop counter an int object, build one
 * small object from it, drop both. The Python twin is the same loop:
 *   dict {'k': i}   tuple (i, i)   float i * 0.5   list [i]
 * Figures are ns per object, with lazy page release on (default) and off.
 */

enum { K_DICT, K_TUPLE, K_FLOAT, K_LIST, K_COUNT };
static const char *const kind_name[K_COUNT] = {"dict {'k': i}", "tuple (i, i)", "float i * 0.5", "list [i]"};
static const char *const kind_key[K_COUNT] = {"dict", "tuple", "float", "list"};

static double churn_ns(int kind, long long n, uint64_t threshold)
{
    ro_state *rt = ro_open(NULL);
    ro_mem_set_release_threshold(rt, threshold);
    ro_object *key = ro_str_intern_cstr(rt, "k");
    double t0 = bench_now_s();
    /* One loop per kind, as the Python twin has one function per kind. */
#define CHURN_LOOP(MAKE)                                                  \
    for (long long i = 0; i < n; i++) {                                   \
        ro_object *v = ro_int_from_i64(rt, i), *o = NULL;                 \
        if (v != NULL)                                                    \
            MAKE;                                                         \
        if (o == NULL) {                                                  \
            fprintf(stderr, "churn: %s\n", ro_err_msg(rt));               \
            exit(1);                                                      \
        }                                                                 \
        ro_decref(rt, o);                                                 \
        ro_decref(rt, v);                                                 \
    }
    switch (kind) {
    case K_DICT:
        CHURN_LOOP(if ((o = ro_dict_new(rt)) != NULL && ro_dict_set(rt, o, key, v) != 0) o = NULL)
        break;
    case K_TUPLE:
        CHURN_LOOP(o = ro_tuple_pack(rt, 2, v, v))
        break;
    case K_FLOAT:
        CHURN_LOOP(o = ro_float_from_double(rt, (double)i * 0.5))
        break;
    default:
        CHURN_LOOP(if ((o = ro_list_new(rt, 0)) != NULL && ro_list_append(rt, o, v) != 0) o = NULL)
        break;
    }
#undef CHURN_LOOP
    double dt = bench_now_s() - t0;
    ro_decref(rt, key);
    ro_close(rt);
    return dt / (double)n * 1e9;
}

static const char PY_CHURN[] =
    "import json, time\n"
    "N = %lld\n"
    "def dicts():\n"
    "    for i in range(N): d = {'k': i}\n"
    "def tuples():\n"
    "    for i in range(N): t = (i, i)\n"
    "def floats():\n"
    "    for i in range(N): f = i * 0.5\n"
    "def lists():\n"
    "    for i in range(N): l = [i]\n"
    "out = {}\n"
    "for name, fn in (('dict', dicts), ('tuple', tuples), ('float', floats), ('list', lists)):\n"
    "    t = time.perf_counter(); fn(); out[name] = (time.perf_counter() - t) / N * 1e9\n"
    "print(json.dumps(out))\n";

static double min2(double a, double b) { return a < b ? a : b; }

int main(int argc, char **argv)
{
    if (bench_flag(argc, argv, "--help")) {
        printf("usage: churn [--n N] [--rounds R] [--kind dict|tuple|float|list] [--json] [--no-python]\n"
               "  R rounds (default 5), each: every kind in reclaimd with release on and off, then\n"
               "  the CPython twin; each figure is the best (lowest) of its R rounds, so that both\n"
               "  sides are measured under the same, interleaved, machine noise.\n");
        return 0;
    }
    long long n = bench_opt_ll(argc, argv, "--n", 10000000);
    long long rounds = bench_opt_ll(argc, argv, "--rounds", 5);
    if (rounds < 1)
        rounds = 1;
    int only = -1;                          /* --kind: one kind, no CPython (for profilers) */
    for (int i = 1; i + 1 < argc; i++)
        for (int k = 0; strcmp(argv[i], "--kind") == 0 && k < K_COUNT; k++)
            if (strcmp(argv[i + 1], kind_key[k]) == 0)
                only = k;
    if (only >= 0) {
        printf("%s: %.2f ns per object\n", kind_name[only], churn_ns(only, n, 1024 * 1024));
        return 0;
    }
    double on[K_COUNT], off[K_COUNT], py[K_COUNT];
    for (int k = 0; k < K_COUNT; k++)
        on[k] = off[k] = py[k] = 1e300;
    char script[sizeof PY_CHURN + 32], out[1024];
    snprintf(script, sizeof script, PY_CHURN, n);
    int have_py = !bench_flag(argc, argv, "--no-python") && bench_python() != NULL;
    for (long long r = 0; r < rounds; r++) {
        for (int k = 0; k < K_COUNT; k++) {
            on[k] = min2(on[k], churn_ns(k, n, 1024 * 1024));
            off[k] = min2(off[k], churn_ns(k, n, UINT64_MAX));
        }
        if (have_py && bench_run_python(script, out, sizeof out) != 0)
            have_py = 0;
        for (int k = 0; have_py && k < K_COUNT; k++) {
            double v;
            have_py = bench_json_number(out, kind_key[k], &v) == 0;
            py[k] = min2(py[k], v);
        }
    }
    if (bench_flag(argc, argv, "--json")) {
        printf("{\"rounds\": %lld", rounds);
        for (int k = 0; k < K_COUNT; k++)
            printf(", \"%s_ns\": %.2f, \"%s_norelease_ns\": %.2f", kind_key[k], on[k], kind_key[k], off[k]);
        for (int k = 0; have_py && k < K_COUNT; k++)
            printf(", \"py_%s_ns\": %.2f", kind_key[k], py[k]);
        printf("}\n");
        return 0;
    }
    printf("churn: %lld create+drop per kind, ns per object, best of %lld interleaved rounds\n\n", n, rounds);
    printf("%-16s %10s %14s %10s %8s\n", "", "reclaimd", "(no release)", have_py ? "CPython" : "(no py)",
           "ratio");
    for (int k = 0; k < K_COUNT; k++)
        printf("%-16s %8.1fns %12.1fns %8.1fns %7.2fx\n", kind_name[k], on[k], off[k], have_py ? py[k] : 0.0,
               have_py ? py[k] / on[k] : 0.0);
    printf("\n(ratio = CPython / reclaimd with release on: how many times faster)\n");
    return 0;
}
