/* parse.c - strict JSON text of one record straight into runtime objects. */
#include "nj.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Key shapes: the objects of a stream's records at one depth mostly have the
 * same keys in the same order (every event of every user), so what was read
 * at ordinal i of an object at depth d is tried first at the next one: the
 * key, and the exact bytes from where the key's text begins (ordinal 0) or
 * the previous value ended (the others) to the first byte of the value (such
 * as `, "type": `). When the input there is those bytes, it holds that key
 * and the separators around it, and one compare of two words reads them all.
 * Otherwise the key's text alone is tried, then the key is read and interned
 * as any other. Two keys are kept per ordinal, the last one seen first
 * (optional fields make two kinds of objects alternate). Only keys that were
 * one plain run (no escape, no byte that needs a second look) are kept, so
 * equal bytes mean the same text. */
#define SHAPE_DEPTHS 4
#define SHAPE_KEYS 8
#define SHAPE_WAYS 2
#define SHAPE_BYTES 16

typedef struct nj_key_shape {
    ro_object *key;             /* interned: new reference, or NULL */
    /* bytes[0..len) as little-endian words, and their masks. The words are
     * bytes again, kept loaded: loading them from bytes at each match made
     * the worker 0.6% more instructions. */
    uint64_t word[2], mask[2];
    uint8_t len;                /* 0: the bytes did not fit (the key alone is tried) */
    uint8_t bytes[SHAPE_BYTES];
} nj_key_shape;

/* Object layouts: the objects at one depth mostly have one of a few key
 * sequences (an event with or without "amount", with or without "tags"). A
 * dict made from a sequence seen before is made from its ro_dict_layout:
 * its index copied, no key hashed or probed. Each depth has its own
 * ro_layout_cache (ro.h): a slot picked by the object's length and last key
 * (which tell those four events apart; keys are interned, one object a
 * text), learning rationed for a stream of ever-new sequences. */
struct nj_shapes {
    nj_key_shape at[SHAPE_DEPTHS][SHAPE_KEYS][SHAPE_WAYS];
    ro_layout_cache layouts[SHAPE_DEPTHS];
};

typedef struct nj_parser {
    ro_state *rt;
    const uint8_t *start, *p, *end;
    uint32_t depth, max_depth;
    nj_error *err;
    char *scratch;          /* unescaped string bytes, number text (malloc'd) */
    size_t scap;
    nj_shapes *shapes;      /* borrowed from the caller, or NULL (none kept) */
    /* The items of the arrays and the keys and values of the objects being
     * read, innermost last: each container is made once it is complete, in
     * one call and at its final size. New references, stack[0..sp). On the
     * C stack in nj_parse until a record needs more (then malloc'd). */
    ro_object **stack;
    size_t sp, stack_cap;
    bool stack_heap;
} nj_parser;

#define STACK_INLINE 128

static ro_object *fail(nj_parser *ps, const uint8_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ro_object *fail(nj_parser *ps, const uint8_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err->msg, sizeof ps->err->msg, fmt, ap);
    va_end(ap);
    ps->err->column = (size_t)(at - ps->start) + 1;
    ro_err_set(ps->rt, RO_E_VALUE, "column %zu: %s", ps->err->column, ps->err->msg);
    return NULL;
}

/* The runtime failed (out of memory): report that, keeping the column. */
static ro_object *fail_rt(nj_parser *ps)
{
    ps->err->column = (size_t)(ps->p - ps->start) + 1;
    snprintf(ps->err->msg, sizeof ps->err->msg, "%s", ro_err_msg(ps->rt));
    return NULL;
}

static __attribute__((noinline)) int stack_grow(nj_parser *ps)
{
    size_t cap = ps->stack_cap * 2;
    ro_object **st = ps->stack_heap ? realloc(ps->stack, cap * sizeof *st) : malloc(cap * sizeof *st);
    if (st == NULL) {
        ro_err_nomem(ps->rt, cap * sizeof *st);
        return -1;
    }
    if (!ps->stack_heap)
        memcpy(st, ps->stack, ps->sp * sizeof *st);
    ps->stack = st;
    ps->stack_cap = cap;
    ps->stack_heap = true;
    return 0;
}

