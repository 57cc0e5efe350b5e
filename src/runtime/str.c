/* str.c - immutable UTF-8 strings: validation, hashing, comparison, repr. */
#include "ro_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR_HEAD offsetof(ro_str, s_data)

/* Validate UTF-8 (RFC 3629: no overlongs, no surrogates, nothing past
 * U+10FFFF) and count code points. Returns 0, or -1 with *bad = offset of the
 * first byte of the offending sequence. */
static int utf8_scan(const uint8_t *s, size_t n, size_t *cps, size_t *bad, bool *ascii)
{
    size_t i = 0, count = 0;
    *ascii = true;
    while (i < n) {
        /* ASCII fast path, 8 bytes at a time */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
            count += 8;
        }
        if (i >= n)
            break;
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            count++;
            continue;
        }
        *ascii = false;
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;   /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0;             /* overlong */
            else if (c == 0xED)
                hi = 0x9F;             /* UTF-16 surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90;             /* overlong */
            else if (c == 0xF4)
                hi = 0x8F;             /* past U+10FFFF */
        } else {
            *bad = i;
            return -1;
        }
        if (i + need >= n) {            /* truncated sequence */
            *bad = i;
            return -1;
        }
        if (s[i + 1] < lo || s[i + 1] > hi) {
            *bad = i;
            return -1;
        }
        for (size_t k = 2; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                *bad = i;
                return -1;
            }
        }
        i += need + 1;
        count++;
    }
    *cps = count;
    return 0;
}

/* A str with room for nbytes, not yet filled. */
static ro_str *str_alloc(ro_state *rt, size_t nbytes)
{
    if (nbytes > SIZE_MAX / 4) {
        ro_err_set(rt, RO_E_OVERFLOW, "string of %zu bytes is too long", nbytes);
        return NULL;
    }
    ro_str *s = (ro_str *)ro_object_alloc(rt, &rt->types[RO_K_STR], STR_HEAD + nbytes + 1, false);
    if (s == NULL)
        return NULL;
    s->ob_base.ob_size = nbytes;
    s->s_hash = 0;
    s->s_state = 0;
    memset(s->s_hint, 0, sizeof s->s_hint);
    s->s_data[nbytes] = '\0';
    return s;
}

ro_object *ro_str_from_utf8(ro_state *rt, const char *data, size_t nbytes)
{
    size_t cps = 0, bad = 0;
    bool ascii;
    if (utf8_scan((const uint8_t *)data, nbytes, &cps, &bad, &ascii) != 0) {
        ro_err_set(rt, RO_E_UNICODE, "invalid UTF-8 at byte %zu (0x%02x)", bad,
                   (unsigned)(uint8_t)data[bad]);
        return NULL;
    }
    ro_str *s = str_alloc(rt, nbytes);
    if (s == NULL)
        return NULL;
    memcpy(s->s_data, data, nbytes);
    s->s_len = cps;
    s->s_state = ascii ? RO_STR_ASCII : 0;
    return RO_OBJ(s);
}

ro_object *ro_str_from_valid_utf8(ro_state *rt, const char *data, size_t nbytes)
{
    ro_str *s = str_alloc(rt, nbytes);
    if (s == NULL)
        return NULL;
    memcpy(s->s_data, data, nbytes);
    size_t cps = 0, i = 0;
    bool ascii = true;
    for (; i + 8 <= nbytes; i += 8) {    /* ASCII words: 8 code points at once */
        uint64_t w;
        memcpy(&w, data + i, 8);
        if (w & 0x8080808080808080ull)
            break;
        cps += 8;
    }
    for (; i < nbytes; i++) {
        uint8_t c = (uint8_t)data[i];
        cps += (c & 0xC0) != 0x80;       /* count every byte that starts a code point */
        ascii &= c < 0x80;
    }
    s->s_len = cps;
    s->s_state = ascii ? RO_STR_ASCII : 0;
    return RO_OBJ(s);
}

/* The shared-string cache: RO_STRCACHE_SLOTS direct-mapped slots, each a
 * new reference to a recently made short string, picked by its length and
 * bytes: all of them up to 8 (one word), the first and last 8 past that. A
 * miss makes the string and puts it in its slot in place of the one there;
 * so the cache holds at most RO_STRCACHE_SLOTS strings of at most
 * RO_STRCACHE_MAX bytes, whatever the input. */
static inline unsigned strcache_slot_word(uint64_t w, size_t n)
{
    uint64_t h = (w ^ (uint64_t)n) * 0xff51afd7ed558ccdull;
    return (unsigned)(h >> (64 - RO_STRCACHE_BITS));
}

