/* emit.c - runtime objects to JSON text. */
#include "nj.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deeper than this is refused: it also stops a container that holds itself. */
#define NJ_EMIT_MAX_DEPTH 1000

/* Shortest round-trip text of a double (runtime, float.c). */
size_t ro_format_double(double v, char *out);

static int emit_str(ro_state *rt, const char *s, size_t n, nj_buf *out)
{
    if (ro_sbuf_append(rt, out, "\"", 1) != 0)
        return -1;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        char esc[8];
        const char *e = esc;
        switch (c) {
        case '"': e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        default: snprintf(esc, sizeof esc, "\\u%04x", c);
        }
        if (ro_sbuf_append(rt, out, s + run, i - run) != 0 || ro_sbuf_append(rt, out, e, strlen(e)) != 0)
            return -1;
        run = i + 1;
    }
    if (ro_sbuf_append(rt, out, s + run, n - run) != 0)
        return -1;
    return ro_sbuf_append(rt, out, "\"", 1);
}

static int emit(ro_state *rt, ro_object *o, nj_buf *out, int depth)
{
    char num[40];
    if (depth > NJ_EMIT_MAX_DEPTH) {
        ro_err_set(rt, RO_E_RECURSION, "cannot serialize: nested deeper than %d levels (or a cycle)",
                   NJ_EMIT_MAX_DEPTH);
        return -1;
    }
    switch (RO_TYPE(o)->tp_kind) {
    case RO_K_NONE:
        return ro_sbuf_append(rt, out, "null", 4);
    case RO_K_BOOL:
        return ro_bool_value(o) ? ro_sbuf_append(rt, out, "true", 4) : ro_sbuf_append(rt, out, "false", 5);
    case RO_K_INT: {
        return ro_sbuf_append(rt, out, num, ro_format_i64(ro_int_value(o), num));
    }
    case RO_K_FLOAT: {
        double d = ro_float_value(o);
        if (!isfinite(d)) {
            ro_err_set(rt, RO_E_VALUE, "cannot serialize %s: JSON has no NaN or Infinity",
                       isnan(d) ? "NaN" : "an infinity");
            return -1;
        }
        return ro_sbuf_append(rt, out, num, ro_format_double(d, num));
    }
    case RO_K_STR:
        return emit_str(rt, ro_str_utf8(o), ro_str_nbytes(o), out);
    case RO_K_LIST:
    case RO_K_TUPLE: {
        bool list = RO_TYPE(o)->tp_kind == RO_K_LIST;
        size_t n = list ? ro_list_len(o) : ro_tuple_len(o);
        if (ro_sbuf_append(rt, out, "[", 1) != 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            ro_object *item = list ? ((ro_list *)o)->l_items[i] : ((ro_tuple *)o)->t_items[i];
            if ((i != 0 && ro_sbuf_append(rt, out, ", ", 2) != 0) || emit(rt, item, out, depth + 1) != 0)
                return -1;
        }
        return ro_sbuf_append(rt, out, "]", 1);
    }
    case RO_K_DICT: {
        size_t pos = 0, i = 0;
        ro_object *k, *v;
        if (ro_sbuf_append(rt, out, "{", 1) != 0)
            return -1;
        while (ro_dict_next(o, &pos, &k, &v)) {
            if (!ro_is_kind(k, RO_K_STR)) {
                ro_err_set(rt, RO_E_TYPE, "cannot serialize a dict key of type '%s' (keys must be str)",
                           RO_TYPE(k)->tp_name);
                return -1;
            }
            if ((i++ != 0 && ro_sbuf_append(rt, out, ", ", 2) != 0) ||
                emit_str(rt, ro_str_utf8(k), ro_str_nbytes(k), out) != 0 ||
                ro_sbuf_append(rt, out, ": ", 2) != 0 || emit(rt, v, out, depth + 1) != 0)
                return -1;
        }
        return ro_sbuf_append(rt, out, "}", 1);
    }
    default:
        ro_err_set(rt, RO_E_TYPE, "cannot serialize an object of type '%s' as JSON", RO_TYPE(o)->tp_name);
        return -1;
    }
}

int nj_emit(ro_state *rt, ro_object *o, nj_buf *out)
{
    size_t mark = out->len;
    int r = emit(rt, o, out, 0);
    if (r != 0 && out->data != NULL) {
        out->len = mark;            /* leave no half-written value behind */
        out->data[mark] = '\0';
    }
    return r;
}