/* Room for n more on the stack. Returns 0 or -1 (memory). */
static __attribute__((noinline)) int stack_room(nj_parser *ps, size_t n)
{
    while (ps->stack_cap - ps->sp < n)
        if (stack_grow(ps) != 0)
            return -1;
    return 0;
}

/* Members of an object whose stack room is made before the first. */
#define OBJECT_ROOM 8

/* Push a new reference; on failure it is dropped. Returns 0 or -1. */
static inline int stack_push(nj_parser *ps, ro_object *o)
{
    if (__builtin_expect(ps->sp == ps->stack_cap, 0) && stack_grow(ps) != 0) {
        ro_decref(ps->rt, o);
        return -1;
    }
    ps->stack[ps->sp++] = o;
    return 0;
}

/* Drop what a container being read had collected. */
static void stack_drop(nj_parser *ps, size_t base)
{
    while (ps->sp > base)
        ro_decref(ps->rt, ps->stack[--ps->sp]);
}

static inline bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Whitespace is mostly absent or one space (", " and ": " of most writers):
 * both are decided before the loop. */
static inline void skip_ws(nj_parser *ps)
{
    const uint8_t *p = ps->p, *end = ps->end;
    if (p >= end || *p > ' ')
        return;
    if (*p == ' ' && end - p > 1 && p[1] > ' ') {
        ps->p = p + 1;
        return;
    }
    while (p < end && is_ws(*p))
        p++;
    ps->p = p;
}

/* Bytes a string's text runs over without a second look: printable ASCII
 * but the quote and the backslash. */
static const bool plain_byte[256] = {
    [0x20] = 1, [0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7f] = 1,
};

static const char *describe(const uint8_t *p, const uint8_t *end, char *buf, size_t n)
{
    if (p >= end)
        return "end of record";
    if (*p >= 0x20 && *p < 0x7f)
        snprintf(buf, n, "'%c'", *p);
    else
        snprintf(buf, n, "byte 0x%02x", *p);
    return buf;
}

static int scratch_reserve(nj_parser *ps, size_t need)
{
    if (need <= ps->scap)
        return 0;
    size_t cap = ps->scap ? ps->scap : 256;
    while (cap < need)
        cap *= 2;
    char *s = realloc(ps->scratch, cap);
    if (s == NULL) {
        ro_err_nomem(ps->rt, cap);
        return -1;
    }
    ps->scratch = s;
    ps->scap = cap;
    return 0;
}

static ro_object *parse_value(nj_parser *ps);

#define NJ_ONES 0x0101010101010101ull
#define NJ_HIGHS 0x8080808080808080ull

/* The top bit of each byte of w that ends a plain run of string text: '"',
 * '\\', a control byte (< 0x20) or a byte >= 0x80 (validated one by one).
 * Exact for the lowest such byte (find it with ctz). Subtracting one from a
 * byte xor'ed with '"' sets its top bit when it was the quote, and for every
 * byte >= 0x80 but 0xA2; the same with the backslash, but 0xDC; subtracting
 * 0x20 sets it below 0x20. A borrow leaves only such a byte, for the byte
 * above it, so bytes below the lowest are judged right, and the zero-byte
 * test's usual "& ~x" is not needed. */
static inline uint64_t nj_stop_bytes(uint64_t w)
{
    return (((w ^ (NJ_ONES * '"')) - NJ_ONES) | ((w ^ (NJ_ONES * '\\')) - NJ_ONES) | (w - NJ_ONES * 0x20) | w) &
           NJ_HIGHS;   /* (w: the same bytes >= 0x80 again; GCC's code is shorter with it) */
}

/* Bytes from q that need no second look in a string, eight at a time: a
 * word with none of nj_stop_bytes's bytes is skipped whole; in the first
 * word with one, the scan stops exactly there. */
static inline const uint8_t *plain_run(const uint8_t *q, const uint8_t *end)
{
    while (end - q >= 8) {
        uint64_t hit = nj_stop_bytes(ro_load_le64(q));
        if (hit != 0)
            return q + (__builtin_ctzll(hit) >> 3);
        q += 8;
    }
    while (q < end && plain_byte[*q])
        q++;
    return q;
}

