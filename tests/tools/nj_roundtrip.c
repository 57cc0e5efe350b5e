/* nj_roundtrip.c - test tool: each stdin line parsed and emitted again, or "ERROR <column>: <message>". */
#include "nj.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    ro_state *rt = ro_open(NULL);
    if (rt == NULL)
        return 2;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    nj_buf out = {0};
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n')
            n--;
        nj_error err;
        ro_object *v = nj_parse(rt, line, (size_t)n, NULL, &err);
        if (v == NULL) {
            printf("ERROR %zu: %s\n", err.column, err.msg);
            ro_err_clear(rt);
            continue;
        }
        out.len = 0;
        if (nj_emit(rt, v, &out) != 0) {
            printf("EMIT-ERROR %s\n", ro_err_msg(rt));
            ro_err_clear(rt);
        } else {
            fwrite(out.data, 1, out.len, stdout);
            putchar('\n');
        }
        ro_decref(rt, v);
    }
    free(line);
    ro_sbuf_free(&out);
    return ro_close(rt) == 0 ? 0 : 3;
}
