/* test_float.c - number printing: the fast paths against printf (and strtod). */
#include "testutil.h"
#include "ro_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double from_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

/* ro_format_double must print exactly what the printf search prints (an
 * independent computation of the shortest round-trip digits), and what it
 * prints must read back as the same double. */
static void check(double v, unsigned *checked)
{
    char fast[40], slow[40];
    size_t n = ro_format_double(v, fast);
    ro_format_double_printf(v, slow);
    if (strcmp(fast, slow) != 0) {
        uint64_t b;
        memcpy(&b, &v, sizeof b);
        print_error("bits 0x%016llx: fast '%s', printf '%s'\n", (unsigned long long)b, fast, slow);
        fail();
    }
    assert_int_equal(n, strlen(fast));
    if (isfinite(v))
        assert_true(strtod(fast, NULL) == v);
    (*checked)++;
}

static void fast_paths_agree_with_printf(void **state)
{
    (void)state;
    enum { N = 40000 };
    unsigned checked = 0;
    for (int i = 0; i < N; i++) {
        check(from_bits(rng()), &checked);                               /* anything, NaN and inf too */
        double e = -12.0 + (double)(rng() % 27000) / 1000.0;             /* 10^-12 .. 10^15, the exact path's range and round it */
        check(pow(10.0, e) * (1.0 + (double)(rng() % 1000) / 1e6), &checked);
        double sum = 0;                                                  /* the summary job's sums and means */
        int k = 1 + (int)(rng() % 40);
        for (int j = 0; j < k; j++)
            sum += (double)(rng() % 50001) / 100.0;
        check(sum, &checked);
        check(-sum / k, &checked);
        int p2 = (int)(rng() % 100) - 50;                                /* beside powers of two and ten */
        double two = ldexp(1.0, p2);
        check(two, &checked);
        check(nextafter(two, 0), &checked);
        check(nextafter(two, INFINITY), &checked);
        double ten = pow(10.0, (double)((int)(rng() % 40) - 20));
        check(nextafter(ten, 0), &checked);
        check(nextafter(ten, INFINITY), &checked);
        static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};   /* short decimals: */
        check((double)(rng() % 1000000000) / p10[rng() % 9], &checked);             /* amounts, min, max */
    }
    assert_int_equal(checked, 10u * N);
}

/* ro_format_i64 against printf's %lld, at the edges and at random. */
static void ints_print_as_printf_prints_them(void **state)
{
    (void)state;
    const int64_t edges[] = {0, 1, -1, 9, 10, 99, 100, -100, 999999999, 1000000000, INT64_MAX, INT64_MIN,
                             INT64_MIN + 1, 4294967296, -4294967296};
    char got[24], want[24];
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        size_t n = ro_format_i64(edges[i], got);
        snprintf(want, sizeof want, "%lld", (long long)edges[i]);
        assert_string_equal(got, want);
        assert_int_equal(n, strlen(want));
    }
    for (int k = 1; k <= 18; k++) {      /* both sides of every length change */
        int64_t p = 1;
        for (int j = 0; j < k; j++)
            p *= 10;
        const int64_t around[] = {p - 1, p, p + 1, -(p - 1), -p, -(p + 1)};
        for (size_t j = 0; j < sizeof around / sizeof around[0]; j++) {
            size_t n = ro_format_i64(around[j], got);
            snprintf(want, sizeof want, "%lld", (long long)around[j]);
            assert_string_equal(got, want);
            assert_int_equal(n, strlen(want));
        }
    }
    for (int i = 0; i < 200000; i++) {
        int64_t v = (int64_t)(rng() >> (rng() % 64));
        if (i & 1)
            v = -v;
        size_t n = ro_format_i64(v, got);
        snprintf(want, sizeof want, "%lld", (long long)v);
        assert_string_equal(got, want);
        assert_int_equal(n, strlen(want));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fast_paths_agree_with_printf),
        cmocka_unit_test(ints_print_as_printf_prints_them),
    };
    return cmocka_run_group_tests_name("runtime/numbers", tests, NULL, NULL);
}