/* Length of the valid UTF-8 sequence at p (RFC 3629), or 0. */
static size_t utf8_seq(const uint8_t *p, const uint8_t *end)
{
    uint8_t c = p[0], lo = 0x80, hi = 0xBF;
    size_t need;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if ((size_t)(end - p) <= need || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t k = 2; k <= need; k++)
        if ((p[k] & 0xC0) != 0x80)
            return 0;
    return need + 1;
}

static int hex4(const uint8_t *p, const uint8_t *end, uint32_t *out)
{
    if (end - p < 4)
        return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *d, uint32_t cp)
{
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xC0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static ro_object *parse_string_escaped(nj_parser *ps, bool key, const uint8_t *open);

/* The string at ps->p (its opening quote); keys are interned. Most strings
 * are one plain run up to the closing quote: made straight from the input,
 * without a copy through scratch, here; the others (escapes, non-ASCII to
 * validate) in parse_string_escaped, out of line, so that this path stays
 * small. *plain (may be NULL) tells whether the text was one plain run. */
static inline ro_object *parse_string(nj_parser *ps, bool key, bool *plain)
{
    const uint8_t *open = ps->p++;
    const uint8_t *q = plain_run(ps->p, ps->end);
    if (__builtin_expect(q < ps->end && *q == '"', 1)) {
        const char *text = (const char *)ps->p;
        size_t len = (size_t)(q - ps->p);
        ps->p = q + 1;
        if (plain != NULL)
            *plain = true;
        ro_object *s;
        if (key)
            s = ro_str_intern_utf8(ps->rt, text, len);
        else if (len - 1 < 8 && ps->end - (const uint8_t *)text >= 8)   /* 1..8 bytes, and a word to load */
            s = ro_str_shared_word(ps->rt, ro_load_le64(text) & (~0ull >> (64 - 8 * len)), text, len);
        else
            s = ro_str_shared_utf8(ps->rt, text, len);
        if (s == NULL)
            return fail_rt(ps);
        ((ro_str *)s)->s_state |= RO_STR_NOESC;    /* the run had none of those bytes */
        return s;
    }
    if (plain != NULL)
        *plain = false;
    return parse_string_escaped(ps, key, open);
}

/* The string opened at open, read again from its start: unescaped text is
 * built in scratch and the runtime string made once at the end. */
static __attribute__((noinline)) ro_object *parse_string_escaped(nj_parser *ps, bool key, const uint8_t *open)
{
    ps->p = open + 1;
    size_t n = 0;
    for (;;) {
        const uint8_t *run = ps->p;
        ps->p = plain_run(ps->p, ps->end);
        size_t len = (size_t)(ps->p - run);
        if (len != 0) {
            if (scratch_reserve(ps, n + len + 4) != 0)
                return fail_rt(ps);
            memcpy(ps->scratch + n, run, len);
            n += len;
        }
        if (ps->p >= ps->end)
            return fail(ps, open, "unterminated string");
        uint8_t c = *ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20)
            return fail(ps, ps->p, "control character 0x%02x in a string (escape it)", c);
        if (scratch_reserve(ps, n + 8) != 0)
            return fail_rt(ps);
        if (c >= 0x80) {
            size_t k = utf8_seq(ps->p, ps->end);
            if (k == 0)
                return fail(ps, ps->p, "invalid UTF-8 (byte 0x%02x)", c);
            memcpy(ps->scratch + n, ps->p, k);
            n += k;
            ps->p += k;
            continue;
        }
        /* backslash */
        const uint8_t *esc = ps->p++;
        if (ps->p >= ps->end)
            return fail(ps, esc, "unterminated escape");
        char out;
        switch (*ps->p) {
        case '"': out = '"'; break;
        case '\\': out = '\\'; break;
        case '/': out = '/'; break;
        case 'b': out = '\b'; break;
        case 'f': out = '\f'; break;
        case 'n': out = '\n'; break;
        case 'r': out = '\r'; break;
        case 't': out = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (hex4(ps->p + 1, ps->end, &cp) != 0)
                return fail(ps, esc, "\\u needs four hex digits");
            ps->p += 5;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return fail(ps, esc, "lone low surrogate \\u%04X", (unsigned)cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
                    hex4(ps->p + 2, ps->end, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                    return fail(ps, esc, "lone high surrogate \\u%04X (needs a low surrogate next)",
                                (unsigned)cp);
                ps->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            n += put_utf8(ps->scratch + n, cp);
            continue;
        }
        default:
            return fail(ps, esc, "invalid escape \\%c", *ps->p >= 0x20 && *ps->p < 0x7f ? *ps->p : '?');
        }
        ps->scratch[n++] = out;
        ps->p++;
    }
    /* Validated above; keys come from the intern table without a copy. */
    const char *text = n ? ps->scratch : "";
    ro_object *s = key ? ro_str_intern_utf8(ps->rt, text, n) : ro_str_shared_utf8(ps->rt, text, n);
    return s != NULL ? s : fail_rt(ps);
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static const uint64_t pow10_u64[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

/* The value of the 8 digits in w, the first (most significant) digit in its
 * lowest byte: neighbouring digits, then pairs, then quads are combined in
 * place, each step one multiply (no lane can carry into the next). */
static inline uint64_t eight_digits_value(uint64_t w)
{
    w &= 0x0F0F0F0F0F0F0F0Full;
    w = (w * 10 + (w >> 8)) & 0x00FF00FF00FF00FFull;
    w = (w * 100 + (w >> 16)) & 0x0000FFFF0000FFFFull;
    return (w * 10000 + (w >> 32)) & 0xFFFFFFFFull;
}

/* The run of digits at p, up to 8 (fewer where end comes first): returns how
 * many, their value in *v. A digit is 0x30..0x39: subtracting 0x30 leaves
 * its top bit clear (a byte below 0x30 wraps to 0xD0 or more), and so does
 * adding 0x46 (0x3A and up reach 0x80; 0xBA and up, whose addition wraps,
 * already had it set by the subtraction). A borrow or a carry leaves only a
 * byte that is no digit, for the byte above it: the lowest flagged byte is
 * the first non-digit. Shifting the word up by the bytes that are not
 * digits leaves the digits last and zeros (leading zero digits) before
 * them. */
static inline __attribute__((always_inline)) size_t digit_run(const uint8_t *p, const uint8_t *end,
                                                              uint64_t *v)
{
    if (end - p >= 8) {
        uint64_t w = ro_load_le64(p);
        uint64_t bad = ((w - 0x3030303030303030ull) | (w + 0x4646464646464646ull)) & NJ_HIGHS;
        size_t k = bad == 0 ? 8 : (size_t)__builtin_ctzll(bad) >> 3;
        if (k <= 2)                      /* the usual short runs: no multiply chain */
            *v = k == 0 ? 0 : k == 1 ? (w & 0xF) : (w & 0xF) * 10 + ((w >> 8) & 0xF);
        else
            *v = eight_digits_value(w << (64 - 8 * k));
        return k;
    }
    size_t k = 0;
    uint64_t acc = 0;
    for (; k < 8 && p + k < end && is_digit(p[k]); k++)
        acc = acc * 10 + (uint64_t)(p[k] - '0');
    *v = acc;
    return k;
}

static const double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* One pass over the number: its digits up to eight at a time (digit_run),
 * the integer part's and the fraction's. A float of at most 15 digits in all and a
 * power of ten up to 22 takes Clinger's fast path: an exact integer times or
 * over an exact power of ten is one IEEE operation, the correctly rounded
 * double (what strtod returns); other floats go to strtod. */
static __attribute__((noinline)) ro_object *parse_number(nj_parser *ps)
{
    const uint8_t *s = ps->p, *p = ps->p, *end = ps->end;
    bool neg = *p == '-';
    p += neg;
    if (p >= end || !is_digit(*p)) {
        char b[16];
        if (p < end && *p == 'I')
            return fail(ps, s, "Infinity is not JSON");
        return fail(ps, p, "expected a digit, got %s", describe(p, end, b, sizeof b));
    }
    if (*p == '0' && p + 1 < end && is_digit(p[1]))
        return fail(ps, p, "leading zeros are not allowed in numbers");
    /* Up to 19 digits cannot overflow 64 bits; more (no leading zero) is
     * at least 10^19, past the int64 range either way. */
    const uint8_t *digits = p;
    uint64_t mag, run;
    size_t k = digit_run(p, end, &mag);
    p += k;
    if (k == 8) {
        k = digit_run(p, end, &run);
        mag = mag * pow10_u64[k] + run;
        p += k;
        for (; p < end && is_digit(*p); p++)   /* past 16 digits: one by one */
            if (p - digits < 19)
                mag = mag * 10 + (uint64_t)(*p - '0');
    }
    size_t ndigits = (size_t)(p - digits), fdigits = 0;
    bool is_float = false;
    uint64_t m = mag;          /* integer and fraction digits: exact when ndigits + fdigits <= 15 */
    int exp10 = 0;
    if (p < end && *p == '.') {
        is_float = true;
        p++;
        if (p >= end || !is_digit(*p))
            return fail(ps, p, "expected a digit after the decimal point");
        const uint8_t *f = p;
        k = digit_run(p, end, &run);
        m = m * pow10_u64[k] + run;               /* wraps harmlessly when too long to be used */
        p += k;
        if (k == 8)
            for (; p < end && is_digit(*p); p++)
                m = m * 10 + (uint64_t)(*p - '0');
        fdigits = (size_t)(p - f);
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_float = true;
        p++;
        bool eneg = p < end && *p == '-';
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p))
            return fail(ps, p, "expected a digit in the exponent");
        for (; p < end && is_digit(*p); p++)
            if (exp10 < 10000)
                exp10 = exp10 * 10 + (*p - '0');
        exp10 = eneg ? -exp10 : exp10;
    }
    ps->p = p;
    if (!is_float) {
        uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        if (ndigits > 19 || mag > limit)
            return fail(ps, s, "integer %.*s is outside the 64-bit range (write it with a fraction or "
                               "exponent to mean a float)",
                        (int)((p - s) > 40 ? 40 : (p - s)), (const char *)s);
        int64_t v = neg ? (int64_t)(0 - mag) : (int64_t)mag;
        ro_object *o = ro_int_from_i64(ps->rt, v);
        return o != NULL ? o : fail_rt(ps);
    }
    if (ndigits + fdigits <= 15) {
        int scale = exp10 - (int)fdigits;
        if (scale >= -22 && scale <= 22) {
            double v = (double)m;    /* exact: m < 10^15 < 2^53 */
            v = scale < 0 ? v / exact_pow10[-scale] : v * exact_pow10[scale];
            ro_object *o = ro_float_from_double(ps->rt, neg ? -v : v);
            return o != NULL ? o : fail_rt(ps);
        }
    }
    size_t len = (size_t)(p - s);
    if (scratch_reserve(ps, len + 1) != 0)
        return fail_rt(ps);
    memcpy(ps->scratch, s, len);
    ps->scratch[len] = '\0';
    errno = 0;
    double d = strtod(ps->scratch, NULL);   /* "C" numeric locale: the daemon never sets one */
    if (isinf(d))
        return fail(ps, s, "number %.*s is outside the range of a double", (int)(len > 40 ? 40 : len),
                    (const char *)s);
    ro_object *o = ro_float_from_double(ps->rt, d);
    return o != NULL ? o : fail_rt(ps);
}

/* The numbers records are mostly made of, read with no error path and no
 * call: an integer of up to 15 digits, or one with a fraction of 1 to 7
 * digits and at most 15 digits in all (Clinger's fast path), no exponent.
 * Anything else, errors included, is read again by parse_number. */
static inline __attribute__((always_inline)) ro_object *parse_plain_number(nj_parser *ps)
{
    const uint8_t *p = ps->p, *end = ps->end;
    bool neg = *p == '-';
    p += neg;
    uint64_t mag, run;
    size_t k = digit_run(p, end, &mag);
    if (k == 0 || (k > 1 && *p == '0'))
        return parse_number(ps);
    const uint8_t *q = p + k;
    if (k == 8) {
        k = digit_run(q, end, &run);
        if (k == 8)
            return parse_number(ps);
        mag = mag * pow10_u64[k] + run;
        q += k;
    }
    size_t ndigits = (size_t)(q - p);
    if (q < end && *q == '.') {
        size_t kf = digit_run(q + 1, end, &run);
        if (kf == 0 || kf == 8 || ndigits + kf > 15)
            return parse_number(ps);
        q += 1 + kf;
        if (q < end && (*q == 'e' || *q == 'E'))
            return parse_number(ps);
        double v = (double)(mag * pow10_u64[kf] + run) / exact_pow10[kf];   /* exact over exact */
        ps->p = q;
        ro_object *o = ro_float_from_double(ps->rt, neg ? -v : v);
        return o != NULL ? o : fail_rt(ps);
    }
    if (q < end && (*q == 'e' || *q == 'E'))
        return parse_number(ps);
    ps->p = q;
    ro_object *o = ro_int_from_i64(ps->rt, neg ? -(int64_t)mag : (int64_t)mag);   /* < 10^15 */
    return o != NULL ? o : fail_rt(ps);
}

static ro_object *parse_literal(nj_parser *ps, const char *word, ro_object *value)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail(ps, ps->p, "invalid literal (expected %s)", word);
    ps->p += n;
    return value;   /* immortal singletons: no incref needed */
}

