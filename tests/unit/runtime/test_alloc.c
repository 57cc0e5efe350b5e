/* test_alloc.c - allocator invariants, statistics and failure injection. */
#include "testutil.h"
#include "ro_internal.h"

#include <stdlib.h>
#include <string.h>

/* Blocks of a class in one pool: (pool - header) / class size. */
#define PER_POOL(sz) ((RO_POOL_SIZE - 64) / (sz))

static ro_mem_stats stats(ro_state *rt)
{
    ro_mem_stats st;
    ro_mem_get_stats(rt, &st);
    return st;
}

static void every_size_class_is_aligned_and_distinct(void **state)
{
    ro_state *rt = RT(state);
    void *blocks[RO_SMALL_MAX + 1];
    uint64_t want = 0, base_blocks = stats(rt).blocks_in_use;
    for (size_t n = 1; n <= RO_SMALL_MAX; n++) {
        blocks[n] = ro_mem_alloc(rt, n);
        assert_non_null(blocks[n]);
        assert_int_equal((uintptr_t)blocks[n] % RO_ALIGN, 0);
        memset(blocks[n], (int)n, n);
        want += n;
    }
    assert_int_equal(stats(rt).large_bytes_in_use, 0);
    for (size_t n = 1; n <= RO_SMALL_MAX; n++) {
        const uint8_t *p = blocks[n];
        for (size_t k = 0; k < n; k++)
            assert_int_equal(p[k], (uint8_t)n);   /* nobody overlapped it */
    }
    for (size_t n = 1; n <= RO_SMALL_MAX; n++)
        ro_mem_free(rt, blocks[n], n);
    (void)want;
    assert_int_equal(stats(rt).blocks_in_use, base_blocks);
}

static void stats_count_exact_bytes_pools_and_arenas(void **state)
{
    ro_state *rt = RT(state);
    ro_mem_stats before = stats(rt);
    enum { N = 200000 };
    void **p = malloc(N * sizeof *p);
    for (int i = 0; i < N; i++)
        p[i] = ro_mem_alloc(rt, 24);   /* class 32 */
    ro_mem_stats st = stats(rt);
    size_t pools = (N + PER_POOL(32) - 1) / PER_POOL(32);
    size_t arenas = (pools + RO_POOLS_PER_ARENA - 1) / RO_POOLS_PER_ARENA;
    assert_int_equal(st.bytes_in_use - before.bytes_in_use, (uint64_t)N * 24);
    assert_int_equal(st.blocks_in_use - before.blocks_in_use, N);
    assert_int_equal(st.pools_in_use - before.pools_in_use, pools);
    assert_int_equal(st.arenas_mapped, arenas);
    assert_int_equal(st.bytes_mapped, arenas * RO_ARENA_SIZE);
    assert_true(st.bytes_in_use_peak >= st.bytes_in_use);
    for (int i = 0; i < N; i++)
        ro_mem_free(rt, p[i], 24);
    free(p);
    st = stats(rt);
    assert_int_equal(st.bytes_in_use, before.bytes_in_use);
    /* One idle pool of the class stays against alloc/free churn... */
    assert_int_equal(st.pools_in_use, before.pools_in_use + 1);
    ro_mem_release(rt);   /* ...until a release pass */
    st = stats(rt);
    assert_int_equal(st.pools_in_use, before.pools_in_use);
    /* Every emptied arena went back at once, except one kept for reuse whose
     * pages were released. */
    assert_true(st.arenas_mapped <= 1 + before.arenas_mapped);
    assert_int_equal(st.arenas_mapped_peak, arenas);
    assert_int_equal(st.arenas_unmapped_total, st.arenas_mapped_peak - st.arenas_mapped);
    assert_int_equal(st.pools_free_resident, 0);
}

static void large_blocks_come_from_malloc(void **state)
{
    ro_state *rt = RT(state);
    void *p = ro_mem_alloc(rt, RO_SMALL_MAX + 1);
    assert_int_equal(stats(rt).large_bytes_in_use, RO_SMALL_MAX + 1);
    p = ro_mem_realloc(rt, p, RO_SMALL_MAX + 1, 100000);
    assert_int_equal(stats(rt).large_bytes_in_use, 100000);
    ro_mem_free(rt, p, 100000);
    assert_int_equal(stats(rt).large_bytes_in_use, 0);
}

