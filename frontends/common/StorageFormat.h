//===- StorageFormat.h - Weight storage formats shared by all stages -------===//
//
// The storage formats milm understands, with GGUF's numbering (ggml_type) so that
// GGUF tensor types map one to one. Block formats store `blockElems()` values in
// `blockBytes()` bytes with exactly GGUF's bit layout.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_FRONTENDS_COMMON_STORAGEFORMAT_H
#define MILM_FRONTENDS_COMMON_STORAGEFORMAT_H

#include <cstdint>
#include <optional>
#include <string_view>

namespace milm {

/// Values are GGUF's ggml_type numbers; only the formats milm accepts are named.
enum class StorageFormat : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  BF16 = 30,
};

struct StorageFormatInfo {
  StorageFormat format;
  std::string_view name;  ///< lower-case name used in IR and on the command line: "q4_0"
  uint32_t blockElems;    ///< values per block (1 for plain float formats)
  uint32_t blockBytes;    ///< bytes per block
};

/// Every accepted format, in enum order.
const StorageFormatInfo *allStorageFormats(size_t &count);
/// Info for a format, or nullptr when `ggmlType` is not a format milm accepts.
const StorageFormatInfo *lookupStorageFormat(uint32_t ggmlType);
/// Info by name ("q4_k", case-insensitive), or nullptr.
const StorageFormatInfo *lookupStorageFormat(std::string_view name);
inline const StorageFormatInfo &info(StorageFormat f) {
  return *lookupStorageFormat(static_cast<uint32_t>(f));
}

/// Bytes of a row of `elems` values; nullopt when `elems` is not a multiple of the
/// block size or the byte count overflows 64 bits.
std::optional<uint64_t> rowBytes(StorageFormat f, uint64_t elems);

/// milm's packed layouts (codes >= 0x100, only in compiled artifacts): the same
/// bytes as a GGUF format, rearranged for a target's kernels
/// (codegen/ukernels/include/milm_ukernels.h).
struct PackedLayoutInfo {
  uint32_t code;
  std::string_view name; ///< "q4_0x8"
  StorageFormat base;    ///< the format whose bytes it rearranges
  uint32_t rowGroup;     ///< rows rearranged together (the row count's divisor)
};
// Every layout's one-token product (decode, and the logits of a prompt's last
// token) reads at least as fast as its base format's (bench/ukernels/ukernels.sh
// --threads 2), and its T = 64 products are faster: a layout that were slower
// for one token would have to leave the weights only the logits read alone.
constexpr PackedLayoutInfo kPackedQ4_0x8{0x102, "q4_0x8", StorageFormat::Q4_0, 8};
constexpr PackedLayoutInfo kPackedQ8_0x8{0x108, "q8_0x8", StorageFormat::Q8_0, 8};
constexpr PackedLayoutInfo kPackedQ4_Kx8{0x10C, "q4_kx8", StorageFormat::Q4_K, 8};
constexpr PackedLayoutInfo kPackedQ6_Kx8{0x10E, "q6_kx8", StorageFormat::Q6_K, 8};
/// Every packed layout; a layout's code is 0x100 + its base format's ggml_type.
constexpr PackedLayoutInfo kPackedLayouts[] = {kPackedQ4_0x8, kPackedQ8_0x8, kPackedQ4_Kx8,
                                               kPackedQ6_Kx8};
/// The packed layout with this code, or nullptr.
inline const PackedLayoutInfo *lookupPackedLayout(uint32_t code) {
  for (const PackedLayoutInfo &p : kPackedLayouts)
    if (p.code == code)
      return &p;
  return nullptr;
}
/// The packed layout of `base`'s bytes, or nullptr when it has none.
inline const PackedLayoutInfo *packedLayoutFor(StorageFormat base) {
  for (const PackedLayoutInfo &p : kPackedLayouts)
    if (p.base == base)
      return &p;
  return nullptr;
}

} // namespace milm

#endif