/* A value inside an array or object, ps->p where the caller's whitespace
 * skip or key shape left it (the value's first byte, but after a shape
 * whose input had more spaces): strings and numbers, most of them, are read
 * at once; containers too; literals and anything else go through
 * parse_value, which skips whitespace first. */
static ro_object *parse_array(nj_parser *ps);
static ro_object *parse_object(nj_parser *ps);

static inline __attribute__((always_inline)) ro_object *parse_member(nj_parser *ps)
{
    if (ps->p < ps->end) {
        uint8_t c = *ps->p;
        if (c == '"')
            return parse_string(ps, false, NULL);
        if (is_digit(c) || c == '-')
            return parse_plain_number(ps);
        if (c == '{')
            return parse_object(ps);
        if (c == '[')
            return parse_array(ps);
    }
    return parse_value(ps);
}

static ro_object *parse_array(nj_parser *ps)
{
    const uint8_t *open = ps->p++;
    if (++ps->depth > ps->max_depth)
        return fail(ps, open, "nested deeper than %u levels", ps->max_depth);
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        ps->depth--;
        ro_object *l = ro_list_new(ps->rt, 0);
        return l != NULL ? l : fail_rt(ps);
    }
    size_t base = ps->sp;
    for (;;) {
        ro_object *v = parse_member(ps);
        if (v == NULL || stack_push(ps, v) != 0)
            goto fail;
        /* The usual separator, ", " before the next value's first byte,
         * in one step (a two-byte compare: on a big-endian machine it
         * never matches, and the general path below reads it). */
        uint16_t sep;
        if (ps->end - ps->p >= 3 && (memcpy(&sep, ps->p, 2), sep == (',' | ' ' << 8)) && ps->p[2] > ' ') {
            ps->p += 2;
            continue;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            skip_ws(ps);
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            break;
        }
        char b[16];
        fail(ps, ps->p, "expected ',' or ']' in an array, got %s", describe(ps->p, ps->end, b, sizeof b));
        goto fail;
    }
    ps->depth--;
    ro_object *l = ro_list_from_array_steal(ps->rt, ps->stack + base, ps->sp - base);
    ps->sp = base;                          /* the list has them (or they are dropped) */
    return l != NULL ? l : fail_rt(ps);