static void realloc_keeps_contents_across_classes(void **state)
{
    ro_state *rt = RT(state);
    uint64_t base = stats(rt).bytes_in_use;
    uint8_t *p = ro_mem_alloc(rt, 10);
    for (int i = 0; i < 10; i++)
        p[i] = (uint8_t)i;
    uint8_t *q = ro_mem_realloc(rt, p, 10, 12);   /* same class: same block */
    assert_ptr_equal(p, q);
    q = ro_mem_realloc(rt, q, 12, 300);
    q = ro_mem_realloc(rt, q, 300, 5000);
    q = ro_mem_realloc(rt, q, 5000, 40);
    for (int i = 0; i < 10; i++)
        assert_int_equal(q[i], i);
    ro_mem_free(rt, q, 40);
    assert_int_equal(stats(rt).bytes_in_use, base);
}

static ro_pool *pool_of(void *p)
{
    return (ro_pool *)((uintptr_t)p & ~(uintptr_t)(RO_POOL_SIZE - 1));
}

/* With arenas X (one free pool) and Y (ten free pools) and a mostly empty
 * arena, a new pool must come from X: the fullest arena that has room. */
static void new_pools_come_from_the_fullest_arena(void **state)
{
    ro_state *rt = RT(state);
    size_t per_arena = PER_POOL(512) * RO_POOLS_PER_ARENA;
    size_t n = 3 * per_arena + 1;
    void **p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = ro_mem_alloc(rt, 512);
    ro_arena *x = pool_of(p[per_arena + per_arena / 2])->p_arena;
    ro_arena *y = pool_of(p[2 * per_arena + per_arena / 2])->p_arena;
    assert_ptr_not_equal(x, y);
    assert_int_equal(x->a_nfree, 0);
    assert_int_equal(y->a_nfree, 0);
    ro_pool *xpool = pool_of(p[per_arena + per_arena / 2]);
    ro_pool *ypools[10];
    size_t ny = 0;
    for (size_t i = 0; i < n && ny < 10; i++) {
        ro_pool *pp = pool_of(p[i]);
        if (pp->p_arena == y && (ny == 0 || ypools[ny - 1] != pp))
            ypools[ny++] = pp;
    }
    for (size_t i = 0; i < n; i++) {
        ro_pool *pp = pool_of(p[i]);
        bool in_y = false;
        for (size_t k = 0; k < ny; k++)
            in_y |= pp == ypools[k];
        if (pp == xpool || in_y) {
            ro_mem_free(rt, p[i], 512);
            p[i] = NULL;
        }
    }
    assert_int_equal(x->a_nfree, 1);
    assert_int_equal(y->a_nfree, 10);
    void *q = ro_mem_alloc(rt, 48);        /* another class: needs a new pool */
    assert_ptr_equal(pool_of(q)->p_arena, x);
    assert_ptr_equal(pool_of(q), xpool);   /* the resident free pool is reused */
    ro_mem_free(rt, q, 48);
    for (size_t i = 0; i < n; i++)
        if (p[i] != NULL)
            ro_mem_free(rt, p[i], 512);
    free(p);
}

static void injected_failure_is_an_error_not_a_crash(void **state)
{
    ro_state *rt = RT(state);
    ro_mem_inject_failure(rt, 1, 1);
    assert_null(ro_int_from_i64(rt, 100000));
    assert_int_equal(ro_err_kind(rt), RO_E_NOMEM);
    assert_non_null(strstr(ro_err_msg(rt), "out of memory"));
    ro_err_clear(rt);
    ro_object *o = ro_int_from_i64(rt, 100000);   /* the next one works */
    assert_non_null(o);
    ro_decref(rt, o);
    assert_int_equal(stats(rt).alloc_failures_total, 1);
}

/* Build a small structure; returns 0 or -1, never leaks on failure. */
static int build_structure(ro_state *rt)
{
    ro_object *d = ro_dict_new(rt);
    if (d == NULL)
        return -1;
    int rc = -1;
    for (int i = 0; i < 30; i++) {
        ro_object *k = ro_str_from_format(rt, "key-%d", i);
        if (k == NULL)
            goto out;
        ro_object *l = ro_list_new(rt, 0);
        if (l == NULL) {
            ro_decref(rt, k);
            goto out;
        }
        for (int j = 0; j < 20; j++) {
            if (ro_list_append_steal(rt, l, ro_float_from_double(rt, i * j)) != 0) {
                ro_decref(rt, k);
                ro_decref(rt, l);
                goto out;
            }
        }
        int r = ro_dict_set_steal(rt, d, k, l);
        ro_decref(rt, k);
        if (r != 0)
            goto out;
    }
    rc = 0;
out:
    ro_decref(rt, d);
    return rc;
}

