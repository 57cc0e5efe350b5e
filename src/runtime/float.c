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
/* Fast path for doubles that are short decimals in positional range
 * (1e-4 <= |v| < 1e15, at most 8 fractional digits): for k = 0, 1, ... the
 * decimal c * 10^-k reads back as fl(c / 10^k), one IEEE division of exact
 * operands (c < 2^53, 10^k exact), which is what strtod returns. Any decimal
 * with k fractional digits that reads back lies within 1 of v * 10^k, so the
 * integers floor(t) - 1 .. ceil(t) + 1 around t = fl(v * 10^k) cover it. The
 * first k with exactly one such integer gives the shortest text; two
 * candidates at once (a near tie) go to the general path. Returns the
 * length, or 0 when v is not handled here. */
static size_t format_short_decimal(double v, char *out)
{
    static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e15))
        return 0;
    for (int k = 0; k <= 8; k++) {
        double t = a * pow10[k];
        if (t >= 9007199254740992.0)   /* 2^53: c would not be exact */
            return 0;
        double lo = floor(t) - 1, found = -1;
        int hits = 0;
        for (double c = lo < 0 ? 0 : lo; c <= lo + 3; c++) {
            if (c / pow10[k] == a) {
                found = c;
                hits++;
            }
        }
        if (hits > 1)
            return 0;
        if (hits == 1) {
            char digits[24], rev[24];
            int nd = 0;
            uint64_t u = (uint64_t)found;               /* exact integer < 2^53 */
            do {
                rev[nd++] = (char)('0' + u % 10);
                u /= 10;
            } while (u != 0);
            for (int i = 0; i < nd; i++)
                digits[i] = rev[nd - 1 - i];
            char *o = out;
            if (v < 0)
                *o++ = '-';
            if (nd <= k) {                   /* 0.00ddd */
                *o++ = '0';
                *o++ = '.';
                for (int i = 0; i < k - nd; i++)
                    *o++ = '0';
                memcpy(o, digits, (size_t)nd);
                o += nd;
            } else {
                memcpy(o, digits, (size_t)(nd - k));
                o += nd - k;
                *o++ = '.';
                if (k == 0) {
                    *o++ = '0';
                } else {
                    memcpy(o, digits + nd - k, (size_t)k);
                    o += k;
                }
            }
            *o = '\0';
            return (size_t)(o - out);
        }
    }
    return 0;
}

/* The shortest decimal that reads back as a (finite, > 0), as strtod finds
 * it: for p = 15, 16, 17 significant digits, the correctly rounded p-digit
 * decimal, kept if it reads back. If 15 digits read back, trailing zeros
 * stripped from them give the shortest text: any shorter round-tripping
 * decimal lies within half an ulp of a, far inside half a unit of the 15th
 * digit, so rounding a to 15 digits lands on it. Otherwise the closest
 * 16-digit decimal, then 17 (which always reads back). Subnormals carry
 * fewer bits, so that argument fails for them: they try every precision from
 * 1. Writes the digits (no trailing zeros) and the decimal exponent of the
 * first; returns how many. */
static int digits_by_printf(double a, char *digits, int *exp10)
{
    char tmp[40];
    for (int p = a < DBL_MIN ? 1 : 15; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, a);
        if (strtod(tmp, NULL) == a)
            break;
    }
    int nd = 0;
    const char *s = tmp;
    for (; *s != 'e'; s++)
        if (*s >= '0' && *s <= '9')
            digits[nd++] = *s;
    *exp10 = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    return nd;
}

typedef unsigned __int128 u128;

/* The same search as digits_by_printf, in exact integer arithmetic, for a in
 * [2^-12, 1e15): a = m * 2^-k with 1 <= k <= 64, so for s <= 20 decimal
 * places a * 10^s = m * 10^s / 2^k, and m * 10^s < 2^120 fits in 128 bits.
 * The p-digit candidate N = a * 10^s rounded half to even (as printf rounds
 * an exact tie) reads back as a (strtod: correctly rounded, ties to even)
 * exactly when |N - a * 10^s| is within half the gap to a's neighbour, the
 * boundary included when m is even. (Below a power of two the gap is half as
 * wide, but a power of two in this range has at most 15 significant digits:
 * its 15-digit candidate is exact.) Returns the digit count, or 0 for a
 * outside that range (the caller then tries format_short_decimal, then printf). */
