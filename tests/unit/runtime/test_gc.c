/* test_gc.c - the cycle collector: cycles, finalizers, resurrection, generations. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A user-defined container with one reference and optional behaviours. */
typedef struct node {
    ro_object ob_base;
    ro_object *next;
    int resurrect;      /* finalizer appends the node to the holder list */
    int stubborn;       /* tp_clear refuses to drop the reference */
} node;

static ro_object *holder;          /* where resurrecting finalizers put nodes */
static int finalizer_runs;

static int node_traverse(ro_object *o, ro_visit_fn visit, void *arg)
{
    RO_VISIT(((node *)o)->next, visit, arg);
    return 0;
}

static void node_clear(ro_state *rt, ro_object *o)
{
    if (!((node *)o)->stubborn)
        RO_CLEAR(rt, ((node *)o)->next);
}

static void node_finalize(ro_state *rt, ro_object *o)
{
    finalizer_runs++;
    if (((node *)o)->resurrect)
        ro_list_append(rt, holder, o);
}

static ro_type *node_type(ro_state *rt)
{
    ro_type_spec spec = {.name = "node", .basicsize = sizeof(node), .flags = RO_TPFLAG_GC,
                         .traverse = node_traverse, .clear = node_clear, .finalize = node_finalize};
    return ro_type_new(rt, &spec);
}

/* The same node with a plain clear and no finalizer: freed in bulk. */
static ro_type *plain_node_type(ro_state *rt)
{
    ro_type_spec spec = {.name = "plain node", .basicsize = sizeof(node), .flags = RO_TPFLAG_GC | RO_TPFLAG_PLAIN_CLEAR,
                         .traverse = node_traverse, .clear = node_clear};
    return ro_type_new(rt, &spec);
}

static ro_object *new_node(ro_state *rt, ro_type *t)
{
    return ro_object_new(rt, t, 0);
}

static void link_to(ro_state *rt, ro_object *from, ro_object *to)
{
    ro_incref(to);
    ro_xdecref(rt, ((node *)from)->next);
    ((node *)from)->next = to;
}

static int gc_setup(void **state)
{
    finalizer_runs = 0;
    holder = NULL;
    int r = test_rt_setup(state);
    if (r == 0)
        ro_gc_disable(RT(state));   /* tests collect explicitly unless they test automation */
    return r;
}

static uint64_t base_bytes(ro_state *rt)
{
    ro_freelists_clear(rt);
    return test_bytes_in_use(rt);
}

static void two_list_cycle_is_collected(void **state)
{
    ro_state *rt = RT(state);
    uint64_t base = base_bytes(rt);
    ro_object *a = ro_list_new(rt, 0), *b = ro_list_new(rt, 0);
    ro_list_append(rt, a, b);
    ro_list_append(rt, b, a);
    ro_decref(rt, a);
    ro_decref(rt, b);
    assert_true(base_bytes(rt) > base);          /* refcounting alone cannot free them */
    ro_gc_report r;
    assert_int_equal(ro_gc_collect(rt, 0, &r), 2);
    assert_int_equal(r.collected, 2);
    assert_int_equal(r.examined, 2);
    assert_int_equal(r.uncollectable, 0);
    assert_int_equal(base_bytes(rt), base);
}

/* A ring of lists and one-item tuples, every third link through a tuple.
 * extra: 0 none; 1 the first list also holds a float nothing else holds; 2 it
 * holds an untracked empty list. Returns the number of containers (the
 * untracked list not counted: it is not in the collected set). */
static uint64_t build_ring(ro_state *rt, int n, int extra)
{
    ro_object *first = ro_list_new(rt, 0), *prev = first;
    uint64_t count = 1;
    if (extra == 1)
        ro_list_append_steal(rt, first, ro_float_from_double(rt, 2.5));
    else if (extra == 2)
        ro_list_append_steal(rt, first, ro_list_new(rt, 0));
    for (int i = 1; i < n; i++) {
        ro_object *x;
        if (i % 3 == 0) {
            x = ro_tuple_from_array(rt, &prev, 1);
        } else {
            x = ro_list_new(rt, 1);
            ro_list_append(rt, x, prev);
        }
        if (prev != first)
            ro_decref(rt, prev);
        prev = x;
        count++;
    }
    ro_list_append(rt, first, prev);
    ro_decref(rt, prev);
    ro_decref(rt, first);
    return count;
}

/* Garbage none of whose references leaves it is freed without its
 * references being read (AddressSanitizer would see a read of a freed
 * neighbour); garbage with one reference out frees that referent exactly
 * once. Full and young collections, exact counts, memory back to the start. */
