/* fuzz_nj.c - libFuzzer target: any bytes as one record; what parses must round-trip exactly. */
#include "nj.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ro_state *rt = ro_open(NULL);
    if (rt == NULL)
        return 0;
    nj_error err;
    ro_object *v = nj_parse(rt, (const char *)data, size, NULL, &err);
    if (v == NULL) {
        if (err.column == 0 || err.column > size + 1)
            abort();                       /* every error names a column inside the record */
    } else {
        nj_buf a = {0}, b = {0};
        if (nj_emit(rt, v, &a) != 0)
            abort();                       /* whatever parses can be written back */
        ro_object *w = nj_parse(rt, a.data, a.len, NULL, &err);
        if (w == NULL || nj_emit(rt, w, &b) != 0 || a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
            abort();                       /* and reads back to the same text */
        ro_decref(rt, w);
        ro_decref(rt, v);
        ro_sbuf_free(&a);
        ro_sbuf_free(&b);
    }
    if (ro_close(rt) != 0)
        abort();                           /* nothing leaked */
    return 0;
}
