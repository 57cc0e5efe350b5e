/* benchutil.h - measuring helpers shared by the benchmarks (RSS, clocks, python twin). */
#ifndef RECLAIMD_BENCHUTIL_H
#define RECLAIMD_BENCHUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Resident set size of this process now, in bytes (from /proc/self/statm). */
uint64_t bench_rss_bytes(void);
/* Peak resident set size of this process, in bytes (getrusage). */
uint64_t bench_peak_rss_bytes(void);
/* Monotonic seconds. */
double bench_now_s(void);
/* Path of the CPython interpreter to compare with, or NULL when none. */
const char *bench_python(void);
/* Run `python -c script` and capture its standard output (NUL-terminated)
 * into out. Returns 0 when it exited 0. */
int bench_run_python(const char *script, char *out, size_t outsz);
/* Find "key": number in a flat JSON object; returns 0 and sets *v. */
int bench_json_number(const char *json, const char *key, double *v);
/* Parse "--name VALUE" style options: returns the value or dflt. */
long long bench_opt_ll(int argc, char **argv, const char *name, long long dflt);
int bench_flag(int argc, char **argv, const char *name);

#endif