static void closed_and_open_garbage_free_exactly(void **state)
{
    ro_state *rt = RT(state);
    uint64_t base = base_bytes(rt);
    for (int gen = 0; gen <= 2; gen += 2)
        for (int extra = 0; extra < 3; extra++) {
            uint64_t n = build_ring(rt, 3000, extra);
            assert_true(base_bytes(rt) > base);
            ro_gc_report r;
            assert_int_equal(ro_gc_collect(rt, gen, &r), (int64_t)n);
            assert_int_equal(r.examined, n);
            assert_int_equal(r.uncollectable, 0);
            assert_int_equal(ro_gc_tracked(rt), 0);
            assert_int_equal(base_bytes(rt), base);
        }
}

static void self_reference_is_collected(void **state)
{
    ro_state *rt = RT(state);
    ro_object *l = ro_list_new(rt, 0);
    ro_list_append(rt, l, l);
    ro_decref(rt, l);
    assert_int_equal(ro_gc_collect(rt, 2, NULL), 1);
}

static void million_node_ring_is_collected(void **state)
{
    ro_state *rt = RT(state);
    uint64_t base = base_bytes(rt);
    enum { N = 1000000 };
    ro_object *first = ro_list_new(rt, 1), *prev = first;   /* our reference ends in the ring */
    for (int i = 1; i < N; i++) {
        ro_object *l = ro_list_new(rt, 1);
        ro_list_append_steal(rt, prev, l);   /* prev -> l, prev's reference moves into prev */
        prev = l;
    }
    ro_list_append_steal(rt, prev, first);   /* close the ring */
    ro_gc_report r;
    assert_int_equal(ro_gc_collect(rt, 2, &r), N);
    assert_int_equal(r.examined, N);
    assert_int_equal(base_bytes(rt), base);
}

static void cycles_through_dicts_tuples_and_lists(void **state)
{
    ro_state *rt = RT(state);
    uint64_t base = base_bytes(rt);
    ro_object *d = ro_dict_new(rt), *l = ro_list_new(rt, 0);
    ro_object *t = ro_tuple_pack(rt, 2, l, ro_none(rt));   /* t -> l */
    ro_dict_set_cstr_steal(rt, d, "t", t);                 /* d -> t */
    ro_list_append(rt, l, d);                              /* l -> d */
    ro_list_append_steal(rt, l, ro_str_from_cstr(rt, "an atom inside"));
    ro_decref(rt, d);
    ro_decref(rt, l);
    ro_gc_report r;
    ro_gc_collect(rt, 2, &r);
    assert_int_equal(r.collected, 3);     /* atoms are not tracked: freed by refcount */
    assert_int_equal(base_bytes(rt), base);
}

/* Garbage of built-in containers that refers out of its set in every way:
 * a list and a dict in a cycle, a self-reference, a tracked tuple as a dict
 * key (holding an untracked tuple), an untracked list and atoms that only
 * the garbage holds (freed with it), a string and a live list that others
 * hold too (they survive, their counts restored), and an object of the
 * oldest generation that only the garbage holds (freed by refcount when a
 * young collection frees the garbage). With foreign set, a user-defined
 * container joins the cycle, which sends the set down the general path
 * (clears and deallocs). Returns the number of tracked objects in the set. */
static uint64_t build_builtin_garbage(ro_state *rt, ro_object *live, ro_object *shared, ro_object *old,
                                      ro_type *foreign)
{
    ro_object *a = ro_list_new(rt, 0), *d = ro_dict_new(rt);
    ro_list_append(rt, a, d);
    ro_dict_set_cstr_steal(rt, d, "a", a);      /* (a's reference goes to d) */
    ro_list_append(rt, a, a);
    ro_list_append_steal(rt, a, ro_int_from_i64(rt, 123456));
    ro_list_append(rt, a, shared);
    ro_list_append(rt, a, live);
    ro_object *u = ro_list_new(rt, 0);
    ro_list_append_steal(rt, u, ro_float_from_double(rt, 1.5));
    ro_list_append_steal(rt, u, ro_str_from_cstr(rt, "only the garbage holds me"));
    ro_list_append_steal(rt, a, u);
    ro_object *inner = ro_tuple_pack(rt, 2, shared, ro_int_from_i64(rt, 1000));
    ro_decref(rt, ro_tuple_get_item(rt, inner, 1));          /* the pack increfed it */
    ro_object *t = ro_tuple_pack(rt, 1, inner);
    ro_decref(rt, inner);
    assert_int_equal(ro_dict_set(rt, d, t, live), 0);
    ro_decref(rt, t);
    uint64_t n = 3;
    if (old != NULL) {
        ro_list_append_steal(rt, a, old);        /* the caller's reference */
    }
    if (foreign != NULL) {
        ro_object *x = new_node(rt, foreign);
        link_to(rt, x, d);
        ro_list_append_steal(rt, a, x);
        n++;
    }
    ro_decref(rt, d);
    assert_true(ro_gc_is_tracked(a) && ro_gc_is_tracked(d) && ro_gc_is_tracked(t));
    assert_false(ro_gc_is_tracked(u) || ro_gc_is_tracked(inner));
    return n;
}

