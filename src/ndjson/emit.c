/* emit.c - runtime objects to JSON text. */
#include "nj.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Containers nested deeper than this are refused: it also stops a container
 * that holds itself. (The atoms inside the deepest are written.) */
#define NJ_EMIT_MAX_DEPTH 1000

/* Shortest round-trip text of a double (runtime, float.c); out needs 32 bytes. */
size_t ro_format_double(double v, char *out);

/* The serializer writes straight into out: each step first makes room for
 * the most it can write (room, ro_sbuf_reserve when it must grow), then
 * stores bytes without a call per piece.
 * out->data[out->len] is made NUL again when nj_emit ends. */
static inline char *room(ro_state *rt, nj_buf *out, size_t n)
{
    if (out->len + n + 1 > out->cap && ro_sbuf_reserve(rt, out, n) != 0)
        return NULL;
    return out->data + out->len;
}

static inline int put(ro_state *rt, nj_buf *out, const char *s, size_t n)
{
    char *d = room(rt, out, n);
    if (d == NULL)
        return -1;
    memcpy(d, s, n);
    out->len += n;
    return 0;
}

/* n bytes from s to d, without a call for the short texts most keys and
 * values are: two words or halves that overlap, read inside [s, s + n). */
static inline void copy_text(char *d, const char *s, size_t n)
{
    uint64_t a, b;
    uint32_t x, y;
    if (n >= 8 && n <= 16) {
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n >= 4 && n < 8) {
        memcpy(&x, s, 4);
        memcpy(&y, s + n - 4, 4);
        memcpy(d, &x, 4);
        memcpy(d + n - 4, &y, 4);
    } else if (n < 4) {
        for (size_t i = 0; i < n; i++)
            d[i] = s[i];
    } else {
        memcpy(d, s, n);
    }
}

/* A str known to need no escape, quoted. Returns 0 or -1 (out could not
 * grow). */
static inline int put_plain_str(ro_state *rt, ro_object *o, nj_buf *out)
{
    size_t n = ro_str_nbytes(o);
    char *d = room(rt, out, n + 2);
    if (d == NULL)
        return -1;
    d[0] = '"';
    copy_text(d + 1, ro_str_utf8(o), n);
    d[n + 1] = '"';
    out->len += n + 2;
    return 0;
}

/* A str not known to need no escape, escaped; one that turns out to need
 * none is marked RO_STR_NOESC, and is copied as it is the next time. (Its
 * callers copy the strs already marked themselves: emit_plain through
 * put_plain_str, the dict's key path with its separator.) */
static int emit_str(ro_state *rt, ro_object *o, nj_buf *out)
{
    const char *s = ro_str_utf8(o);
    size_t n = ro_str_nbytes(o);
    ro_str *so = (ro_str *)o;
    if (n > (SIZE_MAX - 2) / 6) {
        ro_err_nomem(rt, SIZE_MAX);
        return -1;
    }
    char *d = room(rt, out, 2 + 6 * n), *start = d;   /* every byte may become \u00XX */
    if (d == NULL)
        return -1;
    static const char hex[] = "0123456789abcdef";
    *d++ = '"';
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *d++ = (char)c;
            continue;
        }
        *d++ = '\\';
        switch (c) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '\n': *d++ = 'n'; break;
        case '\r': *d++ = 'r'; break;
        case '\t': *d++ = 't'; break;
        case '\b': *d++ = 'b'; break;
        case '\f': *d++ = 'f'; break;
        default:
            memcpy(d, "u00", 3);
            d[3] = hex[c >> 4];
            d[4] = hex[c & 15];
            d += 5;
        }
    }
    *d++ = '"';
    if ((size_t)(d - start) == n + 2)
        so->s_state |= RO_STR_NOESC;
    out->len += (size_t)(d - start);
    return 0;
}

static int emit(ro_state *rt, ro_object *o, nj_buf *out, int depth);

/* The values a container mostly holds, written in its loop without a call
 * to emit for each: an int, a str that needs no escape, null. (Floats stay
 * emit's: written here, they made the worker 0.8% more instructions.)
 * Returns 1 when o was one of them and is written, 0 when it is not (emit's),
 * -1 when out could not grow. */
static inline int emit_plain(ro_state *rt, ro_object *o, nj_buf *out)
{
    char *d;
    switch (RO_TYPE(o)->tp_kind) {
    case RO_K_INT:
        if ((d = room(rt, out, 24)) == NULL)        /* an int64 is at most 20 bytes */
            return -1;
        out->len += ro_format_i64(ro_int_value(o), d);
        return 1;
    case RO_K_STR:
        if (!(((ro_str *)o)->s_state & RO_STR_NOESC))
            return 0;                               /* emit_str escapes it */
        return put_plain_str(rt, o, out) == 0 ? 1 : -1;
    case RO_K_NONE:
        return put(rt, out, "null", 4) == 0 ? 1 : -1;
    default:
        return 0;
    }
}

