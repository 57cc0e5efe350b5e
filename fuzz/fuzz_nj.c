/* fuzz_nj.c - libFuzzer target: any bytes as NDJSON lines, one stream; what
 * parses must round-trip exactly, and the shapes a stream keeps from record
 * to record must never change what a record parses to or how it fails. */
#include "nj.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One record, in a buffer of its exact size (a read past it is caught). */
static void one_record(ro_state *rt, nj_shapes *sh, const uint8_t *line, size_t n)
{
    char *rec = malloc(n ? n : 1);
    if (rec == NULL)
        return;
    memcpy(rec, line, n);
    nj_error err, alone;
    ro_object *v = nj_parse_shaped(rt, sh, rec, n, NULL, &err);
    ro_err_clear(rt);
    ro_object *u = nj_parse_shaped(rt, NULL, rec, n, NULL, &alone);
    ro_err_clear(rt);
    if ((v == NULL) != (u == NULL))
        abort();                           /* the shapes changed whether it parses */
    if (v == NULL) {
        if (err.column == 0 || err.column > n + 1)
            abort();                       /* every error names a column inside the record */
        if (err.column != alone.column || strcmp(err.msg, alone.msg) != 0)
            abort();                       /* and the same one with or without shapes */
    } else {
        nj_buf a = {0}, b = {0}, c = {0};
        if (nj_emit(rt, v, &a) != 0 || nj_emit(rt, u, &c) != 0)
            abort();                       /* whatever parses can be written back */
        if (a.len != c.len || memcmp(a.data, c.data, a.len) != 0)
            abort();                       /* to the same text with or without shapes */
        ro_object *w = nj_parse_shaped(rt, sh, a.data, a.len, NULL, &err);
        if (w == NULL || nj_emit(rt, w, &b) != 0 || a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
            abort();                       /* and reads back to the same text */
        ro_decref(rt, w);
        ro_sbuf_free(&a);
        ro_sbuf_free(&b);
        ro_sbuf_free(&c);
    }
    ro_xdecref(rt, v);
    ro_xdecref(rt, u);
    free(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ro_state *rt = ro_open(NULL);
    if (rt == NULL)
        return 0;
    nj_shapes *sh = nj_shapes_new();
    const uint8_t *p = data, *end = data + size;
    for (;;) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        one_record(rt, sh, p, (size_t)((nl ? nl : end) - p));
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    nj_shapes_free(rt, sh);
    if (ro_close(rt) != 0)
        abort();                           /* nothing leaked */
    return 0;
}