static void every_single_allocation_can_fail_cleanly(void **state)
{
    ro_state *rt = RT(state);
    ro_mem_inject_failure(rt, 0, 0);
    ro_mem_stats st0 = stats(rt);
    assert_int_equal(build_structure(rt), 0);
    uint64_t allocs = stats(rt).allocs_total - st0.allocs_total;
    assert_true(allocs > 600);
    ro_freelists_clear(rt);
    uint64_t base = stats(rt).bytes_in_use;
    for (uint64_t nth = 1; nth <= allocs; nth++) {
        ro_freelists_clear(rt);       /* so every object really allocates */
        ro_mem_inject_failure(rt, nth, 1);
        int r = build_structure(rt);
        if (r != 0) {
            assert_int_equal(ro_err_kind(rt), RO_E_NOMEM);
            ro_err_clear(rt);
        }
        ro_mem_inject_failure(rt, 0, 0);
        ro_freelists_clear(rt);
        assert_int_equal(stats(rt).bytes_in_use, base);
    }
}

static void free_lists_are_bounded(void **state)
{
    ro_state *rt = RT(state);
    ro_object *fs[500];
    for (int i = 0; i < 500; i++)
        fs[i] = ro_float_from_double(rt, i);
    for (int i = 0; i < 500; i++)
        ro_decref(rt, fs[i]);
    assert_int_equal(ro_freelists_clear(rt), RO_FREELIST_MAX);
    assert_int_equal(ro_freelists_clear(rt), 0);
}

/* The allocator's state as the tests can compare it between two runtimes. */
static void assert_same_pools(ro_state *a, ro_state *b)
{
    ro_mem_stats x = stats(a), y = stats(b);
    assert_int_equal(x.blocks_in_use, y.blocks_in_use);
    assert_int_equal(x.bytes_in_use, y.bytes_in_use);
    assert_int_equal(x.frees_total, y.frees_total);
    assert_int_equal(x.pools_in_use, y.pools_in_use);
    assert_int_equal(x.arenas_mapped, y.arenas_mapped);
    assert_int_equal(x.pools_free_resident + x.pools_released, y.pools_free_resident + y.pools_released);
}

/* ro_mem_free_many against one ro_mem_free per block, in a second runtime
 * that does the same allocations: whole pools, partial runs, runs across
 * pool boundaries, blocks out of order, a block list that comes back to a
 * pool it left. Afterwards both hand out the same number of distinct,
 * writable blocks, and every byte comes back. */
static void free_many_matches_one_free_per_block(void **state)
{
    enum { N = 5 * PER_POOL(16) + 17 };
    ro_state *rt = RT(state);
    ro_state *twin = ro_open(NULL);
    assert_non_null(twin);
    static void *a[N], *b[N], *pick_a[N], *pick_b[N];
    /* Patterns over the index: which blocks one ro_mem_free_many call frees. */
    for (int pattern = 0; pattern < 5; pattern++) {
        for (int i = 0; i < N; i++) {
            a[i] = ro_mem_alloc(rt, 16);
            b[i] = ro_mem_alloc(twin, 16);
            assert_non_null(a[i]);
            assert_non_null(b[i]);
        }
        size_t k = 0;
        for (int i = 0; i < N; i++) {
            int j = pattern == 4 ? N - 1 - i : i;           /* 4: every block, in reverse */
            bool take = pattern == 0 || pattern == 4 ||
                        (pattern == 1 && j % 2 == 0) ||      /* every other one */
                        (pattern == 2 && j >= (int)PER_POOL(16) / 2 && j < 3 * (int)PER_POOL(16)) ||  /* across pools */
                        (pattern == 3 && (j % 3 != 0));
            if (take) {
                pick_a[k] = a[j];
                pick_b[k] = b[j];
                a[j] = b[j] = NULL;
                k++;
            }
        }
        if (pattern == 3) {   /* runs interleaved: leave one pool and come back to it */
            void *t = pick_a[1];
            pick_a[1] = pick_a[k - 1];
            pick_a[k - 1] = t;
            t = pick_b[1];
            pick_b[1] = pick_b[k - 1];
            pick_b[k - 1] = t;
        }
        ro_mem_free_many(rt, pick_a, k, 16);
        for (size_t i = 0; i < k; i++)
            ro_mem_free(twin, pick_b[i], 16);
        assert_same_pools(rt, twin);
        /* Both hand out k distinct blocks again; write them all. */
        for (size_t i = 0; i < k; i++) {
            pick_a[i] = ro_mem_alloc(rt, 16);
            pick_b[i] = ro_mem_alloc(twin, 16);
            memset(pick_a[i], 0xa5, 16);
            memset(pick_b[i], 0x5a, 16);
        }
        assert_same_pools(rt, twin);
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < 16; j++)
                assert_int_equal(((uint8_t *)pick_a[i])[j], 0xa5);
        ro_mem_free_many(rt, pick_a, k, 16);
        for (size_t i = 0; i < k; i++)
            ro_mem_free(twin, pick_b[i], 16);
        for (int i = 0; i < N; i++) {
            if (a[i] != NULL) {
                ro_mem_free(rt, a[i], 16);
                ro_mem_free(twin, b[i], 16);
            }
        }
        assert_same_pools(rt, twin);
    }
    assert_int_equal(ro_close(twin), 0);
}

