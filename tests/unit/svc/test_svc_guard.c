/* test_svc_guard.c - the guard's loop side on a cgroup it cannot read: retried soon, then less often. */
#include "testutil.h"
#include "guard.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The guard measures a cgroup (here a directory standing for one) whose
 * usage cannot be read: each evaluation is a failed sample, counted; the
 * first retry comes after min_interval, the next ones twice as late each
 * time, up to interval; once the file reads again the sample is whole and
 * the interval is the policy's again. */
static void an_unreadable_sample_is_retried_soon_then_less_often(void **state)
{
    (void)state;
    svc_config c;
    svc_config_defaults(&c);
    c.guard.events = false;                  /* no kernel registrations for a fake cgroup */
    c.guard.interval_ms = 250;
    c.guard.min_interval_ms = 10;
    svc_log lg;
    svc_log_init(&lg, 3, 1);                 /* errors only: the warnings are the subject, not the output */
    svc_guard g;
    assert_int_equal(svc_guard_init(&g, &c, 1, &lg), 0);

    char dir[] = "/tmp/test_svc_guard.XXXXXX";
    assert_non_null(mkdtemp(dir));
    gd_cgroup_close(&g.cg);
    g.cg.version = 1;
    g.cg.dirfd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(g.cg.dirfd >= 0);
    snprintf(g.cg.dir, sizeof g.cg.dir, "%s", dir);

    static const uint64_t want[] = {10, 20, 40, 80, 160, 250, 250};
    unsigned long long evals = atomic_load(&g.evaluations);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(svc_guard_evaluate(&g, "timer"), want[i]);
        assert_int_equal(atomic_load(&g.sample_failures), i + 1);
    }
    assert_int_equal(atomic_load(&g.evaluations), evals);   /* no sample was taken */

    test_put_file(g.cg.dirfd, "memory.usage_in_bytes", "1048576\n");
    test_put_file(g.cg.dirfd, "memory.limit_in_bytes", "17179869184\n");   /* 16 GiB: far below soft */
    uint64_t next = svc_guard_evaluate(&g, "timer");
    assert_int_equal(atomic_load(&g.sample_failures), 7);
    assert_int_equal(atomic_load(&g.evaluations), evals + 1);
    assert_int_equal(g.failed_streak, 0);
    assert_true(g.last.has_cgroup && g.last.cg.usage == 1048576);
    assert_true(next > 10 && next <= 250);
    /* failing again starts from the short wait */
    assert_int_equal(unlinkat(g.cg.dirfd, "memory.usage_in_bytes", 0), 0);
    assert_int_equal(svc_guard_evaluate(&g, "timer"), 10);

    assert_int_equal(unlinkat(g.cg.dirfd, "memory.limit_in_bytes", 0), 0);
    svc_guard_fini(&g);
    assert_int_equal(rmdir(dir), 0);
    svc_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_unreadable_sample_is_retried_soon_then_less_often),
    };
    return cmocka_run_group_tests_name("svc_guard", tests, NULL, NULL);
}
