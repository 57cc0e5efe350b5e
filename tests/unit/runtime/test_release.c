/* test_release.c - page release: survivors must not pin the pages of a dead batch. */
#include "testutil.h"
#include "ro_internal.h"

#include <stdlib.h>
#include <string.h>

static ro_mem_stats stats(ro_state *rt)
{
    ro_mem_stats st;
    ro_mem_get_stats(rt, &st);
    return st;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* Distinct pools among n block addresses. */
static size_t distinct_pools(uintptr_t *pools, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pools[i] &= ~(uintptr_t)(RO_POOL_SIZE - 1);
    qsort(pools, n, sizeof *pools, cmp_ptr);
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || pools[i] != pools[i - 1])
            d++;
    return d;
}

/* The frag scenario scaled down (2M ints, every 6000th kept: 334 survivors,
 * as 10M and every 30,000th): survivors are spread one per pool, every other
 * pool of the batch is free. */
static void survivors_do_not_pin_free_pools(void **state)
{
    ro_state *rt = RT(state);
    enum { N = 2000000, K = 6000 };
    ro_object *all = ro_list_new(rt, N);
    for (int64_t i = 0; i < N; i++)
        assert_int_equal(ro_list_append_steal(rt, all, ro_int_from_i64(rt, 1000 + i)), 0);
    ro_object *keep = ro_list_new(rt, N / K + 1);
    for (size_t i = 0; i < N; i += K)
        ro_list_append(rt, keep, ro_list_get_item(rt, all, i));
    size_t survivors = ro_list_len(keep);
    assert_int_equal(survivors, (N + K - 1) / K);
    ro_decref(rt, all);                       /* the batch dies; no explicit call */

    ro_mem_stats st = stats(rt);
    /* Every pool with a live block is counted once: the survivors' pools,
     * plus the few holding the `keep` list, its items and the intern table. */
    uintptr_t *addr = malloc((survivors + 3) * sizeof *addr);
    for (size_t i = 0; i < survivors; i++)
        addr[i] = (uintptr_t)ro_list_get_item(rt, keep, i);
    size_t survivor_pools = distinct_pools(addr, survivors);
    free(addr);
    assert_true(survivor_pools <= survivors);
    assert_true(st.pools_in_use <= survivor_pools + 4);
    /* Lazily: at most the release threshold (1 MiB) of free pools still resident. */
    assert_true(st.bytes_resident_pools <= st.pools_in_use * RO_POOL_SIZE + RO_ARENA_SIZE);
    assert_true(st.bytes_released_total > 0);

    /* A release pass (what a full collection or the guard does) leaves only
     * the pools holding live blocks resident. */
    ro_mem_release(rt);
    st = stats(rt);
    assert_int_equal(st.pools_free_resident, 0);
    assert_int_equal(st.bytes_resident_pools, st.pools_in_use * RO_POOL_SIZE);
    assert_true(st.bytes_resident_pools <= (survivor_pools + 4) * RO_POOL_SIZE);
    /* Survivors are intact. */
    for (size_t i = 0; i < survivors; i++)
        assert_int_equal(ro_int_value(ro_list_get_item(rt, keep, i)), 1000 + (int64_t)(i * K));
    ro_decref(rt, keep);
}

/* Churn inside one pool makes no system call: pools freed and reused
 * below the threshold stay resident. */
static void churn_makes_no_madvise_calls(void **state)
{
    ro_state *rt = RT(state);
    uint64_t calls = stats(rt).madvise_calls_total;
    for (int round = 0; round < 1000; round++) {
        ro_object *l = ro_list_new(rt, 0);
        for (int i = 0; i < 2000; i++)     /* a few pools' worth, then all freed */
            ro_list_append_steal(rt, l, ro_float_from_double(rt, i));
        ro_decref(rt, l);
    }
    assert_int_equal(stats(rt).madvise_calls_total, calls);
}

/* Released pools come back into use transparently (pages fault in as zero
 * and the pool header is rewritten), and resident ones are preferred. */
static void released_pools_are_reused(void **state)
{
    ro_state *rt = RT(state);
    ro_object *l = ro_list_new(rt, 0);
    for (int i = 0; i < 200000; i++)
        ro_list_append_steal(rt, l, ro_float_from_double(rt, i + 0.25));
    ro_object *pin = ro_list_new(rt, 0);
    ro_list_append(rt, pin, ro_list_get_item(rt, l, 199999));   /* pins the last arena */
    ro_decref(rt, l);
    ro_mem_release(rt);
    ro_mem_stats st = stats(rt);
    assert_true(st.pools_released > 0);
    l = ro_list_new(rt, 0);
    for (int i = 0; i < 100000; i++)
        ro_list_append_steal(rt, l, ro_float_from_double(rt, i + 0.5));
    for (int i = 0; i < 100000; i += 1000)
        assert_true(ro_float_value(ro_list_get_item(rt, l, (size_t)i)) == i + 0.5);
    assert_true(ro_float_value(ro_list_get_item(rt, pin, 0)) == 199999.25);
    ro_decref(rt, l);
    ro_decref(rt, pin);
}

/* While release is held (a collection's bulk free), pool frees make no
 * madvise call even far past the threshold; the resume makes the release
 * they owed, once. Survivors pin every arena, so none is unmapped. */
static void held_release_waits_for_its_resume(void **state)
{
    ro_state *rt = RT(state);
    enum { N = 400000, K = 2000 };             /* one float in K kept: every arena stays in use */
    ro_object *all = ro_list_new(rt, N);
    for (int64_t i = 0; i < N; i++)
        assert_int_equal(ro_list_append_steal(rt, all, ro_float_from_double(rt, (double)i + 0.5)), 0);
    ro_object *keep = ro_list_new(rt, N / K);
    for (size_t i = 0; i < N; i += K)
        ro_list_append(rt, keep, ro_list_get_item(rt, all, i));
    uint64_t calls = stats(rt).madvise_calls_total, unmapped = stats(rt).arenas_unmapped_total;

    ro_mem_hold_release(rt);
    ro_decref(rt, all);
    ro_mem_stats st = stats(rt);
    assert_int_equal(st.madvise_calls_total, calls);
    assert_true(st.pools_free_resident > RO_ARENA_SIZE / RO_POOL_SIZE);   /* past the 1 MiB threshold */
    assert_int_equal(st.arenas_unmapped_total, unmapped);

    ro_mem_resume_release(rt);
    st = stats(rt);
    assert_true(st.madvise_calls_total > calls);
    assert_int_equal(st.pools_free_resident, 0);
    assert_true(st.pools_released > 0);
    for (size_t i = 0; i < ro_list_len(keep); i++)
        assert_true(ro_float_value(ro_list_get_item(rt, keep, i)) == (double)(i * K) + 0.5);
    /* Nothing owed any more: a second resume makes no call. */
    calls = st.madvise_calls_total;
    ro_mem_hold_release(rt);
    ro_mem_resume_release(rt);
    assert_int_equal(stats(rt).madvise_calls_total, calls);
    ro_decref(rt, keep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(survivors_do_not_pin_free_pools, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(churn_makes_no_madvise_calls, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(released_pools_are_reused, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(held_release_waits_for_its_resume, test_rt_setup, test_rt_teardown),
    };
    return cmocka_run_group_tests_name("runtime/release", tests, NULL, NULL);
}