fail:
    stack_drop(ps, base);
    if (ps->err->msg[0] == '\0')
        fail_rt(ps);
    return NULL;
}

/* Do the bytes at p start with the shape's? (s->len != 0) */
static inline bool shape_match(const nj_key_shape *s, const uint8_t *p, const uint8_t *end)
{
    if (end - p >= SHAPE_BYTES)
        return (((ro_load_le64(p) ^ s->word[0]) & s->mask[0]) | ((ro_load_le64(p + 8) ^ s->word[1]) & s->mask[1])) ==
               0;
    return (size_t)(end - p) >= s->len && memcmp(p, s->bytes, s->len) == 0;
}

/* Key k (borrowed; plain text) was read from the bytes [from, to): it goes
 * first among the ordinal's ways, with those bytes when they fit; the way it
 * held before, or else the last one, makes room. */
static void shape_learn(ro_state *rt, nj_key_shape *way, ro_object *k, const uint8_t *from, const uint8_t *to)
{
    size_t j = 0;
    while (j < SHAPE_WAYS - 1 && way[j].key != k)
        j++;
    ro_object *old = way[j].key;
    memmove(&way[1], &way[0], j * sizeof *way);
    if (old != k) {
        ro_xdecref(rt, old);
        ro_incref(k);
    }
    nj_key_shape *s = &way[0];
    size_t n = (size_t)(to - from);
    s->key = k;
    s->len = 0;
    if (n > SHAPE_BYTES)
        return;
    memset(s->bytes, 0, sizeof s->bytes);
    memcpy(s->bytes, from, n);
    s->len = (uint8_t)n;
    s->word[0] = ro_load_le64(s->bytes);
    s->word[1] = ro_load_le64(s->bytes + 8);
    s->mask[0] = n >= 8 ? ~0ull : (1ull << (8 * n)) - 1;
    s->mask[1] = n >= 16 ? ~0ull : n <= 8 ? 0 : (1ull << (8 * (n - 8))) - 1;
}

