/* gc.c - collector benchmark: freeing two-object cycles, pause over live containers; vs CPython. */
#include "benchutil.h"
#include "ro.h"

#include <stdio.h>
#include <stdlib.h>

/*
 * usage: gc [--rounds R] [--json] [--no-python]
 * collect_1e5 / collect_1e6: N/2 pairs of lists referring to each other are
 *   dropped, then one full collection frees them; figure = pause / N. Each pair
 *   is built as the CPython twin builds it: a = []; b = [a]; a.append(b).
 *   Such garbage holds no reference out of itself, and reclaimd frees it
 *   without reading its references; collect_out_1e5 is the same with each list
 *   also holding one shared str (x = "x"; a = [x]; b = [x, a]; a.append(b)),
 *   garbage whose references must be dropped one by one.
 * live_pause_1e6: one full collection over 1e6 live (reachable) lists with
 *   nothing to free. Automatic collection is off while building, as in the
 *   CPython twin (gc.disable()).
 */

typedef struct gc_figures {
    double collect_1e5_ns, collect_1e6_ns, collect_out_1e5_ns, live_pause_1e6_s, live_nested_pause_1e6_s;
} gc_figures;

static double cycles_ns_per_obj(long n, int with_str)
{
    ro_state *rt = ro_open(NULL);
    ro_gc_disable(rt);
    ro_object *x = ro_str_from_cstr(rt, "x");
    for (long i = 0; i < n / 2; i++) {
        ro_object *a = ro_list_new(rt, 0), *b = ro_list_new(rt, with_str ? 2 : 1);   /* exact slots */
        if (with_str) {
            ro_list_append(rt, a, x);
            ro_list_append(rt, b, x);
        }
        ro_list_append(rt, b, a);
        ro_list_append(rt, a, b);
        ro_decref(rt, a);
        ro_decref(rt, b);
    }
    ro_decref(rt, x);
    ro_gc_report r;
    ro_gc_collect(rt, 2, &r);
    if (r.collected != (uint64_t)(n / 2) * 2) {
        fprintf(stderr, "gc: expected %ld collected, got %llu\n", n, (unsigned long long)r.collected);
        exit(1);
    }
    ro_close(rt);
    return (double)r.pause_ns / (double)n;
}

/* nested = 0: n empty lists (reclaimd leaves them untracked: they hold no
 * container); nested = 1: n lists each holding an empty list (the outer ones
 * must be tracked, so the collection really walks n containers). */
static double live_pause_s(long n, int nested)
{
    ro_state *rt = ro_open(NULL);
    ro_gc_disable(rt);
    ro_object *keep = ro_list_new(rt, (size_t)n);
    for (long i = 0; i < n; i++) {
        ro_object *l = ro_list_new(rt, 0);
        if (nested)
            ro_list_append_steal(rt, l, ro_list_new(rt, 0));
        ro_list_append_steal(rt, keep, l);
    }
    ro_gc_collect(rt, 2, NULL);          /* settle: everything in the oldest generation */
    ro_gc_report r;
    ro_gc_collect(rt, 2, &r);
    ro_decref(rt, keep);
    ro_close(rt);
    return (double)r.pause_ns / 1e9;
}

static const char PY_GC[] =
    "import gc, json, time\n"
    "gc.disable()\n"
    "def cycles(n, with_str=False):\n"
    "    x = 'x'\n"
    "    for _ in range(n // 2):\n"
    "        if with_str:\n"
    "            a = [x]; b = [x, a]; a.append(b)\n"
    "        else:\n"
    "            a = []; b = [a]; a.append(b)\n"
    "    del a, b\n"
    "    t = time.perf_counter(); c = gc.collect(); dt = time.perf_counter() - t\n"
    "    assert c >= n, c\n"
    "    return dt / n * 1e9\n"
    "def live(n, nested=False):\n"
    "    keep = [[[]] if nested else [] for _ in range(n)]\n"
    "    gc.collect()\n"
    "    t = time.perf_counter(); gc.collect(); dt = time.perf_counter() - t\n"
    "    return dt\n"
    "print(json.dumps({'collect_1e5_ns_per_obj': cycles(100000), 'collect_1e6_ns_per_obj': cycles(1000000),\n"
    "                  'collect_out_1e5_ns_per_obj': cycles(100000, True),\n"
    "                  'live_pause_1e6_s': live(1000000), 'live_nested_pause_1e6_s': live(1000000, True)}))\n";

static double min2(double a, double b) { return a < b ? a : b; }

static void keep_best(gc_figures *best, const gc_figures *f)
{
    best->collect_1e5_ns = min2(best->collect_1e5_ns, f->collect_1e5_ns);
    best->collect_1e6_ns = min2(best->collect_1e6_ns, f->collect_1e6_ns);
    best->collect_out_1e5_ns = min2(best->collect_out_1e5_ns, f->collect_out_1e5_ns);
    best->live_pause_1e6_s = min2(best->live_pause_1e6_s, f->live_pause_1e6_s);
    best->live_nested_pause_1e6_s = min2(best->live_nested_pause_1e6_s, f->live_nested_pause_1e6_s);
}