/* A big untracked list's items die a chunk at a time through
 * ro_drop_atoms: ints that die, ints that live on in another list, floats,
 * big ints, strings, shared small ints. The survivors keep their values and
 * every byte comes back once they go too (the teardown checks that). */
static void a_big_list_of_atoms_frees_exactly_its_dead(void **state)
{
    enum { N = 20000 };
    ro_state *rt = RT(state);
    ro_object *l = ro_list_new(rt, 0), *keep = ro_list_new(rt, 0);
    for (int i = 0; i < N; i++) {
        ro_object *x;
        switch (i % 5) {
        case 0: x = ro_int_from_i64(rt, 1000 + i); break;
        case 1: x = ro_float_from_double(rt, i * 0.5); break;
        case 2: x = ro_int_from_i64(rt, (int64_t)1 << 40 | i); break;
        case 3: x = ro_str_from_cstr(rt, i % 2 ? "odd" : "even"); break;
        default: x = ro_int_from_i64(rt, i % 200); break;    /* shared, immortal */
        }
        assert_non_null(x);
        if (i % 7 == 0)
            assert_int_equal(ro_list_append(rt, keep, x), 0);
        assert_int_equal(ro_list_append_steal(rt, l, x), 0);
    }
    assert_false(ro_gc_is_tracked(l));
    uint64_t with_both = test_bytes_in_use(rt);
    ro_decref(rt, l);
    assert_true(test_bytes_in_use(rt) < with_both);
    for (size_t j = 0; j < ro_list_len(keep); j++) {
        int i = (int)j * 7;
        ro_object *x = ro_list_get_item(rt, keep, j);
        assert_int_equal(x->ob_refcnt == RO_IMMORTAL ? 1u : x->ob_refcnt, 1u);
        switch (i % 5) {
        case 0: assert_int_equal(ro_int_value(x), 1000 + i); break;
        case 1: assert_true(ro_float_value(x) == i * 0.5); break;
        case 2: assert_int_equal(ro_int_value(x), (int64_t)1 << 40 | i); break;
        case 3: assert_string_equal(ro_str_utf8(x), i % 2 ? "odd" : "even"); break;
        default: assert_int_equal(ro_int_value(x), i % 200); break;
        }
    }
    ro_decref(rt, keep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_size_class_is_aligned_and_distinct, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(stats_count_exact_bytes_pools_and_arenas, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(large_blocks_come_from_malloc, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(realloc_keeps_contents_across_classes, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(new_pools_come_from_the_fullest_arena, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(injected_failure_is_an_error_not_a_crash, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(every_single_allocation_can_fail_cleanly, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(free_lists_are_bounded, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(free_many_matches_one_free_per_block, test_rt_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(a_big_list_of_atoms_frees_exactly_its_dead, test_rt_setup, test_rt_teardown),
    };
    return cmocka_run_group_tests_name("runtime/alloc", tests, NULL, NULL);
}