/* The dict of the npairs keys and values at kv (stolen, as by
 * ro_dict_from_pairs_steal; npairs > 0), an object at depth (1 = the
 * record): through the depth's layout cache when there is one. Returns: new,
 * or NULL (memory; the runtime's error set). */
static ro_object *object_of(nj_parser *ps, ro_object *const *kv, size_t npairs, uint32_t depth)
{
    nj_shapes *sh = ps->shapes;
    if (sh == NULL || depth > SHAPE_DEPTHS)
        return ro_dict_from_pairs_steal(ps->rt, kv, npairs);
    return ro_layout_cache_dict_steal(ps->rt, &sh->layouts[depth - 1], kv, npairs);
}

static ro_object *parse_object(nj_parser *ps)
{
    const uint8_t *open = ps->p++;
    if (++ps->depth > ps->max_depth)
        return fail(ps, open, "nested deeper than %u levels", ps->max_depth);
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        ps->depth--;
        ro_object *d = ro_dict_new(ps->rt);
        return d != NULL ? d : fail_rt(ps);
    }
    size_t base = ps->sp;
    char b[16];
    /* The ways of this member's ordinal, NULL past the last one kept. */
    nj_key_shape *way = NULL, *last_way = NULL;
    if (ps->shapes != NULL && ps->depth <= SHAPE_DEPTHS) {
        way = ps->shapes->at[ps->depth - 1][0];
        last_way = ps->shapes->at[ps->depth - 1][SHAPE_KEYS - 1];
    }
    /* Room for the keys and values of the first OBJECT_ROOM members, made
     * once (what a value's own containers push they take off again, and the
     * stack only grows), then for each member past them. */
    if (__builtin_expect(ps->stack_cap - ps->sp < 2 * OBJECT_ROOM, 0) && stack_room(ps, 2 * OBJECT_ROOM) != 0)
        goto fail;
    for (uint32_t ordinal = 0;; ordinal++) {
        if (__builtin_expect(ordinal >= OBJECT_ROOM, 0) && ps->stack_cap - ps->sp < 2 && stack_grow(ps) != 0)
            goto fail;
        /* The key's quote (ordinal 0), or where the previous value ended. */
        const uint8_t *from = ps->p;
        ro_object *k = NULL;
        if (way != NULL)
            for (int j = 0; j < SHAPE_WAYS; j++)
                if (way[j].len != 0 && shape_match(&way[j], from, ps->end)) {
                    k = way[j].key;
                    ps->p = from + way[j].len;
                    break;
                }
        if (k != NULL) {
            ro_incref(k);
            ps->stack[ps->sp++] = k;
        } else {
            if (ordinal > 0) {
                skip_ws(ps);
                if (ps->p < ps->end && *ps->p == '}') {
                    ps->p++;
                    break;
                }
                if (ps->p >= ps->end || *ps->p != ',') {
                    fail(ps, ps->p, "expected ',' or '}' in an object, got %s",
                         describe(ps->p, ps->end, b, sizeof b));
                    goto fail;
                }
                ps->p++;
                skip_ws(ps);
            }
            if (ps->p >= ps->end || *ps->p != '"') {
                fail(ps, ps->p, "expected a string key, got %s", describe(ps->p, ps->end, b, sizeof b));
                goto fail;
            }
            bool plain = true;
            for (int j = 0; way != NULL && j < SHAPE_WAYS && k == NULL; j++) {
                ro_object *guess = way[j].key;
                if (guess == NULL)
                    continue;
                size_t n = ro_str_nbytes(guess);
                if ((size_t)(ps->end - ps->p) > n + 1 && ps->p[n + 1] == '"' &&
                    ro_text_eq(ps->p + 1, ro_str_utf8(guess), n)) {
                    ps->p += n + 2;
                    ro_incref(guess);
                    k = guess;
                }
            }
            if (k == NULL && (k = parse_string(ps, true, &plain)) == NULL)
                goto fail;
            ps->stack[ps->sp++] = k;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                fail(ps, ps->p, "expected ':' after a key, got %s", describe(ps->p, ps->end, b, sizeof b));
                goto fail;
            }
            ps->p++;
            skip_ws(ps);
            if (way != NULL && plain)
                shape_learn(ps->rt, way, k, from, ps->p);
        }
        ro_object *v = parse_member(ps);
        if (v == NULL)
            goto fail;
        ps->stack[ps->sp++] = v;
        way = way == last_way ? NULL : way != NULL ? way + SHAPE_WAYS : NULL;
    }
    /* a duplicate key: the last wins */
    ro_object *d = object_of(ps, ps->stack + base, (ps->sp - base) / 2, ps->depth--);
    ps->sp = base;                          /* the dict has them (or they are dropped) */
    return d != NULL ? d : fail_rt(ps);
