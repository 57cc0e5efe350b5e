/* frag.c - fragmentation: a few survivors of a dead batch must not pin its memory; vs CPython. */
#include "benchutil.h"
#include "ro.h"

#include <stdio.h>
#include <stdlib.h>

/*
 * usage: frag [--n N] [--k K] [--rounds R] [--json] [--no-python]
 * Builds N distinct ints in a list (values > 256), keeps every K-th in a new
 * list (about N/K survivors), drops the big list, and reports RSS before, at
 * peak, right after the drop (no explicit call) and after an explicit
 * release, then times the same build + drop with lazy page release off.
 * The two are run in turn R times (default 5); each keeps its fastest
 * build + drop (the RSS figures are the first run's).
 */

typedef struct frag_result {
    long long survivors;
    uint64_t rss_before, peak, rss_after_free, rss_after_release;
    double build_s, free_s;
} frag_result;

static int run_ro(long long n, long long k, uint64_t threshold, frag_result *r)
{
    ro_state *rt = ro_open(NULL);
    if (rt == NULL)
        return -1;
    ro_mem_set_release_threshold(rt, threshold);
    r->rss_before = bench_rss_bytes();
    double t0 = bench_now_s();
    ro_object *all = ro_list_new(rt, 0);
    for (long long i = 0; i < n; i++)
        if (ro_list_append_steal(rt, all, ro_int_from_i64(rt, 257 + i)) != 0)
            return -1;
    double t1 = bench_now_s();
    r->peak = bench_rss_bytes();
    ro_object *keep = ro_list_new(rt, 0);
    for (long long i = 0; i < n; i += k)
        ro_list_append(rt, keep, ro_list_get_item(rt, all, (size_t)i));
    r->survivors = (long long)ro_list_len(keep);
    double t2 = bench_now_s();
    ro_decref(rt, all);
    double t3 = bench_now_s();
    r->rss_after_free = bench_rss_bytes();
    ro_mem_release(rt);
    r->rss_after_release = bench_rss_bytes();
    r->build_s = t1 - t0;
    r->free_s = t3 - t2;
    ro_decref(rt, keep);
    return ro_close(rt) == 0 ? 0 : -1;
}

static const char PY_FRAG[] =
    "import ctypes, gc, json, resource, time\n"
    "N, K = %lld, %lld\n"
    "PAGE = resource.getpagesize()\n"
    "def rss():\n"
    "    return int(open('/proc/self/statm').read().split()[1]) * PAGE\n"
    "before = rss()\n"
    "t0 = time.perf_counter(); l = [i for i in range(257, 257 + N)]; t1 = time.perf_counter()\n"
    "peak = rss()\n"
    "keep = l[::K]\n"
    "t2 = time.perf_counter(); del l; t3 = time.perf_counter()\n"
    "after = rss()\n"
    "gc.collect(); ctypes.CDLL('libc.so.6').malloc_trim(0)\n"
    "print(json.dumps({'survivors': len(keep), 'rss_before_bytes': before, 'peak_rss_bytes': peak,\n"
    "                  'rss_after_free_bytes': after, 'rss_after_release_bytes': rss(),\n"
    "                  'build_s': t1 - t0, 'free_s': t3 - t2}))\n";

static int run_py(long long n, long long k, frag_result *r)
{
    char script[sizeof PY_FRAG + 64], out[1024];
    double v;
    snprintf(script, sizeof script, PY_FRAG, n, k);
    if (bench_run_python(script, out, sizeof out) != 0)
        return -1;
    if (bench_json_number(out, "survivors", &v))
        return -1;
    r->survivors = (long long)v;
    bench_json_number(out, "rss_before_bytes", &v);
    r->rss_before = (uint64_t)v;
    bench_json_number(out, "peak_rss_bytes", &v);
    r->peak = (uint64_t)v;
    bench_json_number(out, "rss_after_free_bytes", &v);
    r->rss_after_free = (uint64_t)v;
    bench_json_number(out, "rss_after_release_bytes", &v);
    r->rss_after_release = (uint64_t)v;
    bench_json_number(out, "build_s", &r->build_s);
    bench_json_number(out, "free_s", &r->free_s);
    return 0;
}