/* The n bytes at p (1 <= n <= 8) as a little-endian word, zero past them:
 * two halves that overlap, or the bytes one by one. */
static inline uint64_t text_word(const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    if (n >= 4) {
        uint64_t lo = (uint64_t)u[0] | (uint64_t)u[1] << 8 | (uint64_t)u[2] << 16 | (uint64_t)u[3] << 24;
        const unsigned char *t = u + n - 4;
        uint64_t hi = (uint64_t)t[0] | (uint64_t)t[1] << 8 | (uint64_t)t[2] << 16 | (uint64_t)t[3] << 24;
        return lo | hi << (8 * (n - 4));
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)u[i] << (8 * i);
    return w;
}

static inline unsigned strcache_slot_long(const char *p, size_t n)
{
    uint64_t a, b;
    memcpy(&a, p, 8);
    memcpy(&b, p + n - 8, 8);
    uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15ull) ^ (uint64_t)n) * 0xff51afd7ed558ccdull;
    return (unsigned)(h >> (64 - RO_STRCACHE_BITS));
}

/* The string made on a miss takes the slot (word: 0 past 8 bytes).
 * Out of line: the hit path stays a leaf the parser can take inline. */
static __attribute__((noinline)) ro_object *strcache_fill(ro_state *rt, ro_strcache_slot *slot, uint64_t word,
                                                          const char *data, size_t nbytes)
{
    ro_object *o = ro_str_from_valid_utf8(rt, data, nbytes);
    if (o == NULL)
        return NULL;
    ro_incref(o);
    ro_str *old = slot->s;
    ((ro_str *)o)->s_state |= RO_STR_CACHED;
    slot->s = (ro_str *)o;
    slot->word = word;
    slot->nbytes = nbytes;
    if (old != NULL) {
        old->s_state &= ~RO_STR_CACHED;
        ro_decref(rt, RO_OBJ(old));
    }
    return o;
}

ro_object *ro_str_shared_word(ro_state *rt, uint64_t word, const char *data, size_t nbytes)
{
    if (RO_UNLIKELY(nbytes - 1 >= 8))   /* not 1..8 bytes: no word of them */
        return ro_str_shared_utf8(rt, data, nbytes);
    ro_strcache_slot *slot = &rt->str_cache[strcache_slot_word(word, nbytes)];
    if (slot->s != NULL && slot->word == word && slot->nbytes == nbytes) {
        ro_incref(RO_OBJ(slot->s));
        return RO_OBJ(slot->s);
    }
    return strcache_fill(rt, slot, word, data, nbytes);
}

ro_object *ro_str_shared_utf8(ro_state *rt, const char *data, size_t nbytes)
{
    if (nbytes == 0 || nbytes > RO_STRCACHE_MAX)
        return ro_str_from_valid_utf8(rt, data, nbytes);
    if (nbytes <= 8)
        return ro_str_shared_word(rt, text_word(data, nbytes), data, nbytes);
    ro_strcache_slot *slot = &rt->str_cache[strcache_slot_long(data, nbytes)];
    ro_str *c = slot->s;
    if (c != NULL && slot->nbytes == nbytes && ro_text_eq(c->s_data, data, nbytes)) {
        ro_incref(RO_OBJ(c));
        return RO_OBJ(c);
    }
    return strcache_fill(rt, slot, 0, data, nbytes);
}

size_t ro_strcache_clear(ro_state *rt)
{
    size_t n = 0;
    for (unsigned i = 0; i < RO_STRCACHE_SLOTS; i++) {
        ro_str *c = rt->str_cache[i].s;
        if (c != NULL) {
            rt->str_cache[i].s = NULL;
            c->s_state &= ~RO_STR_CACHED;
            ro_decref(rt, RO_OBJ(c));
            n++;
        }
    }
    return n;
}

ro_object *ro_str_from_cstr(ro_state *rt, const char *s)
{
    return ro_str_from_utf8(rt, s, strlen(s));
}

ro_object *ro_str_from_format(ro_state *rt, const char *fmt, ...)
{
    ro_sbuf b = {0};
    va_list ap;
    va_start(ap, fmt);
    int r = ro_sbuf_vappendf(rt, &b, fmt, ap);
    va_end(ap);
    ro_object *s = r == 0 ? ro_str_from_utf8(rt, b.data, b.len) : NULL;
    ro_sbuf_free(&b);
    return s;
}

