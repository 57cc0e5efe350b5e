/* hash.c - keyed string hashing (SipHash) and number hashing. */
#include "ro_internal.h"

#include <string.h>

/* SipHash (Aumasson and Bernstein), with c compression and d finalisation
 * rounds. The runtime uses SipHash-1-3 as CPython does: keyed with a random
 * per-runtime key so that crafted input keys cannot make dicts degenerate. */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                              \
    do {                                                                      \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);            \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                               \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                               \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);            \
    } while (0)

uint64_t ro_siphash(uint64_t k0, uint64_t k1, int crounds, int drounds, const void *data, size_t n)
{
    const uint8_t *p = data;
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull;
    uint64_t v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull;
    uint64_t v3 = k1 ^ 0x7465646279746573ull;
    size_t full = n & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = ro_load_le64(p + i);
        v3 ^= m;
        for (int r = 0; r < crounds; r++)
            SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)n << 56;
    for (size_t i = 0; i < (n & 7); i++)
        b |= (uint64_t)p[full + i] << (8 * i);
    v3 ^= b;
    for (int r = 0; r < crounds; r++)
        SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    for (int r = 0; r < drounds; r++)
        SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t ro_hash_bytes(const ro_state *rt, const void *data, size_t n)
{
    return ro_siphash(rt->hash_k0, rt->hash_k1, 1, 3, data, n);
}

/* Ints hash to their value: dict probing mixes in the high bits, and equal
 * numbers of different types (1, 1.0, True) must hash alike. */
uint64_t ro_hash_i64(int64_t v)
{
    return (uint64_t)v;
}

uint64_t ro_hash_double(double v)
{
    if (v >= -9223372036854775808.0 && v < 9223372036854775808.0) {
        int64_t i = (int64_t)v;
        if ((double)i == v)
            return ro_hash_i64(i);
    }
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    bits ^= bits >> 33;             /* splitmix-style finaliser */
    bits *= 0xff51afd7ed558ccdull;
    bits ^= bits >> 33;
    return bits;
}
