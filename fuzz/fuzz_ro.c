/* fuzz_ro.c - libFuzzer target: any bytes as a program of runtime operations
 * (make ints, floats, strings, tuples, lists, dicts, files; append, store,
 * delete, pop, drop, collect) on eight slots. Files left open in cycles are
 * closed by their finalizer when collected. Oracles: no sanitizer report, the
 * runtime's own invariants (asserts), lengths matching a shadow count, and
 * no byte left referenced once every slot is dropped and one full
 * collection has freed the cycles the program made. */
#include "ro.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { NSLOT = 8 };

typedef struct prog {
    const uint8_t *p, *end;
} prog;

static unsigned next(prog *g)
{
    return g->p < g->end ? *g->p++ : 0;
}

static void put(ro_state *rt, ro_object **slot, ro_object *o)
{
    if (o == NULL) {
        ro_err_clear(rt);          /* a refused operation: the slot keeps its object */
        return;
    }
    ro_xdecref(rt, *slot);
    *slot = o;
}

/* Fail on a runtime error that the operation cannot produce. */
static void expect_ok(ro_state *rt, int r)
{
    if (r != 0)
        abort();
    (void)rt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ro_state *rt = ro_open(NULL);
    if (rt == NULL)
        return 0;
    ro_gc_set_threshold(rt, 5, 2, 2);      /* automatic collections in the middle of it all */
    ro_gc_enable(rt);
    ro_object *s[NSLOT] = {NULL};
    prog g = {data, data + size};
    while (g.p < g.end) {
        unsigned op = next(&g) % 15, i = next(&g) % NSLOT, j = next(&g) % NSLOT, k = next(&g) % NSLOT;
        switch (op) {
        case 0: {                          /* small, compact and big ints */
            int64_t v = (int64_t)(int8_t)next(&g);
            unsigned shift = next(&g) % 5;
            put(rt, &s[i], ro_int_from_i64(rt, v * ((int64_t)1 << (shift * 12))));
            break;
        }
        case 1:
            put(rt, &s[i], ro_float_from_double(rt, (double)next(&g) / 4.0));
            break;
        case 2: {                          /* a string of up to 15 bytes, interned or not */
            size_t n = next(&g) % 16, avail = (size_t)(g.end - g.p);
            n = n < avail ? n : avail;
            ro_object *o = (k & 1) ? ro_str_intern_utf8(rt, (const char *)g.p, n)
                                   : ro_str_from_utf8(rt, (const char *)g.p, n);
            g.p += n;
            put(rt, &s[i], o);             /* invalid UTF-8 is refused: NULL */
            break;
        }
        case 3:
            put(rt, &s[i], ro_list_new(rt, next(&g) % 12));
            break;
        case 4:
            put(rt, &s[i], ro_dict_new(rt));
            break;
        case 5: {                          /* tuple of 1..4 filled slots (the macro and the array form) */
            ro_object *items[4] = {s[j], s[k], s[i], s[j]};
            size_t n = 1 + next(&g) % 4, m = 0;
            for (size_t x = 0; x < n; x++)
                if (items[x] != NULL)
                    items[m++] = items[x];
            if (m == 0)
                break;
            put(rt, &s[i], m == 2 && (k & 1) == 0 ? ro_tuple_pack(rt, 2, items[0], items[1])
                                                   : ro_tuple_from_array(rt, items, m));
            break;
        }
        case 6:                            /* append (cycles welcome) */
            if (s[i] != NULL && s[j] != NULL && ro_is_kind(s[i], RO_K_LIST)) {
                size_t before = ro_list_len(s[i]);
                expect_ok(rt, ro_list_append(rt, s[i], s[j]));
                if (ro_list_len(s[i]) != before + 1)
                    abort();
            }
            break;
        case 7:                            /* d[key] = value; unhashable keys are refused */
            if (s[i] != NULL && s[j] != NULL && s[k] != NULL && ro_is_kind(s[i], RO_K_DICT)) {
                if (ro_dict_set(rt, s[i], s[j], s[k]) != 0) {
                    if (ro_err_kind(rt) != RO_E_TYPE)
                        abort();
                    ro_err_clear(rt);
                } else if (ro_dict_get(rt, s[i], s[j]) != s[k]) {
                    abort();
                }
            }
            break;
        case 8:                            /* del d[key] */
            if (s[i] != NULL && s[j] != NULL && ro_is_kind(s[i], RO_K_DICT)) {
                size_t before = ro_dict_len(s[i]);
                if (ro_dict_del(rt, s[i], s[j]) == 0) {
                    if (ro_dict_len(s[i]) != before - 1)
                        abort();
                } else {
                    ro_err_clear(rt);
                }
            }
            break;
        case 9:                            /* pop, then drop or keep what it returned */
            if (s[i] != NULL && ro_is_kind(s[i], RO_K_LIST) && ro_list_len(s[i]) != 0) {
                ro_object *o = ro_list_pop(rt, s[i]);
                if (o == NULL)
                    abort();
                put(rt, &s[j], o);
            }
            break;
        case 10:                           /* l[x] = s[k] */
            if (s[i] != NULL && s[k] != NULL && ro_is_kind(s[i], RO_K_LIST) && ro_list_len(s[i]) != 0) {
                ro_incref(s[k]);
                expect_ok(rt, ro_list_set_item(rt, s[i], next(&g) % ro_list_len(s[i]), s[k]));
            }
            break;
        case 11:                           /* one more reference in another slot */
            if (s[j] != NULL) {
                ro_incref(s[j]);
                put(rt, &s[i], s[j]);
            }
            break;
        case 12:
            ro_xdecref(rt, s[i]);
            s[i] = NULL;
            break;
        case 13:                           /* a file object (a container, with a finalizer) */
            put(rt, &s[i], ro_file_open(rt, "/dev/null", (k & 1) ? "r" : "w", s[j]));
            break;
        default:
            if (ro_gc_collect(rt, (int)(j % 3), NULL) < 0)
                abort();
            break;
        }
    }
    for (int i = 0; i < NSLOT; i++)
        ro_xdecref(rt, s[i]);
    if (ro_gc_collect(rt, 2, NULL) < 0)
        abort();
    if (ro_close(rt) != 0)
        abort();                           /* every byte came back: nothing leaked, nothing lost */
    return 0;
}
