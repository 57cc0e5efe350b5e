/* float.c - IEEE 754 doubles, with a bounded free list. */
#include "ro_internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void float_dealloc(ro_state *rt, ro_object *o)
{
    if (!ro_freelist_push(rt, RO_FL_FLOAT, o))
        ro_mem_free(rt, o, sizeof(ro_float));
}

static int float_hash(ro_state *rt, ro_object *o, uint64_t *out)
{
    (void)rt;
    *out = ro_hash_double(ro_float_value(o));
    return 0;
}

static int float_eq(ro_state *rt, ro_object *a, ro_object *b)
{
    (void)rt;
    return ro_float_value(a) == ro_float_value(b);
}

static int float_repr(ro_state *rt, ro_object *o, ro_sbuf *b)
{
    char buf[32];
    size_t n = ro_format_double(ro_float_value(o), buf);
    return ro_sbuf_append(rt, b, buf, n);
}

void ro_type_init_float(ro_state *rt, ro_type *t)
{
    ro_type_init_common(rt, t, RO_K_FLOAT, "float", sizeof(ro_float), 0, 0);
    t->tp_dealloc = float_dealloc;
    t->tp_hash = float_hash;
    t->tp_eq = float_eq;
    t->tp_repr = float_repr;
}

ro_object *ro_float_from_double(ro_state *rt, double v)
{
    ro_object *o = ro_freelist_alloc(rt, RO_FL_FLOAT, &rt->types[RO_K_FLOAT], sizeof(ro_float), false);
    if (o == NULL)
        return NULL;
    ((ro_float *)o)->f_value = v;
    return o;
}

int ro_float_as_double(ro_state *rt, ro_object *o, double *out)
{
    switch (o->ob_type->tp_kind) {
    case RO_K_FLOAT:
        *out = ro_float_value(o);
        return 0;
    case RO_K_INT:
        *out = (double)ro_int_value(o);
        return 0;
    case RO_K_BOOL:
        *out = ro_bool_value(o);
        return 0;
    default:
        ro_err_set(rt, RO_E_TYPE, "expected a number, got '%s'", o->ob_type->tp_name);
        return -1;
    }
}

/* Shortest round-trip digits (see below), laid out as Python's repr does:
 * positional for decimal exponents -4..15, scientific otherwise. */
size_t ro_format_double(double v, char *out)
{
    if (isnan(v))
        return (size_t)sprintf(out, "nan");
    if (isinf(v))
        return (size_t)sprintf(out, v < 0 ? "-inf" : "inf");
    if (v == 0)
        return (size_t)sprintf(out, signbit(v) ? "-0.0" : "0.0");
    /* If 15 significant digits read back, trailing zeros stripped from them
     * give the shortest text: any shorter round-tripping decimal lies within
     * half an ulp of v, far inside half a unit of the 15th digit, so rounding
     * v to 15 digits lands on it. Otherwise the closest 16-digit decimal, then
     * 17 (which always reads back). Subnormals carry fewer bits, so that
     * argument fails for them: they try every precision from 1. */
    char tmp[40];
    for (int p = fabs(v) < DBL_MIN ? 1 : 15; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    char digits[24];
    int nd = 0;
    const char *s = tmp;
    bool neg = *s == '-';
    if (neg)
        s++;
    for (; *s != 'e'; s++)
        if (*s >= '0' && *s <= '9')
            digits[nd++] = *s;
    int exp = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    char *o = out;
    if (neg)
        *o++ = '-';
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -exp - 1; i++)
                *o++ = '0';
            memcpy(o, digits, (size_t)nd);
            o += nd;
        } else if (nd <= exp + 1) {
            memcpy(o, digits, (size_t)nd);
            o += nd;
            for (int i = nd; i < exp + 1; i++)
                *o++ = '0';
            *o++ = '.';
            *o++ = '0';
        } else {
            memcpy(o, digits, (size_t)exp + 1);
            o += exp + 1;
            *o++ = '.';
            memcpy(o, digits + exp + 1, (size_t)(nd - exp - 1));
            o += nd - exp - 1;
        }
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        o += sprintf(o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    *o = '\0';
    return (size_t)(o - out);
}