int main(int argc, char **argv)
{
    if (bench_flag(argc, argv, "--help")) {
        printf("usage: gc [--rounds R] [--json] [--no-python]\n"
               "  R rounds (default 3), each: every figure in reclaimd, then the CPython twin;\n"
               "  each figure is the best (lowest) of its R rounds.\n");
        return 0;
    }
    long long rounds = bench_opt_ll(argc, argv, "--rounds", 3);
    if (rounds < 1)
        rounds = 1;
    gc_figures ro = {1e300, 1e300, 1e300, 1e300, 1e300}, py = {1e300, 1e300, 1e300, 1e300, 1e300};
    int have_py = !bench_flag(argc, argv, "--no-python") && bench_python() != NULL;
    for (long long r = 0; r < rounds; r++) {
        gc_figures f = {cycles_ns_per_obj(100000, 0), cycles_ns_per_obj(1000000, 0),
                        cycles_ns_per_obj(100000, 1), live_pause_s(1000000, 0), live_pause_s(1000000, 1)};
        keep_best(&ro, &f);
        char out[1024];
        gc_figures p;
        have_py = have_py && bench_run_python(PY_GC, out, sizeof out) == 0 &&
                  bench_json_number(out, "collect_1e5_ns_per_obj", &p.collect_1e5_ns) == 0 &&
                  bench_json_number(out, "collect_1e6_ns_per_obj", &p.collect_1e6_ns) == 0 &&
                  bench_json_number(out, "collect_out_1e5_ns_per_obj", &p.collect_out_1e5_ns) == 0 &&
                  bench_json_number(out, "live_pause_1e6_s", &p.live_pause_1e6_s) == 0 &&
                  bench_json_number(out, "live_nested_pause_1e6_s", &p.live_nested_pause_1e6_s) == 0;
        if (have_py)
            keep_best(&py, &p);
    }
    if (!have_py)
        py = (gc_figures){0, 0, 0, 0, 0};
    if (bench_flag(argc, argv, "--json")) {
        printf("{\"collect_1e5_ns_per_obj\": %.2f, \"collect_1e6_ns_per_obj\": %.2f, "
               "\"collect_out_1e5_ns_per_obj\": %.2f, \"live_pause_1e6_s\": %.6f, "
               "\"live_nested_pause_1e6_s\": %.6f",
               ro.collect_1e5_ns, ro.collect_1e6_ns, ro.collect_out_1e5_ns, ro.live_pause_1e6_s,
               ro.live_nested_pause_1e6_s);
        if (have_py)
            printf(", \"py_collect_1e5_ns_per_obj\": %.2f, \"py_collect_1e6_ns_per_obj\": %.2f, "
                   "\"py_collect_out_1e5_ns_per_obj\": %.2f, \"py_live_pause_1e6_s\": %.6f, "
                   "\"py_live_nested_pause_1e6_s\": %.6f",
                   py.collect_1e5_ns, py.collect_1e6_ns, py.collect_out_1e5_ns, py.live_pause_1e6_s,
                   py.live_nested_pause_1e6_s);
        printf("}\n");
        return 0;
    }
    printf("gc: full collections (automatic collection off while building), best of %lld interleaved rounds\n\n",
           rounds);
    printf("%-40s %12s %12s %8s\n", "", "reclaimd", have_py ? "CPython" : "(no python3)", "ratio");
    printf("%-40s %10.1fns %10.1fns %7.2fx\n", "free 1e5 objects in 2-cycles, per object",
           ro.collect_1e5_ns, py.collect_1e5_ns, have_py ? py.collect_1e5_ns / ro.collect_1e5_ns : 0);
    printf("%-40s %10.1fns %10.1fns %7.2fx\n", "free 1e6 objects in 2-cycles, per object",
           ro.collect_1e6_ns, py.collect_1e6_ns, have_py ? py.collect_1e6_ns / ro.collect_1e6_ns : 0);
    printf("%-40s %10.1fns %10.1fns %7.2fx\n", "free 1e5 in 2-cycles + a str, per object",
           ro.collect_out_1e5_ns, py.collect_out_1e5_ns,
           have_py ? py.collect_out_1e5_ns / ro.collect_out_1e5_ns : 0);
    printf("%-40s %10.2fms %10.2fms %7.2fx\n", "pause over 1e6 live lists, nothing to free",
           ro.live_pause_1e6_s * 1e3, py.live_pause_1e6_s * 1e3,
           have_py ? py.live_pause_1e6_s / ro.live_pause_1e6_s : 0);
    printf("%-40s %10.2fms %10.2fms %7.2fx\n", "pause over 1e6 live lists holding a list",
           ro.live_nested_pause_1e6_s * 1e3, py.live_nested_pause_1e6_s * 1e3,
           have_py ? py.live_nested_pause_1e6_s / ro.live_nested_pause_1e6_s : 0);
    printf("\n(ratio = CPython / reclaimd: how many times faster reclaimd is)\n"
           "(the first two rows' garbage refers to nothing outside itself: reclaimd frees it without\n"
           " reading its references; the third row's lists each hold a shared str too, so every\n"
           " reference is dropped one by one)\n"
           "(reclaimd does not track containers that hold no container: the empty lists of the fourth\n"
           " row are never scanned. The fifth row has 1e6 lists that must be tracked in both runtimes;\n"
           " CPython also tracks the 1e6 inner empty lists there.)\n");
    return 0;
}
