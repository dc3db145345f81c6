/*===- milm64.h - milm64's arithmetic, for C and C++ ------------------------===*
 *
 * The one implementation of milm64 (the checksum of model.milm's tensors and
 * header; its definition is in checksum.h): plain C with <stdint.h> and
 * <stddef.h> only, so that the C++ runtime and compiler (checksum.h's
 * Milm64, milm64()) and the freestanding Hexagon runtime (runtime/hexagon)
 * compute it with the same code.
 *===----------------------------------------------------------------------===*/
#ifndef MILM_RUNTIME_MILM64_H
#define MILM_RUNTIME_MILM64_H

#include <stddef.h>
#include <stdint.h>

#define MILM64_P1 0x9E3779B97F4A7C15ull
#define MILM64_P2 0xC2B2AE3D27D4EB4Full
#define MILM64_P3 0x165667B19E3779F9ull
#define MILM64_P4 0xD6E8FEB86659FD93ull

static inline uint64_t milm64_rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t milm64_mix(uint64_t v, uint64_t w) {
  return milm64_rotl(v + w * MILM64_P2, 31) * MILM64_P1;
}
/* The little-endian 64-bit word at p. */
static inline uint64_t milm64_load64(const uint8_t *p) {
  uint64_t w;
  __builtin_memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  return w;
}

/* The four lanes of `seed`. */
static inline void milm64_lanes(uint64_t v[4], uint64_t seed) {
  v[0] = seed ^ MILM64_P1;
  v[1] = seed ^ MILM64_P2;
  v[2] = seed ^ MILM64_P3;
  v[3] = seed ^ MILM64_P4;
}

/* The body: `count` whole 32-byte stripes at p into the lanes. */
static inline void milm64_stripes(uint64_t v[4], const uint8_t *p, size_t count) {
  uint64_t a = v[0], b = v[1], c = v[2], d = v[3];
  for (size_t i = 0; i < count; ++i, p += 32) {
    a = milm64_mix(a, milm64_load64(p));
    b = milm64_mix(b, milm64_load64(p + 8));
    c = milm64_mix(c, milm64_load64(p + 16));
    d = milm64_mix(d, milm64_load64(p + 24));
  }
  v[0] = a;
  v[1] = b;
  v[2] = c;
  v[3] = d;
}

/* Fold, tail and finish: the lanes after the body, `total` bytes in all, the
 * `left` (< 32) bytes after the last stripe at `tail`. */
static inline uint64_t milm64_digest(const uint64_t v[4], uint64_t total, const uint8_t *tail,
                                     size_t left) {
  uint64_t h = milm64_rotl(v[0], 1) + milm64_rotl(v[1], 7) + milm64_rotl(v[2], 12) +
               milm64_rotl(v[3], 18) + total * MILM64_P3;
  for (; left >= 8; left -= 8, tail += 8)
    h = milm64_rotl(h ^ milm64_mix(0, milm64_load64(tail)), 27) * MILM64_P1 + MILM64_P4;
  if (left != 0) {
    uint64_t w = 0;
    for (size_t i = 0; i < left; ++i)
      w |= (uint64_t)tail[i] << (8 * i);
    h = milm64_rotl(h ^ (w * MILM64_P2) ^ (uint64_t)left, 23) * MILM64_P1;
  }
  h ^= h >> 33;
  h *= MILM64_P2;
  h ^= h >> 29;
  h *= MILM64_P3;
  h ^= h >> 32;
  return h;
}

/* milm64 of one buffer. */
static inline uint64_t milm64_of(const void *data, size_t size, uint64_t seed) {
  const uint8_t *p = (const uint8_t *)data;
  uint64_t v[4];
  milm64_lanes(v, seed);
  milm64_stripes(v, p, size / 32);
  return milm64_digest(v, size, p + size / 32 * 32, size % 32);
}

#endif /* MILM_RUNTIME_MILM64_H */
