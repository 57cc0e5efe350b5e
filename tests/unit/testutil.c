/* testutil.c - shared fixtures for the cmocka unit tests. */
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void capture(void *ud, int level, const char *msg)
{
    test_log *log = ud;
    log->count++;
    log->last_level = level;
    snprintf(log->last, sizeof log->last, "%s", msg);
}

int test_rt_setup(void **state)
{
    test_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return -1;
    ro_config cfg = {.log = capture, .log_ud = &ctx->log, .hash_seed = 12345};
    ctx->rt = ro_open(&cfg);
    if (ctx->rt == NULL) {
        free(ctx);
        return -1;
    }
    *state = ctx;
    return 0;
}

int test_rt_teardown(void **state)
{
    test_ctx *ctx = *state;
    size_t leaked = ro_close(ctx->rt);
    free(ctx);
    if (leaked != 0) {
        fprintf(stderr, "teardown: %zu bytes leaked\n", leaked);
        return -1;
    }
    return 0;
}

uint64_t test_bytes_in_use(ro_state *rt)
{
    ro_mem_stats st;
    ro_mem_get_stats(rt, &st);
    return st.bytes_in_use;
}

void test_put_file(int dirfd, const char *name, const char *text)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}
