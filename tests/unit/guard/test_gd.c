/* test_gd.c - the guard's parsers on fixtures (texts as the kernel writes them) and its policy. */
#include "testutil.h"
#include "gd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char status_fixture[] =
    "Name:\treclaimd\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t  220468 kB\nVmSize:\t  220468 kB\n"
    "VmHWM:\t  130000 kB\nVmRSS:\t  123768 kB\nRssAnon:\t  118000 kB\nRssFile:\t    5700 kB\n"
    "RssShmem:\t      68 kB\nThreads:\t2\n";

static void proc_status_gives_rss_and_anonymous_rss(void **state)
{
    (void)state;
    uint64_t rss, anon;
    assert_int_equal(gd_parse_proc_status(status_fixture, &rss, &anon), 0);
    assert_int_equal(rss, 123768ull * 1024);
    assert_int_equal(anon, 118000ull * 1024);
    /* Old kernels: no RssAnon, anonymous taken as all of RSS. */
    assert_int_equal(gd_parse_proc_status("VmRSS:\t 100 kB\n", &rss, &anon), 0);
    assert_int_equal(anon, 100 * 1024);
    assert_int_equal(gd_parse_proc_status("Name:\tx\nVmRSSX: 5 kB\n", &rss, &anon), -1);
}

static void meminfo_gives_total_and_available(void **state)
{
    (void)state;
    uint64_t total, avail;
    const char *mi = "MemTotal:       24682468 kB\nMemFree:        20000000 kB\nMemAvailable:   22000000 kB\n"
                     "Buffers:          100000 kB\nCached:          1000000 kB\n";
    assert_int_equal(gd_parse_meminfo(mi, &total, &avail), 0);
    assert_int_equal(total, 24682468ull * 1024);
    assert_int_equal(avail, 22000000ull * 1024);
    /* Before 3.14 there is no MemAvailable: free + cached. */
    assert_int_equal(gd_parse_meminfo("MemTotal: 1000 kB\nMemFree: 300 kB\nCached: 200 kB\n", &total, &avail), 0);
    assert_int_equal(avail, 500 * 1024);
    assert_int_equal(gd_parse_meminfo("MemFree: 300 kB\n", &total, &avail), -1);
}