fail:
    stack_drop(ps, base);
    if (ps->err->msg[0] == '\0')
        fail_rt(ps);
    return NULL;
}

static ro_object *parse_value(nj_parser *ps)
{
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, ps->p, "expected a value, got end of record");
    char b[16];
    switch (*ps->p) {
    case '{':
        return parse_object(ps);
    case '[':
        return parse_array(ps);
    case '"':
        return parse_string(ps, false, NULL);
    case 't':
        return parse_literal(ps, "true", ro_true(ps->rt));
    case 'f':
        return parse_literal(ps, "false", ro_false(ps->rt));
    case 'n':
        return parse_literal(ps, "null", ro_none(ps->rt));
    case 'N':
        return fail(ps, ps->p, "NaN is not JSON");
    case 'I':
        return fail(ps, ps->p, "Infinity is not JSON");
    default:
        if (*ps->p == '-' || is_digit(*ps->p))
            return parse_number(ps);
        return fail(ps, ps->p, "expected a value, got %s", describe(ps->p, ps->end, b, sizeof b));
    }
}

nj_shapes *nj_shapes_new(void)
{
    return calloc(1, sizeof(nj_shapes));
}

void nj_shapes_free(ro_state *rt, nj_shapes *sh)
{
    if (sh == NULL)
        return;
    for (size_t d = 0; d < SHAPE_DEPTHS; d++)
        for (size_t i = 0; i < SHAPE_KEYS; i++)
            for (size_t j = 0; j < SHAPE_WAYS; j++)
                ro_xdecref(rt, sh->at[d][i][j].key);
    for (size_t d = 0; d < SHAPE_DEPTHS; d++)
        ro_layout_cache_clear(rt, &sh->layouts[d]);
    free(sh);
}