static int digits_exact(double a, char *digits, int *exp10)
{
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    int be = (int)(bits >> 52);
    uint64_t frac = bits & ((1ull << 52) - 1);
    int k = 1075 - be;                         /* a = m * 2^-k */
    if (be == 0 || k < 1 || k > 64 || !(a < 1e15))
        return 0;
    uint64_t m = frac | (1ull << 52);
    bool even = (m & 1) == 0;
    /* floor(log10(a)) is floor(e2 * log10(2)) or one more, e2 = 52 - k the
     * binary exponent (a in [2^e2, 2^(e2+1))); 78913 / 2^18 is log10(2) to 6
     * digits, exact enough for |e2| < 100. The loop below corrects a decade
     * low. No libm call. */
    int e2 = 52 - k;
    int e10 = e2 >= 0 ? (e2 * 78913) >> 18 : -((-e2 * 78913 + (1 << 18) - 1) >> 18);
    for (int p = 15; p <= 17; p++) {
        for (int tries = 0; tries < 3; tries++) {
            int s = p - 1 - e10;
            if (s < 0 || s > 20)
                return 0;
            u128 ten_s = s <= 19 ? (u128)ro_pow10[s] : (u128)ro_pow10[19] * 10;
            u128 x = s <= 19 ? (u128)m * ro_pow10[s] : (u128)m * ten_s;   /* a * 10^s * 2^k */
            /* q = x >> k and r, the bits shifted out, in 64-bit halves (1 <= k
             * <= 64): q < 10^18 once the decade is right, r < 2^k. */
            uint64_t lo = (uint64_t)x, hi = (uint64_t)(x >> 64), q, r;
            if (k == 64) {
                q = hi;
                r = lo;
            } else {
                if (hi >> k != 0) {                /* q past 64 bits: a decade low */
                    e10++;
                    continue;
                }
                q = (hi << (64 - k)) | (lo >> k);
                r = lo & ((1ull << k) - 1);
            }
            if (q >= ro_pow10[p]) {                /* log10 was a decade low, or high */
                e10++;
                continue;
            }
            if (q < ro_pow10[p - 1]) {
                e10--;
                continue;
            }
            uint64_t n = q, half = 1ull << (k - 1);
            bool up = r > half || (r == half && (n & 1));
            n += up;
            /* |n * 2^k - x|: r below, 2^k - r above */
            u128 diff = up ? ((u128)1 << k) - r : r;
            u128 scaled = diff * 2;                /* against 10^s: half the gap */
            if (scaled > ten_s || (scaled == ten_s && !even))
                goto next_p;
            int e = e10;
            if (n == ro_pow10[p]) {                /* rounded up to 10^p: one digit, a decade up */
                n = 1;
                e++;
            }
            /* n has p digits (or is 1): its trailing zeros go first, by
             * sixteens, eights, fours, twos and ones (n < 10^17 has at
             * most 16), then the rest is written. */
            size_t nd = n == 1 ? 1 : (size_t)p;
            for (unsigned z = 16; z != 0; z /= 2)
                if (n % ro_pow10[z] == 0) {
                    n /= ro_pow10[z];
                    nd -= z;
                }
            ro_write_digits(n, nd, digits);
            *exp10 = e;
            return (int)nd;
        }
        return 0;                                  /* e10 would not settle: cannot happen */
    next_p:;
    }
    return 0;                                      /* 17 digits always read back: cannot happen */
}

/* Digits laid out as Python's repr does: positional for decimal exponents
 * -4..15, scientific otherwise. digits: 32 bytes readable (nd meant); out:
 * 32 bytes. */
static size_t layout(bool neg, const char *digits, int nd, int exp, char *out)
{
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
        } else if (exp <= 13) {
            /* Two copies of a fixed 16 bytes, not of the parts' own lengths
             * (calls to memcpy): the integer part, then the fraction one
             * byte on, then the point between them. digits holds 32 bytes
             * (the copies read past nd) and the last byte written is
             * out[31] (sign, 14 digits, point, 16). */
            memcpy(o, digits, 16);
            memcpy(o + exp + 2, digits + exp + 1, 16);
            o[exp + 1] = '.';
            o += nd + 1;
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

static size_t format_special(double v, char *out)
{
    if (isnan(v))
        return (size_t)sprintf(out, "nan");
    if (isinf(v))
        return (size_t)sprintf(out, v < 0 ? "-inf" : "inf");
    if (v == 0)
        return (size_t)sprintf(out, signbit(v) ? "-0.0" : "0.0");
    return 0;
}

/* The exact search first: in [2^-12, 1e15) it is cheaper on the whole than
 * trying short decimals first, which a sum or a mean is not (the summary
 * job's four floats a user: 550 instructions a float against 690, callgrind);
 * short decimals then cover [1e-4, 2^-12), printf the rest. */
size_t ro_format_double(double v, char *out)
{
    char digits[32];   /* (layout reads up to digits[29]) */
    int exp, nd = digits_exact(fabs(v), digits, &exp);
    if (nd != 0)
        return layout(v < 0, digits, nd, exp, out);
    size_t n = format_short_decimal(v, out);
    if (n != 0 || (n = format_special(v, out)) != 0)
        return n;
    nd = digits_by_printf(fabs(v), digits, &exp);
    return layout(v < 0, digits, nd, exp, out);
}

size_t ro_format_double_printf(double v, char *out)
{
    size_t n = format_special(v, out);
    if (n != 0)
        return n;
    char digits[32];   /* (layout reads up to digits[29]) */
    int exp, nd = digits_by_printf(fabs(v), digits, &exp);
    return layout(v < 0, digits, nd, exp, out);
}