static void builtin_garbage_frees_exactly_its_set(void **state)
{
    ro_state *rt = RT(state);
    uint64_t base = base_bytes(rt);
    ro_type *foreign = node_type(rt);
    ro_object *live = ro_list_new(rt, 0), *shared = ro_str_from_cstr(rt, "shared by garbage and the test");
    ro_list_append_steal(rt, live, ro_list_new(rt, 0));     /* live is tracked */
    uint32_t live_rc = live->ob_refcnt, shared_rc = shared->ob_refcnt;
    ro_type *plain = plain_node_type(rt);
    assert_non_null(plain);
    /* 0: built-ins only; 1: a node too (clears and deallocs); 2: a node whose
     * type promises a plain clear (freed in bulk with the rest). */
    for (int with_foreign = 0; with_foreign < 3; with_foreign++) {
        ro_type *extra = with_foreign == 1 ? foreign : with_foreign == 2 ? plain : NULL;
        uint32_t plain_rc = RO_OBJ(plain)->ob_refcnt;
        /* Full collection: everything in one set. */
        uint64_t n = build_builtin_garbage(rt, live, shared, NULL, extra);
        ro_gc_report r;
        assert_int_equal(ro_gc_collect(rt, 2, &r), (int64_t)n);
        assert_int_equal(r.collected, n);
        assert_int_equal(r.uncollectable, 0);
        assert_int_equal(live->ob_refcnt, live_rc);
        assert_int_equal(shared->ob_refcnt, shared_rc);
        assert_int_equal(ro_list_len(live), 1);
        assert_int_equal(ro_gc_tracked(rt), 1);       /* live (its empty inner list is untracked) */

        /* Young collection: an old object that only young garbage holds. */
        ro_object *old = ro_list_new(rt, 0);
        ro_list_append_steal(rt, old, ro_list_new(rt, 0));
        ro_list_append_steal(rt, old, ro_str_from_cstr(rt, "old, soon unreferenced"));
        ro_gc_collect(rt, 2, NULL);                   /* old is in the oldest generation now */
        n = build_builtin_garbage(rt, live, shared, old, extra);
        assert_int_equal(ro_gc_collect(rt, 0, &r), (int64_t)n);
        assert_int_equal(live->ob_refcnt, live_rc);
        assert_int_equal(shared->ob_refcnt, shared_rc);
        assert_int_equal(ro_gc_tracked(rt), 1);       /* old went by refcount */
        assert_int_equal(RO_OBJ(plain)->ob_refcnt, plain_rc);   /* the instances' references to it went */
    }
    ro_decref(rt, shared);
    ro_decref(rt, live);
    ro_decref(rt, RO_OBJ(foreign));
    ro_decref(rt, RO_OBJ(plain));
    assert_int_equal(base_bytes(rt), base);
}

static ro_object *new_ref(ro_object *o)
{
    ro_incref(o);
    return o;
}

/* A long chain of garbage whose objects each free the previous one's last
 * reference: frees happen in both directions of the walk. */
static void builtin_garbage_in_any_order_is_freed(void **state)
{
    ro_state *rt = RT(state);
    uint64_t base = base_bytes(rt);
    enum { N = 10000 };
    for (int dir = 0; dir < 2; dir++) {
        ro_object *first = ro_list_new(rt, 0), *prev = first;
        for (int i = 1; i < N; i++) {
            ro_object *x = i % 3 == 0 ? ro_dict_new(rt) : ro_list_new(rt, 0);
            /* dir 0: each refers to the one before; dir 1: to the one after */
            ro_object *from = dir == 0 ? x : prev, *to = dir == 0 ? prev : x;
            if (ro_is_kind(from, RO_K_DICT))
                ro_dict_set_cstr_steal(rt, from, "next", new_ref(to));
            else
                ro_list_append(rt, from, to);
            if (prev != first)
                ro_decref(rt, prev);
            prev = x;
        }
        /* Close the ring. */
        ro_object *from = dir == 0 ? first : prev, *to = dir == 0 ? prev : first;
        if (ro_is_kind(from, RO_K_DICT))
            ro_dict_set_cstr_steal(rt, from, "next", new_ref(to));
        else
            ro_list_append(rt, from, to);
        ro_decref(rt, prev);
        ro_decref(rt, first);
        ro_gc_report r;
        assert_int_equal(ro_gc_collect(rt, 2, &r), N);
        assert_int_equal(ro_gc_tracked(rt), 0);
        assert_int_equal(base_bytes(rt), base);
    }
}

/* Garbage whose blocks come in many size classes, interleaved: lists with
 * 1..12 items (item arrays of 8..96 bytes, exact from their hint), tuples of
 * 1..6 items and dicts, in a ring. More classes than the collector's free
 * batch has lanes, so lanes are taken over all along; every block must still
 * come back, and the allocator's counts with them. */