ro_object *nj_parse_shaped(ro_state *rt, nj_shapes *sh, const char *buf, size_t len, const nj_limits *limits,
                           nj_error *err)
{
    nj_error local;
    nj_parser ps = {
        .rt = rt, .start = (const uint8_t *)buf, .p = (const uint8_t *)buf,
        .end = (const uint8_t *)buf + len,
        .max_depth = limits && limits->max_depth ? limits->max_depth : NJ_DEFAULT_MAX_DEPTH,
        .err = err ? err : &local,
        .shapes = sh,
    };
    ro_object *inline_stack[STACK_INLINE];
    ps.stack = inline_stack;
    ps.stack_cap = STACK_INLINE;
    ps.err->column = 0;
    ps.err->msg[0] = '\0';
    ro_object *v = parse_value(&ps);
    if (v != NULL) {
        skip_ws(&ps);
        if (ps.p != ps.end) {
            ro_decref(rt, v);
            v = fail(&ps, ps.p, "trailing characters after the value");
        }
    }
    free(ps.scratch);
    if (ps.stack_heap)
        free(ps.stack);
    return v;
}

ro_object *nj_parse(ro_state *rt, const char *buf, size_t len, const nj_limits *limits, nj_error *err)
{
    nj_shapes *sh = nj_shapes_new();   /* this record's own (NULL, out of memory: none) */
    ro_object *v = nj_parse_shaped(rt, sh, buf, len, limits, err);
    nj_shapes_free(rt, sh);
    return v;
}
