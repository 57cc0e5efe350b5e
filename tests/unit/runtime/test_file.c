/* test_file.c - file objects, the open-file registry, unclosed-file finalization. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];

static int dir_setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ro-file-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    return test_rt_setup(state);
}

static int dir_teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    int r = test_rt_teardown(state);
    if (system(cmd) != 0)
        return -1;
    return r;
}

static void path_in(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

static bool fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

static void write_then_read_lines(void **state)
{
    ro_state *rt = RT(state);
    char p[128];
    path_in(p, sizeof p, "a.txt");
    ro_object *w = ro_file_open(rt, p, "w", NULL);
    assert_non_null(w);
    assert_int_equal(ro_file_write(rt, w, "one\ntwo\nthree", 13), 0);
    assert_int_equal(ro_file_close(rt, w), 0);
    ro_object *r = ro_file_open(rt, p, "r", NULL);
    const char *want[] = {"one\n", "two\n", "three", ""};
    for (int i = 0; i < 4; i++) {
        ro_object *line = ro_file_readline(rt, r);
        assert_non_null(line);
        assert_int_equal(ro_bytes_len(line), strlen(want[i]));
        assert_memory_equal(ro_bytes_data(line), want[i], strlen(want[i]));
        ro_decref(rt, line);
    }
    assert_int_equal(ro_file_write(rt, r, "x", 1), -1);
    assert_int_equal(ro_err_kind(rt), RO_E_VALUE);
    ro_err_clear(rt);
    ro_file_close(rt, r);
    ro_decref(rt, w);
    ro_decref(rt, r);
}

static void long_lines_span_read_buffers(void **state)
{
    ro_state *rt = RT(state);
    char p[128];
    path_in(p, sizeof p, "long.txt");
    size_t n = 200000;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    big[n - 1] = '\n';
    ro_object *w = ro_file_open(rt, p, "w", NULL);
    ro_file_write(rt, w, "short\n", 6);
    ro_file_write(rt, w, big, n);
    ro_file_write(rt, w, "end\n", 4);
    ro_file_close(rt, w);
    ro_decref(rt, w);
    ro_object *r = ro_file_open(rt, p, "r", NULL);
    ro_object *l1 = ro_file_readline(rt, r), *l2 = ro_file_readline(rt, r);
    ro_object *rest = ro_file_read(rt, r, 100);
    assert_int_equal(ro_bytes_len(l1), 6);
    assert_int_equal(ro_bytes_len(l2), n);
    assert_memory_equal(ro_bytes_data(l2), big, n);
    assert_int_equal(ro_bytes_len(rest), 4);
    ro_decref(rt, l1); ro_decref(rt, l2); ro_decref(rt, rest);
    ro_file_close(rt, r);
    ro_decref(rt, r);
    free(big);
}

typedef struct seen { int n; const char *path; const char *owner; const char *mode; int64_t age; } seen;

static int collect(const ro_file_info *info, void *arg)
{
    seen *s = arg;
    s->n++;
    s->path = info->path;
    s->mode = info->mode;
    s->owner = info->owner ? ro_str_utf8(info->owner) : NULL;
    s->age = info->last_use_ns - info->opened_ns;
    return 0;
}

static void registry_lists_open_files_with_owner(void **state)
{
    ro_state *rt = RT(state);
    char p[128];
    path_in(p, sizeof p, "reg.txt");
    ro_object *owner = ro_str_from_cstr(rt, "batch-7");
    assert_int_equal(ro_file_open_count(rt), 0);
    ro_object *f = ro_file_open(rt, p, "a+", owner);
    assert_non_null(f);
    assert_int_equal(ro_file_open_count(rt), 1);
    seen s = {0};
    ro_file_foreach(rt, collect, &s);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.path, p);
    assert_string_equal(s.mode, "a+");
    assert_string_equal(s.owner, "batch-7");
    assert_true(s.age >= 0);
    assert_int_equal(ro_file_close(rt, f), 0);
    assert_int_equal(ro_file_close(rt, f), 0);    /* twice is harmless */
    assert_int_equal(ro_file_open_count(rt), 0);
    assert_null(ro_file_read(rt, f, 1));
    assert_int_equal(ro_err_kind(rt), RO_E_CLOSED);
    assert_non_null(strstr(ro_err_msg(rt), "reg.txt"));
    ro_err_clear(rt);
    ro_decref(rt, f);
    ro_decref(rt, owner);
}