static void builtin_garbage_of_many_sizes_is_freed(void **state)
{
    ro_state *rt = RT(state);
    uint64_t base = base_bytes(rt);
    ro_mem_stats st0;
    ro_mem_get_stats(rt, &st0);
    enum { N = 3000 };
    ro_object *first = ro_list_new(rt, 1), *prev = first;
    uint64_t tracked = 1;
    for (int i = 1; i < N; i++) {
        ro_object *x;
        int k = i % 3;
        if (k == 0) {
            size_t n = 1 + (size_t)(i / 3) % 12;
            x = ro_list_new(rt, n);
            ro_list_append(rt, x, prev);
            for (size_t j = 1; j < n; j++)
                ro_list_append_steal(rt, x, ro_int_from_i64(rt, 1000 + i));
        } else if (k == 1) {
            ro_object *items[6] = {prev, NULL, NULL, NULL, NULL, NULL};
            size_t n = 1 + (size_t)(i / 3) % 6;
            ro_object *pad = ro_float_from_double(rt, i);
            for (size_t j = 1; j < n; j++)
                items[j] = pad;
            x = ro_tuple_from_array(rt, items, n);
            ro_decref(rt, pad);
        } else {
            x = ro_dict_new(rt);
            ro_dict_set_cstr_steal(rt, x, "prev", new_ref(prev));
        }
        if (prev != first)
            ro_decref(rt, prev);
        prev = x;
        tracked++;
    }
    ro_list_append(rt, first, prev);    /* close the ring */
    ro_decref(rt, prev);
    ro_decref(rt, first);
    ro_gc_report r;
    assert_int_equal(ro_gc_collect(rt, 2, &r), (int64_t)tracked);
    assert_int_equal(ro_gc_tracked(rt), 0);
    assert_int_equal(base_bytes(rt), base);
    ro_mem_stats st;
    ro_mem_get_stats(rt, &st);
    assert_int_equal(st.blocks_in_use, st0.blocks_in_use);
    assert_int_equal(st.frees_total - st0.frees_total, st.allocs_total - st0.allocs_total);
}

/* Garbage whose blocks are not in address order (made from blocks freed in a
 * scattered order, so the pools' free lists hand them out shuffled), with
 * live lists left in the same pools: the free batch sees a pool's blocks in
 * several runs, and runs that leave live blocks behind. Every garbage block
 * comes back, the live ones are intact, and the pools hand blocks out again. */
static void builtin_garbage_out_of_address_order_is_freed(void **state)
{
    ro_state *rt = RT(state);
    uint64_t base = base_bytes(rt);
    ro_mem_stats st0;
    ro_mem_get_stats(rt, &st0);
    enum { N = 6000, KEEP = 7 };
    ro_object *scratch = ro_list_new(rt, N), *live = ro_list_new(rt, N / KEEP + 1);
    for (int i = 0; i < N; i++)
        ro_list_append_steal(rt, scratch, ro_list_new(rt, 1));
    for (int i = 0; i < N; i += KEEP)
        ro_list_append(rt, live, ro_list_get_item(rt, scratch, (size_t)i));
    /* Free the rest in a scattered order: stride 11 visits every slot once. */
    for (int k = 0; k < N; k++) {
        size_t i = (size_t)k * 11 % N;
        if (i % KEEP != 0) {
            ro_object *none = ro_none(rt);
            ro_incref(none);
            assert_int_equal(ro_list_set_item(rt, scratch, i, none), 0);
        }
    }
    ro_decref(rt, scratch);
    /* A ring from the scattered blocks. */
    ro_object *first = ro_list_new(rt, 1), *prev = first;
    for (int i = 1; i < N; i++) {
        ro_object *x = ro_list_new(rt, 1);
        ro_list_append(rt, x, prev);
        if (prev != first)
            ro_decref(rt, prev);
        prev = x;
    }
    ro_list_append(rt, first, prev);
    ro_decref(rt, prev);
    ro_decref(rt, first);
    ro_gc_report r;
    assert_int_equal(ro_gc_collect(rt, 2, &r), N);
    for (size_t i = 0; i < ro_list_len(live); i++)
        assert_int_equal(ro_list_len(ro_list_get_item(rt, live, i)), 0);
    /* The pools' free lists are sound: take every block again, then drop all. */
    ro_object *again = ro_list_new(rt, N);
    for (int i = 0; i < N; i++) {
        ro_object *x = ro_list_new(rt, 1);
        ro_list_append_steal(rt, x, ro_int_from_i64(rt, i));
        ro_list_append_steal(rt, again, x);
    }
    for (int i = 0; i < N; i += 97)
        assert_int_equal(ro_int_value(ro_list_get_item(rt, ro_list_get_item(rt, again, (size_t)i), 0)), i);
    ro_decref(rt, again);
    ro_decref(rt, live);
    assert_int_equal(base_bytes(rt), base);
    ro_mem_stats st;
    ro_mem_get_stats(rt, &st);
    assert_int_equal(st.blocks_in_use, st0.blocks_in_use);
}

