//===- checksum.h - milm64, the checksum of model.milm's tensors -*- C++ -*-===//
//
// milm64 is a 64-bit non-cryptographic hash built for speed on large buffers
// (several GB/s per core): it catches corrupted or truncated weights, not
// tampering. Both the compiler (codegen/artifact) and the runtime use this
// header, so the two cannot disagree.
//
// Definition (all words little-endian, all arithmetic modulo 2^64, rotl = rotate
// left):
//   constants  P1 = 0x9E3779B97F4A7C15, P2 = 0xC2B2AE3D27D4EB4F,
//              P3 = 0x165667B19E3779F9, P4 = 0xD6E8FEB86659FD93
//   mix(v, w)  = rotl(v + w * P2, 31) * P1
//   lanes      v0 = seed ^ P1, v1 = seed ^ P2, v2 = seed ^ P3, v3 = seed ^ P4
//   body       for each whole 32-byte stripe: vi = mix(vi, word i of the stripe)
//   fold       h = rotl(v0, 1) + rotl(v1, 7) + rotl(v2, 12) + rotl(v3, 18) + n * P3
//              (n: total length in bytes)
//   tail       for each whole 8-byte word w left: h = rotl(h ^ mix(0, w), 27) * P1 + P4
//              then, if r = n % 8 bytes are left, w = those bytes zero-extended:
//              h = rotl(h ^ (w * P2) ^ r, 23) * P1
//   finish     h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32
//
// The four lanes are independent multiply chains, so a core works on four words
// at a time. Milm64 (streaming) and milm64() (one shot) give the same value for
// any split of the input.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_RUNTIME_CHECKSUM_H
#define MILM_RUNTIME_CHECKSUM_H

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace milm {
namespace rt {

class Milm64 {
public:
  static constexpr uint64_t P1 = 0x9E3779B97F4A7C15ull;
  static constexpr uint64_t P2 = 0xC2B2AE3D27D4EB4Full;
  static constexpr uint64_t P3 = 0x165667B19E3779F9ull;
  static constexpr uint64_t P4 = 0xD6E8FEB86659FD93ull;

  explicit Milm64(uint64_t seed = 0)
      : v0_(seed ^ P1), v1_(seed ^ P2), v2_(seed ^ P3), v3_(seed ^ P4) {}

  void update(const void *data, size_t size) {
    const uint8_t *p = static_cast<const uint8_t *>(data);
    total_ += size;
    if (pending_ != 0) {
      size_t take = 32 - pending_;
      if (take > size)
        take = size;
      std::memcpy(buf_ + pending_, p, take);
      pending_ += take;
      p += take;
      size -= take;
      if (pending_ < 32)
        return;
      stripes(buf_, 1);
      pending_ = 0;
    }
    size_t whole = size / 32;
    stripes(p, whole);
    p += whole * 32;
    size -= whole * 32;
    std::memcpy(buf_, p, size);
    pending_ = size;
  }

  uint64_t digest() const {
    uint64_t h = rotl(v0_, 1) + rotl(v1_, 7) + rotl(v2_, 12) + rotl(v3_, 18) + total_ * P3;
    const uint8_t *p = buf_;
    size_t left = pending_;
    for (; left >= 8; left -= 8, p += 8)
      h = rotl(h ^ mix(0, load64(p)), 27) * P1 + P4;
    if (left != 0) {
      uint64_t w = 0;
      for (size_t i = 0; i < left; ++i)
        w |= uint64_t(p[i]) << (8 * i);
      h = rotl(h ^ (w * P2) ^ uint64_t(left), 23) * P1;
    }
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
  }

private:
  static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
  static uint64_t mix(uint64_t v, uint64_t w) { return rotl(v + w * P2, 31) * P1; }
  static uint64_t load64(const uint8_t *p) {
    uint64_t w;
    std::memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
  }
  void stripes(const uint8_t *p, size_t count) {
    uint64_t a = v0_, b = v1_, c = v2_, d = v3_;
    for (size_t i = 0; i < count; ++i, p += 32) {
      a = mix(a, load64(p));
      b = mix(b, load64(p + 8));
      c = mix(c, load64(p + 16));
      d = mix(d, load64(p + 24));
    }
    v0_ = a;
    v1_ = b;
    v2_ = c;
    v3_ = d;
  }

  uint64_t v0_, v1_, v2_, v3_;
  uint64_t total_ = 0;
  uint8_t buf_[32] = {};
  size_t pending_ = 0;
};

/// milm64 of one buffer.
inline uint64_t milm64(const void *data, size_t size, uint64_t seed = 0) {
  Milm64 h(seed);
  h.update(data, size);
  return h.digest();
}

} // namespace rt
} // namespace milm

#endif // MILM_RUNTIME_CHECKSUM_H