static int emit(ro_state *rt, ro_object *o, nj_buf *out, int depth)
{
    char *d;
    if (depth > NJ_EMIT_MAX_DEPTH) {
        ro_err_set(rt, RO_E_RECURSION, "cannot serialize: nested deeper than %d levels (or a cycle)",
                   NJ_EMIT_MAX_DEPTH);
        return -1;
    }
    /* (A container's other values meet emit_plain's test twice, in its loop
     * and here. Trying it only in nj_emit and the loops measured worse: +0.1%
     * worker instructions profile-guided, +2.4% in plain Release, where it
     * tipped GCC into no longer inlining the parser's parse_string.) */
    int plain = emit_plain(rt, o, out);
    if (plain != 0)
        return plain < 0 ? -1 : 0;
    switch (RO_TYPE(o)->tp_kind) {
    case RO_K_BOOL:
        return ro_bool_value(o) ? put(rt, out, "true", 4) : put(rt, out, "false", 5);
    case RO_K_FLOAT: {
        double v = ro_float_value(o);
        if (!isfinite(v)) {
            ro_err_set(rt, RO_E_VALUE, "cannot serialize %s: JSON has no NaN or Infinity",
                       isnan(v) ? "NaN" : "an infinity");
            return -1;
        }
        if ((d = room(rt, out, 40)) == NULL)        /* ro_format_double needs 32 */
            return -1;
        out->len += ro_format_double(v, d);
        return 0;
    }
    case RO_K_STR:
        return emit_str(rt, o, out);
    case RO_K_LIST:
    case RO_K_TUPLE: {
        bool list = RO_TYPE(o)->tp_kind == RO_K_LIST;
        size_t n = list ? ro_list_len(o) : ro_tuple_len(o);
        if (put(rt, out, "[", 1) != 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            ro_object *item = list ? ((ro_list *)o)->l_items[i] : ((ro_tuple *)o)->t_items[i];
            if (i != 0 && put(rt, out, ", ", 2) != 0)
                return -1;
            int r = emit_plain(rt, item, out);
            if (r < 0 || (r == 0 && emit(rt, item, out, depth + 1) != 0))
                return -1;
        }
        return put(rt, out, "]", 1);
    }
    case RO_K_DICT: {
        size_t pos = 0, i = 0;
        ro_object *k, *v;
        if (put(rt, out, "{", 1) != 0)
            return -1;
        while (ro_dict_next(o, &pos, &k, &v)) {
            if (!ro_is_kind(k, RO_K_STR)) {
                ro_err_set(rt, RO_E_TYPE, "cannot serialize a dict key of type '%s' (keys must be str)",
                           RO_TYPE(k)->tp_name);
                return -1;
            }
            if (((ro_str *)k)->s_state & RO_STR_NOESC) {
                /* the separator, the key and ": " in one step */
                size_t n = ro_str_nbytes(k), sep = i++ != 0 ? 2 : 0;
                if ((d = room(rt, out, n + 6)) == NULL)
                    return -1;
                if (sep != 0) {
                    d[0] = ',';
                    d[1] = ' ';
                    d += 2;
                }
                d[0] = '"';
                copy_text(d + 1, ro_str_utf8(k), n);
                memcpy(d + n + 1, "\": ", 3);
                out->len += sep + n + 4;
            } else if ((i++ != 0 && put(rt, out, ", ", 2) != 0) || emit_str(rt, k, out) != 0 ||
                       put(rt, out, ": ", 2) != 0) {
                return -1;
            }
            int r = emit_plain(rt, v, out);
            if (r < 0 || (r == 0 && emit(rt, v, out, depth + 1) != 0))
                return -1;
        }
        return put(rt, out, "}", 1);
    }
    default:
        ro_err_set(rt, RO_E_TYPE, "cannot serialize an object of type '%s' as JSON", RO_TYPE(o)->tp_name);
        return -1;
    }
}

int nj_emit(ro_state *rt, ro_object *o, nj_buf *out)
{
    if (out->limit != 0) {
        ro_err_set(rt, RO_E_VALUE, "cannot serialize into a bounded buffer");
        return -1;
    }
    size_t mark = out->len;
    int r = emit(rt, o, out, 0);
    if (r != 0)
        out->len = mark;            /* leave no half-written value behind */
    if (out->data != NULL)
        out->data[out->len] = '\0';
    return r;
}