static void dropping_an_open_file_closes_it_and_warns(void **state)
{
    ro_state *rt = RT(state);
    char p[128];
    path_in(p, sizeof p, "leak.txt");
    ro_object *owner = ro_str_from_cstr(rt, "batch-3");
    ro_object *f = ro_file_open(rt, p, "w", owner);
    int fd = ro_file_fileno(f);
    assert_true(fd_is_open(fd));
    int logs = CTX(state)->log.count;
    ro_decref(rt, f);
    assert_false(fd_is_open(fd));
    assert_int_equal(ro_file_unclosed_count(rt), 1);
    assert_int_equal(ro_file_open_count(rt), 0);
    assert_int_equal(CTX(state)->log.count, logs + 1);
    assert_int_equal(CTX(state)->log.last_level, RO_LOG_WARNING);
    assert_non_null(strstr(CTX(state)->log.last, "unclosed file"));
    assert_non_null(strstr(CTX(state)->log.last, "leak.txt"));
    assert_non_null(strstr(CTX(state)->log.last, "owner=batch-3"));
    ro_decref(rt, owner);
}

static void force_closed_files_stay_valid_and_say_so(void **state)
{
    ro_state *rt = RT(state);
    char p[128];
    path_in(p, sizeof p, "forced.txt");
    ro_object *f = ro_file_open(rt, p, "w", NULL);
    int fd = ro_file_fileno(f);
    assert_int_equal(ro_file_force_close(rt, f), 0);
    assert_false(fd_is_open(fd));
    assert_int_equal(ro_file_fileno(f), -1);
    assert_int_equal(ro_file_write(rt, f, "x", 1), -1);
    assert_int_equal(ro_err_kind(rt), RO_E_CLOSED);
    assert_non_null(strstr(ro_err_msg(rt), "force-closed"));
    ro_err_clear(rt);
    assert_int_equal(ro_file_force_close(rt, f), -1);
    ro_err_clear(rt);
    assert_int_equal(ro_file_close(rt, f), 0);
    ro_decref(rt, f);
    assert_int_equal(ro_file_unclosed_count(rt), 0);
}

static void open_errors_name_the_path(void **state)
{
    ro_state *rt = RT(state);
    char p[128], link[128];
    path_in(p, sizeof p, "missing/x");
    assert_null(ro_file_open(rt, p, "r", NULL));
    assert_int_equal(ro_err_kind(rt), RO_E_OS);
    assert_int_equal(ro_err_errno(rt), ENOENT);
    assert_non_null(strstr(ro_err_msg(rt), "missing/x"));
    ro_err_clear(rt);
    assert_null(ro_file_open(rt, p, "rw", NULL));
    assert_int_equal(ro_err_kind(rt), RO_E_VALUE);
    assert_non_null(strstr(ro_err_msg(rt), "invalid mode 'rw'"));
    ro_err_clear(rt);
    /* O_NOFOLLOW: a symbolic link is refused, relative to a directory fd */
    path_in(p, sizeof p, "target");
    path_in(link, sizeof link, "link");
    ro_object *t = ro_file_open(rt, p, "w", NULL);
    ro_file_close(rt, t);
    ro_decref(rt, t);
    assert_int_equal(symlink(p, link), 0);
    int dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_null(ro_file_open_at(rt, dfd, "link", "r", RO_FILE_NOFOLLOW, NULL));
    assert_int_equal(ro_err_errno(rt), ELOOP);
    assert_non_null(strstr(ro_err_msg(rt), "symbolic link"));
    ro_err_clear(rt);
    ro_object *ok = ro_file_open_at(rt, dfd, "target", "r", RO_FILE_NOFOLLOW, NULL);
    assert_non_null(ok);
    assert_int_equal(fcntl(ro_file_fileno(ok), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    ro_file_close(rt, ok);
    ro_decref(rt, ok);
    close(dfd);
    /* "x": exclusive create */
    assert_null(ro_file_open(rt, p, "wx", NULL));
    assert_int_equal(ro_err_errno(rt), EEXIST);
    ro_err_clear(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(write_then_read_lines, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(long_lines_span_read_buffers, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(registry_lists_open_files_with_owner, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(dropping_an_open_file_closes_it_and_warns, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(force_closed_files_stay_valid_and_say_so, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(open_errors_name_the_path, dir_setup, dir_teardown),
    };
    return cmocka_run_group_tests_name("runtime/file", tests, NULL, NULL);
}