/* Instances of a plain-clear heap type in garbage, whose type only they keep
 * alive: the bulk free drops the type with its last instance. And the
 * promise is refused where it cannot hold. */
static void plain_clear_types_are_freed_in_bulk_with_their_type(void **state)
{
    ro_state *rt = RT(state);
    uint64_t base = base_bytes(rt);
    ro_type *t = plain_node_type(rt);
    ro_object *a = new_node(rt, t), *b = new_node(rt, t), *l = ro_list_new(rt, 0);
    link_to(rt, a, b);
    link_to(rt, b, l);
    ro_list_append(rt, l, a);
    ro_list_append_steal(rt, l, ro_str_from_cstr(rt, "an atom the garbage holds"));
    ro_decref(rt, a);
    ro_decref(rt, b);
    ro_decref(rt, l);
    ro_decref(rt, RO_OBJ(t));           /* only its instances hold it now */
    ro_gc_report r;
    assert_int_equal(ro_gc_collect(rt, 2, &r), 3);
    assert_int_equal(r.uncollectable, 0);
    assert_int_equal(base_bytes(rt), base);

    ro_type_spec bad = {.name = "bad", .basicsize = sizeof(node), .flags = RO_TPFLAG_GC | RO_TPFLAG_PLAIN_CLEAR,
                        .traverse = node_traverse, .clear = node_clear, .finalize = node_finalize};
    assert_null(ro_type_new(rt, &bad));
    assert_int_equal(ro_err_kind(rt), RO_E_VALUE);
    assert_non_null(strstr(ro_err_msg(rt), "PLAIN_CLEAR"));
    ro_err_clear(rt);
    ro_type_spec atom = {.name = "atom", .basicsize = sizeof(ro_object), .flags = RO_TPFLAG_PLAIN_CLEAR};
    assert_null(ro_type_new(rt, &atom));
    ro_err_clear(rt);
}

static void cycle_reachable_from_a_live_object_survives(void **state)
{
    ro_state *rt = RT(state);
    ro_object *live = ro_list_new(rt, 0);
    ro_object *a = ro_list_new(rt, 0), *b = ro_list_new(rt, 0);
    ro_list_append(rt, a, b);
    ro_list_append(rt, b, a);
    ro_list_append_steal(rt, live, a);
    ro_decref(rt, b);
    ro_gc_report r;
    assert_int_equal(ro_gc_collect(rt, 2, &r), 0);
    assert_int_equal(r.examined, 3);
    assert_int_equal(ro_list_len(live), 1);
    ro_object *aa = ro_list_get_item(rt, live, 0);
    assert_int_equal(ro_list_len(aa), 1);                /* still intact */
    ro_list_clear_items(rt, live);                       /* now the cycle is garbage */
    assert_int_equal(ro_gc_collect(rt, 2, &r), 2);
    ro_decref(rt, live);
}