static void psi_averages(void **state)
{
    (void)state;
    gd_psi p;
    const char *t = "some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\n"
                    "full avg10=0.75 avg60=0.10 avg300=0.00 total=65432\n";
    assert_int_equal(gd_parse_psi(t, &p), 0);
    assert_true(p.some_avg10 == 1.5 && p.some_avg60 == 0.25);
    assert_true(p.has_full && p.full_avg10 == 0.75 && p.full_avg60 == 0.10);
    assert_int_equal(gd_parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", &p), 0);
    assert_false(p.has_full);
    assert_int_equal(gd_parse_psi("nothing here\n", &p), -1);
}

static void keyed_files_and_limits(void **state)
{
    (void)state;
    uint64_t v;
    const char *oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
    assert_int_equal(gd_parse_keyed(oom, "oom_kill", &v), 0);
    assert_int_equal(v, 3);                 /* not confused with oom_kill_disable */
    const char *events = "low 0\nhigh 12\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n";
    assert_int_equal(gd_parse_keyed(events, "max", &v), 0);
    assert_int_equal(v, 4);
    const char *stat = "cache 9318400\nrss 2187264\ninactive_file 16384\ntotal_inactive_file 1261568\n";
    assert_int_equal(gd_parse_keyed(stat, "inactive_file", &v), 0);
    assert_int_equal(v, 16384);
    assert_int_equal(gd_parse_keyed(stat, "total_inactive_file", &v), 0);
    assert_int_equal(v, 1261568);
    assert_int_equal(gd_parse_keyed(stat, "active_file", &v), -1);
    assert_int_equal(gd_parse_limit("max\n", &v), 0);
    assert_true(v == GD_UNLIMITED);
    assert_int_equal(gd_parse_limit("9223372036854771712\n", &v), 0);   /* v1: no limit */
    assert_true(v == GD_UNLIMITED);
    assert_int_equal(gd_parse_limit("134217728\n", &v), 0);
    assert_int_equal(v, 134217728);
    assert_int_equal(gd_parse_limit("lots\n", &v), -1);
}

static const char mountinfo_fixture[] =
    "22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n";

static void cgroup_location_v1_hybrid_and_v2(void **state)
{
    (void)state;
    gd_cgroup_loc loc;
    const char *pc = "12:pids:/\n4:memory:/system.slice/reclaimd.service\n1:cpu,cpuacct:/\n0::/system.slice/reclaimd.service\n";
    assert_int_equal(gd_parse_cgroup_location(pc, mountinfo_fixture, &loc), 0);
    assert_int_equal(loc.version, 1);
    assert_string_equal(loc.dir, "/sys/fs/cgroup/memory/system.slice/reclaimd.service");
    assert_false(loc.is_root);
    /* Root cgroup. */
    assert_int_equal(gd_parse_cgroup_location("4:memory:/\n", mountinfo_fixture, &loc), 0);
    assert_string_equal(loc.dir, "/sys/fs/cgroup/memory");
    assert_true(loc.is_root);
    /* Pure v2. */
    const char *mi2 = "25 1 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
    assert_int_equal(gd_parse_cgroup_location("0::/user.slice/x.scope\n", mi2, &loc), 0);
    assert_int_equal(loc.version, 2);
    assert_string_equal(loc.dir, "/sys/fs/cgroup/user.slice/x.scope");
    /* A container whose mount shows only its own subtree (root != /). */
    const char *mi3 = "25 1 0:22 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n";
    assert_int_equal(gd_parse_cgroup_location("5:memory:/docker/abc\n", mi3, &loc), 0);
    assert_string_equal(loc.dir, "/sys/fs/cgroup/memory");
    /* Nothing mounted. */
    assert_int_equal(gd_parse_cgroup_location("4:memory:/a\n", "22 1 0:21 / /sys rw - sysfs sysfs rw\n", &loc), -1);
}

static void budget_and_pressure(void **state)
{
    (void)state;
    gd_sample s = {.rss = 50u << 20, .mem_total = 24ull << 30, .fds = 700, .fd_limit = 1024};
    gd_sample_derive(&s, 0);
    assert_true(s.budget == 24ull << 30);           /* no cgroup, no own budget: MemTotal */
    s.has_cgroup = true;
    s.cg.limit = 128u << 20;
    s.cg.working_set = 96u << 20;                    /* the cgroup counts more than our RSS */
    gd_sample_derive(&s, 0);
    assert_true(s.budget == 128u << 20);
    assert_true(s.usage == 96u << 20);
    assert_true(s.pressure == 0.75);
    gd_sample_derive(&s, 64u << 20);                 /* a smaller configured budget wins */
    assert_true(s.budget == 64u << 20);
    assert_true(s.pressure == 1.5);
    assert_true(s.fd_ratio > 0.68 && s.fd_ratio < 0.69);
}

static void levels_and_interval(void **state)
{
    (void)state;
    gd_policy p;
    gd_policy_defaults(&p);
    assert_int_equal(gd_level_of(&p, 0.10), GD_OK);
    assert_int_equal(gd_level_of(&p, 0.70), GD_SOFT);
    assert_int_equal(gd_level_of(&p, 0.849), GD_SOFT);
    assert_int_equal(gd_level_of(&p, 0.85), GD_HARD);
    assert_int_equal(gd_level_of(&p, 0.95), GD_CRITICAL);
    assert_int_equal(gd_fd_level_of(&p, 0.5), 0);
    assert_int_equal(gd_fd_level_of(&p, 0.7), 1);
    assert_int_equal(gd_fd_level_of(&p, 0.95), 2);
    /* Far from every threshold: the idle interval; nearer: shorter, down to the floor. */
    assert_int_equal(gd_next_interval_ms(&p, 0.10, 0.0, 0.0), 250);
    assert_int_equal(gd_next_interval_ms(&p, 0.60, 0.0, 0.0), 130);    /* 10 points from soft: halfway */
    assert_int_equal(gd_next_interval_ms(&p, 0.69999, 0.0, 0.0), 10);
    assert_int_equal(gd_next_interval_ms(&p, 0.97, 0.0, 0.0), 10);
    assert_int_equal(gd_next_interval_ms(&p, 0.10, 0.65, 0.0), 70);    /* descriptors near fd_soft decide */
    /* Growing 1.0 (a whole budget) per second, 60 points from soft: half of 600 ms is more than the idle
     * interval; 5 points away: 25 ms; a runaway leak: the floor. */
    assert_int_equal(gd_next_interval_ms(&p, 0.10, 0.0, 1.0), 250);
    assert_int_equal(gd_next_interval_ms(&p, 0.30, 0.0, 1.0), 200);    /* 400 ms to soft: half */
    assert_int_equal(gd_next_interval_ms(&p, 0.30, 0.0, 100.0), 10);
    assert_string_equal(gd_level_name(GD_HARD), "hard");
}

static void readers_on_this_process(void **state)
{
    (void)state;
    long before = gd_count_fds();
    assert_true(before >= 3);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(gd_count_fds(), before + 2);
    close(fds[0]);
    close(fds[1]);
    gd_sample s;
    assert_int_equal(gd_sample_read(NULL, &s), 0);
    assert_true(s.rss > 0 && s.mem_total > 0 && s.fd_limit > 0);
}

/* A cgroup the guard measures must be read with every sample: one whose
 * usage cannot be read fails the sample (naming the file) rather than
 * leaving the cgroup out, which would judge its usage against the machine. */
static void an_unreadable_cgroup_fails_the_sample(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_gd.XXXXXX";
    assert_non_null(mkdtemp(dir));
    gd_cgroup cg = {.version = 1};
    cg.dirfd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(cg.dirfd >= 0);
    gd_sample s;
    assert_int_equal(gd_sample_read(&cg, &s), -1);
    assert_int_equal(errno, ENOENT);
    assert_string_equal(s.unread, "memory.usage_in_bytes");
    test_put_file(cg.dirfd, "memory.usage_in_bytes", "not a number\n");
    assert_int_equal(gd_sample_read(&cg, &s), -1);
    assert_string_equal(s.unread, "memory.usage_in_bytes");
    test_put_file(cg.dirfd, "memory.usage_in_bytes", "104857600\n");
    test_put_file(cg.dirfd, "memory.limit_in_bytes", "134217728\n");
    assert_int_equal(gd_sample_read(&cg, &s), 0);
    assert_null(s.unread);
    assert_true(s.has_cgroup);
    assert_int_equal(s.cg.usage, 104857600);
    assert_int_equal(s.cg.limit, 134217728);
    cg.version = 0;                          /* none opened: the sample goes without */
    assert_int_equal(gd_sample_read(&cg, &s), 0);
    assert_false(s.has_cgroup);
    const char *names[] = {"memory.usage_in_bytes", "memory.limit_in_bytes"};
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(unlinkat(cg.dirfd, names[i], 0), 0);
    close(cg.dirfd);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(proc_status_gives_rss_and_anonymous_rss),
        cmocka_unit_test(meminfo_gives_total_and_available),
        cmocka_unit_test(psi_averages),
        cmocka_unit_test(keyed_files_and_limits),
        cmocka_unit_test(cgroup_location_v1_hybrid_and_v2),
        cmocka_unit_test(budget_and_pressure),
        cmocka_unit_test(levels_and_interval),
        cmocka_unit_test(readers_on_this_process),
        cmocka_unit_test(an_unreadable_cgroup_fails_the_sample),
    };
    return cmocka_run_group_tests_name("guard", tests, NULL, NULL);
}