int main(int argc, char **argv)
{
    if (bench_flag(argc, argv, "--help")) {
        printf("usage: frag [--n N] [--k K] [--rounds R] [--json] [--no-python]\n");
        return 0;
    }
    long long n = bench_opt_ll(argc, argv, "--n", 10000000), k = bench_opt_ll(argc, argv, "--k", 30000);
    long long rounds = bench_opt_ll(argc, argv, "--rounds", 5);
    frag_result ro, off, py = {0};
    for (long long i = 0; i < (rounds < 1 ? 1 : rounds); i++) {
        frag_result a, b;
        if (run_ro(n, k, 1024 * 1024, &a) != 0 || run_ro(n, k, UINT64_MAX, &b) != 0) {
            fprintf(stderr, "frag: runtime run failed\n");
            return 1;
        }
        if (i == 0) {
            ro = a;
            off = b;
        }
        if (a.build_s + a.free_s < ro.build_s + ro.free_s) {
            ro.build_s = a.build_s;
            ro.free_s = a.free_s;
        }
        if (b.build_s + b.free_s < off.build_s + off.free_s)
            off = b;
    }
    int have_py = !bench_flag(argc, argv, "--no-python") && run_py(n, k, &py) == 0;
    if (bench_flag(argc, argv, "--json")) {
        printf("{\"survivors\": %lld, \"rss_before_bytes\": %llu, \"peak_rss_bytes\": %llu, "
               "\"rss_after_free_bytes\": %llu, \"rss_after_release_bytes\": %llu, \"build_s\": %.6f, "
               "\"free_s\": %.6f, \"norelease_build_s\": %.6f, \"norelease_free_s\": %.6f",
               ro.survivors, (unsigned long long)ro.rss_before, (unsigned long long)ro.peak,
               (unsigned long long)ro.rss_after_free, (unsigned long long)ro.rss_after_release,
               ro.build_s, ro.free_s, off.build_s, off.free_s);
        if (have_py)
            printf(", \"py_survivors\": %lld, \"py_rss_before_bytes\": %llu, \"py_peak_rss_bytes\": %llu, "
                   "\"py_rss_after_free_bytes\": %llu, \"py_rss_after_release_bytes\": %llu, "
                   "\"py_build_s\": %.6f, \"py_free_s\": %.6f",
                   py.survivors, (unsigned long long)py.rss_before, (unsigned long long)py.peak,
                   (unsigned long long)py.rss_after_free, (unsigned long long)py.rss_after_release,
                   py.build_s, py.free_s);
        printf("}\n");
        return 0;
    }
    double mib = 1024.0 * 1024.0;
    printf("frag: %lld distinct ints, every %lldth kept (%lld survivors), the rest dropped\n\n", n, k,
           ro.survivors);
    printf("%-34s %12s %12s\n", "", "reclaimd", have_py ? "CPython" : "(no python3)");
    printf("%-34s %9.1fMiB %9.1fMiB\n", "RSS before", ro.rss_before / mib, py.rss_before / mib);
    printf("%-34s %9.1fMiB %9.1fMiB\n", "RSS at peak", ro.peak / mib, py.peak / mib);
    printf("%-34s %9.1fMiB %9.1fMiB\n", "RSS after the drop (no call)", ro.rss_after_free / mib,
           py.rss_after_free / mib);
    printf("%-34s %9.1fMiB %9.1fMiB\n", "RSS after explicit release", ro.rss_after_release / mib,
           py.rss_after_release / mib);
    printf("%-34s %+9.1fMiB %+9.1fMiB\n", "after the drop - before",
           ((double)ro.rss_after_free - (double)ro.rss_before) / mib,
           ((double)py.rss_after_free - (double)py.rss_before) / mib);
    printf("%-34s %10.3fs %10.3fs\n", "build", ro.build_s, py.build_s);
    printf("%-34s %10.3fs %10.3fs\n", "drop", ro.free_s, py.free_s);
    printf("\nwithout lazy page release: build %.3fs, drop %.3fs (build + drop %+.1f%% with release)\n",
           off.build_s, off.free_s,
           ((ro.build_s + ro.free_s) / (off.build_s + off.free_s) - 1.0) * 100.0);
    printf("(explicit release: reclaimd ro_mem_release(); CPython gc.collect() + malloc_trim(0))\n");
    return 0;
}
