/* testutil.h - shared fixtures for the cmocka unit tests. */
#ifndef RECLAIMD_TESTUTIL_H
#define RECLAIMD_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ro.h"

/* What the runtime logged, for tests that check warnings. */
typedef struct test_log {
    int count;
    int last_level;
    char last[512];
} test_log;

typedef struct test_ctx {
    ro_state *rt;
    test_log log;
} test_ctx;

/* cmocka setup/teardown: a fresh runtime per test with a fixed hash seed and
 * a captured log; teardown fails the test if any object byte leaked. */
int test_rt_setup(void **state);
int test_rt_teardown(void **state);

/* A cmocka test run on its own fresh runtime (the fixtures above). */
#define RT_TEST(fn) cmocka_unit_test_setup_teardown(fn, test_rt_setup, test_rt_teardown)

#define CTX(state) ((test_ctx *)*(state))
#define RT(state) (CTX(state)->rt)

/* Allocator bytes in use right now. */
uint64_t test_bytes_in_use(ro_state *rt);

/* Write text as the whole of the file name in the directory dirfd
 * (created or truncated); fails the test when that cannot be done. */
void test_put_file(int dirfd, const char *name, const char *text);

#endif