ro_object *ro_str_concat(ro_state *rt, ro_object *a, ro_object *b)
{
    if (!ro_is_kind(a, RO_K_STR) || !ro_is_kind(b, RO_K_STR)) {
        ro_err_set(rt, RO_E_TYPE, "can only concatenate str to str");
        return NULL;
    }
    size_t na = RO_SIZE(a), nb = RO_SIZE(b);
    ro_str *s = str_alloc(rt, na + nb);
    if (s == NULL)
        return NULL;
    memcpy(s->s_data, ro_str_utf8(a), na);
    memcpy(s->s_data + na, ro_str_utf8(b), nb);
    s->s_len = ro_str_len(a) + ro_str_len(b);
    s->s_state = ((ro_str *)a)->s_state & ((ro_str *)b)->s_state & (RO_STR_ASCII | RO_STR_NOESC);
    return RO_OBJ(s);
}

int ro_str_compare(const ro_object *a, const ro_object *b)
{
    /* By the first bytes when they differ (most pairs of short texts: tags,
     * types, keys) without a call to memcmp; a str's text ends in a NUL,
     * so an empty one has a first byte too, below any other. */
    unsigned char x = (unsigned char)ro_str_utf8(a)[0], y = (unsigned char)ro_str_utf8(b)[0];
    if (x != y)
        return x < y ? -1 : 1;
    size_t na = RO_SIZE(a), nb = RO_SIZE(b);
    int c = memcmp(ro_str_utf8(a), ro_str_utf8(b), na < nb ? na : nb);
    if (c != 0)
        return c;
    return na < nb ? -1 : na > nb;
}

static void str_dealloc(ro_state *rt, ro_object *o)
{
    ro_mem_free(rt, o, STR_HEAD + RO_SIZE(o) + 1);
}

static int str_hash(ro_state *rt, ro_object *o, uint64_t *out)
{
    ro_str *s = (ro_str *)o;
    if (!(s->s_state & RO_STR_HASHED)) {
        s->s_hash = ro_hash_bytes(rt, s->s_data, RO_SIZE(o));
        s->s_state |= RO_STR_HASHED;
    }
    *out = s->s_hash;
    return 0;
}

static int str_eq(ro_state *rt, ro_object *a, ro_object *b)
{
    (void)rt;
    ro_str *x = (ro_str *)a, *y = (ro_str *)b;
    if ((x->s_state & y->s_state & (RO_STR_INTERNED | RO_STR_CACHED)) != 0)
        return 0;                       /* distinct interned (or cached) strings differ */
    if (RO_SIZE(a) != RO_SIZE(b))
        return 0;
    if ((x->s_state & y->s_state & RO_STR_HASHED) && x->s_hash != y->s_hash)
        return 0;
    return ro_text_eq(x->s_data, y->s_data, RO_SIZE(a));
}

int ro_repr_str_into(ro_state *rt, const ro_object *o, ro_sbuf *b)
{
    const char *s = ro_str_utf8(o);
    size_t n = RO_SIZE(o);
    if (ro_sbuf_append(rt, b, "'", 1) != 0)
        return -1;
    size_t run = 0;   /* start of the pending run copied verbatim */
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        const char *esc = NULL;
        char hex[5];
        if (c == '\'' || c == '\\' || c < 0x20 || c == 0x7f) {
            switch (c) {
            case '\'': esc = "\\'"; break;
            case '\\': esc = "\\\\"; break;
            case '\n': esc = "\\n"; break;
            case '\r': esc = "\\r"; break;
            case '\t': esc = "\\t"; break;
            default:
                snprintf(hex, sizeof hex, "\\x%02x", c);
                esc = hex;
            }
            if (ro_sbuf_append(rt, b, s + run, i - run) != 0 ||
                ro_sbuf_append(rt, b, esc, strlen(esc)) != 0)
                return -1;
            run = i + 1;
        }
    }
    if (ro_sbuf_append(rt, b, s + run, n - run) != 0)
        return -1;
    return ro_sbuf_append(rt, b, "'", 1);
}

static int str_repr(ro_state *rt, ro_object *o, ro_sbuf *b)
{
    return ro_repr_str_into(rt, o, b);
}

void ro_type_init_str(ro_state *rt, ro_type *t)
{
    ro_type_init_common(rt, t, RO_K_STR, "str", STR_HEAD + 1, 1, RO_TPFLAG_VAR);
    t->tp_dealloc = str_dealloc;
    t->tp_hash = str_hash;
    t->tp_eq = str_eq;
    t->tp_repr = str_repr;
}
