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
// any split of the input. The arithmetic is milm64.h's, plain C, which the
// freestanding Hexagon runtime uses too.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_RUNTIME_CHECKSUM_H
#define MILM_RUNTIME_CHECKSUM_H

#include "milm/milm64.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace milm {
namespace rt {

class Milm64 {
public:
  static constexpr uint64_t P1 = MILM64_P1;
  static constexpr uint64_t P2 = MILM64_P2;
  static constexpr uint64_t P3 = MILM64_P3;
  static constexpr uint64_t P4 = MILM64_P4;

  explicit Milm64(uint64_t seed = 0) { milm64_lanes(v_, seed); }

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
      milm64_stripes(v_, buf_, 1);
      pending_ = 0;
    }
    size_t whole = size / 32;
    milm64_stripes(v_, p, whole);
    p += whole * 32;
    size -= whole * 32;
    std::memcpy(buf_, p, size);
    pending_ = size;
  }

  uint64_t digest() const { return milm64_digest(v_, total_, buf_, pending_); }

private:
  uint64_t v_[4];
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