static void open_file_in_a_cycle_is_closed_and_counted(void **state)
{
    ro_state *rt = RT(state);
    char path[] = "/tmp/ro-gc-file-XXXXXX";
    int tmp = mkstemp(path);
    close(tmp);
    ro_object *batch = ro_list_new(rt, 0);
    ro_object *f = ro_file_open(rt, path, "w", batch);   /* file -> batch (owner) */
    ro_list_append(rt, batch, f);                        /* batch -> file */
    int fd = ro_file_fileno(f);
    ro_decref(rt, f);
    ro_decref(rt, batch);
    assert_int_equal(ro_file_open_count(rt), 1);         /* refcounting cannot close it */
    ro_gc_report r;
    ro_gc_collect(rt, 2, &r);
    assert_int_equal(r.collected, 2);
    assert_int_equal(r.files_closed, 1);
    assert_int_equal(r.finalized, 1);
    assert_int_equal(ro_file_unclosed_count(rt), 1);
    assert_int_equal(ro_file_open_count(rt), 0);
    assert_true(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
    assert_non_null(strstr(CTX(state)->log.last, "unclosed file"));
    unlink(path);
}

static void finalizer_resurrection_keeps_objects_alive(void **state)
{
    ro_state *rt = RT(state);
    uint64_t base = base_bytes(rt);
    ro_type *t = node_type(rt);
    holder = ro_list_new(rt, 0);
    ro_object *n1 = new_node(rt, t), *n2 = new_node(rt, t);
    ((node *)n1)->resurrect = 1;
    link_to(rt, n1, n2);
    link_to(rt, n2, n1);
    ro_decref(rt, n1);
    ro_decref(rt, n2);
    ro_gc_report r;
    ro_gc_collect(rt, 2, &r);
    assert_int_equal(r.finalized, 2);
    assert_int_equal(r.resurrected, 2);   /* n1 in holder, and n2 through n1 */
    assert_int_equal(r.collected, 0);
    assert_int_equal(ro_list_len(holder), 1);
    assert_ptr_equal(((node *)ro_list_get_item(rt, holder, 0))->next, n2);
    /* Dropped again: finalizers do not run twice, the cycle is freed. */
    ro_list_clear_items(rt, holder);
    ro_gc_collect(rt, 2, &r);
    assert_int_equal(r.finalized, 0);
    assert_int_equal(r.collected, 2);
    assert_int_equal(finalizer_runs, 2);
    ro_decref(rt, holder);
    ro_decref(rt, RO_OBJ(t));
    assert_int_equal(base_bytes(rt), base);
}

static void uncollectable_objects_are_reported_and_kept(void **state)
{
    ro_state *rt = RT(state);
    uint64_t base = base_bytes(rt);
    ro_type *t = node_type(rt);
    ro_object *n1 = new_node(rt, t), *n2 = new_node(rt, t);
    ((node *)n1)->stubborn = ((node *)n2)->stubborn = 1;
    link_to(rt, n1, n2);
    link_to(rt, n2, n1);
    ro_decref(rt, n1);
    ro_decref(rt, n2);
    ro_gc_report r;
    ro_gc_collect(rt, 2, &r);
    assert_int_equal(r.uncollectable, 2);
    assert_int_equal(r.collected, 0);
    ro_object *garbage = ro_gc_garbage(rt);
    assert_int_equal(ro_list_len(garbage), 2);
    ro_gc_genstats st;
    ro_gc_get_stats(rt, 2, &st);
    assert_int_equal(st.uncollectable, 2);
    /* The garbage list keeps them reachable: not found (or freed) twice. */
    ro_gc_collect(rt, 2, &r);
    assert_int_equal(r.uncollectable, 0);
    assert_int_equal(r.collected, 0);
    /* An operator (here the test) breaks the cycle by hand. */
    for (size_t i = 0; i < ro_list_len(garbage); i++)
        ((node *)ro_list_get_item(rt, garbage, i))->stubborn = 0;
    ro_list_clear_items(rt, garbage);
    ro_gc_collect(rt, 2, &r);
    assert_int_equal(r.collected, 2);
    ro_decref(rt, RO_OBJ(t));
    ro_list_clear_items(rt, ro_gc_garbage(rt));
    uint64_t now = base_bytes(rt);
    assert_true(now >= base);   /* only the garbage list itself (a list object) remains */
}

static void survivors_are_promoted_one_generation(void **state)
{
    ro_state *rt = RT(state);
    ro_object *keep[10];
    uint64_t g0 = ro_gc_generation_size(rt, 0), g1 = ro_gc_generation_size(rt, 1);
    uint64_t g2 = ro_gc_generation_size(rt, 2);
    for (int i = 0; i < 10; i++) {           /* lists holding a list: tracked */
        keep[i] = ro_list_new(rt, 0);
        ro_list_append_steal(rt, keep[i], ro_list_new(rt, 0));
    }
    assert_int_equal(ro_gc_generation_size(rt, 0), g0 + 10);
    ro_gc_collect(rt, 0, NULL);
    assert_int_equal(ro_gc_generation_size(rt, 0), 0);
    assert_int_equal(ro_gc_generation_size(rt, 1), g1 + g0 + 10);
    ro_gc_collect(rt, 1, NULL);
    assert_int_equal(ro_gc_generation_size(rt, 1), 0);
    assert_int_equal(ro_gc_generation_size(rt, 2), g2 + g1 + g0 + 10);
    assert_int_equal(ro_gc_get_count(rt, 2), 1);    /* one collection of generation 1 */
    for (int i = 0; i < 10; i++)
        ro_decref(rt, keep[i]);
}

static int collections_seen;
static ro_gc_report last_report;

static void on_collect(void *ud, const ro_gc_report *r)
{
    (void)ud;
    collections_seen++;
    last_report = *r;
}

static void thresholds_trigger_automatic_collections(void **state)
{
    ro_state *rt = RT(state);
    ro_gc_set_threshold(rt, 5, 10, 10);
    ro_gc_set_callback(rt, on_collect, NULL);
    collections_seen = 0;
    ro_gc_enable(rt);
    ro_object *keep[6];
    uint64_t start = ro_gc_get_count(rt, 0);
    int made = 0;
    while (ro_gc_get_count(rt, 0) + 0 <= 5 && made < 6 && collections_seen == 0)
        keep[made++] = ro_list_new(rt, 0);
    assert_int_equal(collections_seen, 1);          /* the 6th container over 5 triggered it */
    assert_int_equal(made, 6 - (int)start);
    assert_int_equal(last_report.generation, 0);
    assert_int_equal(last_report.reason, RO_GC_REASON_AUTO);
    assert_int_equal(ro_gc_get_count(rt, 0), 0);
    assert_int_equal(ro_gc_get_count(rt, 1), 1);
    ro_gc_genstats st;
    ro_gc_get_stats(rt, 0, &st);
    assert_int_equal(st.collections, 1);
    for (int i = 0; i < made; i++)
        ro_decref(rt, keep[i]);
    /* Deallocations count down generation 0. */
    assert_int_equal(ro_gc_get_count(rt, 0), 0);
    ro_gc_set_callback(rt, NULL, NULL);
}

static void disabling_stops_automatic_collection(void **state)
{
    ro_state *rt = RT(state);
    ro_gc_set_threshold(rt, 5, 10, 10);
    ro_gc_set_callback(rt, on_collect, NULL);
    collections_seen = 0;
    ro_gc_disable(rt);
    assert_false(ro_gc_is_enabled(rt));
    ro_object *l = ro_list_new(rt, 0);
    for (int i = 0; i < 100; i++)
        ro_list_append_steal(rt, l, ro_list_new(rt, 0));
    assert_int_equal(collections_seen, 0);
    assert_int_equal(ro_gc_get_count(rt, 0), 101);
    ro_gc_enable(rt);
    ro_list_append_steal(rt, l, ro_dict_new(rt));
    assert_int_equal(collections_seen, 1);
    ro_decref(rt, l);
    ro_gc_set_callback(rt, NULL, NULL);
}

static void full_collection_releases_caches_and_memory(void **state)
{
    ro_state *rt = RT(state);
    for (int i = 0; i < 10; i++)
        ro_decref(rt, ro_float_from_double(rt, i));   /* 10 floats parked on the free list */
    ro_object *kept = ro_str_intern_cstr(rt, "kept");
    for (int i = 0; i < 5; i++) {
        ro_object *s = ro_str_from_format(rt, "dropped-%d", i);
        ro_str_intern(rt, &s);
        ro_decref(rt, s);
    }
    ro_object *big = ro_list_new(rt, 0);
    for (int i = 0; i < 300000; i++)
        ro_list_append_steal(rt, big, ro_float_from_double(rt, i));
    ro_list_append(rt, big, big);     /* a cycle: only the collector frees it */
    ro_decref(rt, big);
    ro_gc_report r;
    ro_gc_collect(rt, 2, &r);
    assert_int_equal(r.collected, 1);
    assert_int_equal(r.interned_dropped, 5);
    assert_true(r.freelist_freed >= 10);
    assert_true(r.arenas_released >= 5);          /* 300k floats: about 9 MB of arenas */
    assert_true(r.pause_ns > 0);
    ro_mem_stats st;
    ro_mem_get_stats(rt, &st);
    assert_int_equal(st.pools_free_resident, 0);  /* no free page left resident */
    assert_int_equal(ro_str_interned_count(rt), 1);
    ro_decref(rt, kept);
}

static void failed_allocation_gets_one_emergency_collection(void **state)
{
    ro_state *rt = RT(state);
    ro_object *a = ro_list_new(rt, 0);
    ro_list_append(rt, a, a);
    ro_decref(rt, a);                    /* a cycle waiting for a collection */
    ro_gc_set_callback(rt, on_collect, NULL);
    collections_seen = 0;
    ro_mem_inject_failure(rt, 1, 0);     /* the next allocation fails, its retry may not */
    ro_object *o = ro_int_from_i64(rt, 123456);
    assert_non_null(o);
    assert_int_equal(collections_seen, 1);
    assert_int_equal(last_report.reason, RO_GC_REASON_EMERGENCY);
    assert_int_equal(last_report.collected, 1);
    ro_decref(rt, o);                    /* parked on the int free list... */
    ro_freelists_clear(rt);              /* ...so empty it: the next int must come from the allocator */
    ro_mem_inject_failure(rt, 1, 1);     /* now the retry fails too */
    assert_null(ro_int_from_i64(rt, 123456));
    assert_int_equal(ro_err_kind(rt), RO_E_NOMEM);
    ro_err_clear(rt);
    ro_gc_set_callback(rt, NULL, NULL);
}

/* Containers holding only atoms cannot be in a cycle: untracked until a
 * container is stored in them, by any path. */
/* Generation 0 counts container blocks taken from the allocator minus those
 * given back (as CPython 3.11): churn recycled through the free lists moves
 * it by at most the few blocks parked there, and brings no collection. */
static void free_list_churn_leaves_the_young_count_alone(void **state)
{
    ro_state *rt = RT(state);
    ro_gc_set_threshold(rt, 50, 10, 10);
    ro_gc_set_callback(rt, on_collect, NULL);
    collections_seen = 0;
    ro_gc_enable(rt);
    ro_object *k = ro_str_from_cstr(rt, "k");
    for (int i = 0; i < 100000; i++) {
        ro_object *d = ro_dict_new(rt), *l = ro_list_new(rt, 0), *t = ro_tuple_pack(rt, 2, k, k);
        assert_int_equal(ro_dict_set(rt, d, k, t), 0);
        assert_int_equal(ro_list_append(rt, l, k), 0);
        ro_decref(rt, t);
        ro_decref(rt, l);
        ro_decref(rt, d);
    }
    assert_true(ro_gc_get_count(rt, 0) <= 3);       /* the first dict, list and tuple, parked */
    assert_int_equal(collections_seen, 0);
    /* Fresh blocks do count: 60 live lists pass the threshold of 50. */
    ro_object *keep[60];
    for (int i = 0; i < 60; i++)
        keep[i] = ro_list_new(rt, 0);
    assert_int_equal(collections_seen, 1);
    for (int i = 0; i < 60; i++)
        ro_decref(rt, keep[i]);
    ro_decref(rt, k);
    ro_gc_set_callback(rt, NULL, NULL);
}

static void atom_only_containers_are_untracked_until_they_hold_a_container(void **state)
{
    ro_state *rt = RT(state);
    ro_object *l = ro_list_new(rt, 0), *d = ro_dict_new(rt), *s = ro_str_from_cstr(rt, "x");
    ro_object *i = ro_int_from_i64(rt, 5000), *t = ro_tuple_pack(rt, 2, s, i);
    ro_list_append(rt, l, s);
    ro_list_append(rt, l, i);
    ro_dict_set(rt, d, s, i);
    ro_dict_set(rt, d, i, t);          /* a tuple is a container type, even when untracked */
    assert_false(ro_gc_is_tracked(l));
    assert_false(ro_gc_is_tracked(t));
    assert_true(ro_gc_is_tracked(d));  /* it holds the tuple: tracked */
    ro_object *e = ro_list_new(rt, 0);
    ro_list_set_item(rt, l, 0, e);     /* replace an atom with a container */
    assert_true(ro_gc_is_tracked(l));
    ro_object *t2 = ro_tuple_new(rt, 1);
    assert_false(ro_gc_is_tracked(t2));
    ro_tuple_set_item(rt, t2, 0, ro_list_new(rt, 0));
    assert_true(ro_gc_is_tracked(t2));
    /* A cycle made from two untracked lists is found: each became tracked. */
    ro_object *a = ro_list_new(rt, 0), *b = ro_list_new(rt, 0);
    assert_false(ro_gc_is_tracked(a) || ro_gc_is_tracked(b));
    ro_list_append(rt, a, b);
    ro_list_append(rt, b, a);
    ro_decref(rt, a);
    ro_decref(rt, b);
    ro_gc_report r;
    ro_gc_collect(rt, 2, &r);
    assert_int_equal(r.collected, 2);
    /* The same through a dict value and a dict key position. */
    ro_object *x = ro_dict_new(rt), *y = ro_list_new(rt, 0);
    ro_dict_set(rt, x, s, y);
    ro_list_append(rt, y, x);
    ro_decref(rt, x);
    ro_decref(rt, y);
    ro_gc_collect(rt, 2, &r);
    assert_int_equal(r.collected, 2);
    ro_decref(rt, l); ro_decref(rt, d); ro_decref(rt, e); ro_decref(rt, t); ro_decref(rt, t2);
    ro_decref(rt, s); ro_decref(rt, i);
}

static void bad_generation_is_an_error(void **state)
{
    ro_state *rt = RT(state);
    assert_int_equal(ro_gc_collect(rt, 3, NULL), -1);
    assert_int_equal(ro_err_kind(rt), RO_E_VALUE);
    ro_err_clear(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(two_list_cycle_is_collected, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(closed_and_open_garbage_free_exactly, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(self_reference_is_collected, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(million_node_ring_is_collected, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(cycles_through_dicts_tuples_and_lists, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(cycle_reachable_from_a_live_object_survives, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(builtin_garbage_frees_exactly_its_set, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(builtin_garbage_in_any_order_is_freed, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(builtin_garbage_out_of_address_order_is_freed, test_rt_setup,
                                        test_rt_teardown),
        cmocka_unit_test_setup_teardown(builtin_garbage_of_many_sizes_is_freed, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(plain_clear_types_are_freed_in_bulk_with_their_type, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(open_file_in_a_cycle_is_closed_and_counted, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(finalizer_resurrection_keeps_objects_alive, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(uncollectable_objects_are_reported_and_kept, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(survivors_are_promoted_one_generation, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(thresholds_trigger_automatic_collections, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(disabling_stops_automatic_collection, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(full_collection_releases_caches_and_memory, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(failed_allocation_gets_one_emergency_collection, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(atom_only_containers_are_untracked_until_they_hold_a_container, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(free_list_churn_leaves_the_young_count_alone, gc_setup, test_rt_teardown),
        cmocka_unit_test_setup_teardown(bad_generation_is_an_error, gc_setup, test_rt_teardown),
    };
    return cmocka_run_group_tests_name("runtime/gc", tests, NULL, NULL);
}
