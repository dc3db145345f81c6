//===- StorageFormat.h - The format table as C++ ---------------------------===//
//
// C++ view of common/milm/formats.h: the StorageFormat enum, each format's
// block facts and the packed layouts, all expanded from that one table and
// constexpr, header-only (no library to link), so that the dialect, the
// frontends, the compiler driver and the tests read the same definitions.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_COMMON_STORAGEFORMAT_H
#define MILM_COMMON_STORAGEFORMAT_H

#include "common/milm/formats.h"

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace milm {

/// Values are GGUF's ggml_type numbers; only the formats milm accepts are named.
enum class StorageFormat : uint32_t {
#define MILM_X(ID, id, name, code, elems, bytes, act) ID = code,
  MILM_STORAGE_FORMATS(MILM_X)
#undef MILM_X
};

/// What a format's products quantize the activations to.
enum class ActivationKind : uint8_t { F32, Q8_32, Q8_K };

struct StorageFormatInfo {
  StorageFormat format;
  std::string_view name;  ///< lower-case name used in IR and on the command line: "q4_0"
  uint32_t blockElems;    ///< values per block (1 for plain float formats)
  uint32_t blockBytes;    ///< bytes per block
  ActivationKind act;     ///< the activations its products read
};

/// Every accepted format, in the table's order.
constexpr StorageFormatInfo kStorageFormats[] = {
#define MILM_X(ID, id, name, code, elems, bytes, act)                                    \
  {StorageFormat::ID, name, elems, bytes, ActivationKind::act},
    MILM_STORAGE_FORMATS(MILM_X)
#undef MILM_X
};

inline const StorageFormatInfo *allStorageFormats(size_t &count) {
  count = sizeof(kStorageFormats) / sizeof(kStorageFormats[0]);
  return kStorageFormats;
}

/// Info for a format, or nullptr when `ggmlType` is not a format milm accepts.
constexpr const StorageFormatInfo *lookupStorageFormat(uint32_t ggmlType) {
  for (const StorageFormatInfo &f : kStorageFormats)
    if (static_cast<uint32_t>(f.format) == ggmlType)
      return &f;
  return nullptr;
}

/// Whether GGUF has this format (milm's own, from MILM_OWN_FORMAT_BASE on,
/// are never read from or written to a GGUF file).
constexpr bool isGGUFFormat(StorageFormat f) {
  return static_cast<uint32_t>(f) < MILM_OWN_FORMAT_BASE;
}

/// Info by name ("q4_k", case-insensitive), or nullptr.
inline const StorageFormatInfo *lookupStorageFormat(std::string_view name) {
  for (const StorageFormatInfo &f : kStorageFormats) {
    if (f.name.size() != name.size())
      continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i)
      same = std::tolower(static_cast<unsigned char>(name[i])) == f.name[i];
    if (same)
      return &f;
  }
  return nullptr;
}

constexpr const StorageFormatInfo &info(StorageFormat f) {
  return *lookupStorageFormat(static_cast<uint32_t>(f));
}

/// Bytes of a row of `elems` values; nullopt when `elems` is not a multiple of the
/// block size or the byte count overflows 64 bits.
inline std::optional<uint64_t> rowBytes(StorageFormat f, uint64_t elems) {
  const StorageFormatInfo &i = info(f);
  if (elems % i.blockElems != 0)
    return std::nullopt;
  uint64_t blocks = elems / i.blockElems;
  if (blocks != 0 && i.blockBytes > UINT64_MAX / blocks)
    return std::nullopt;
  return blocks * i.blockBytes;
}

/// Bytes of the quantized activations of one row of K values that a product
/// with weights in `f` reads (0 for float formats, which read f32).
constexpr uint64_t activationRowBytes(StorageFormat f, uint64_t K) {
  switch (info(f).act) {
  case ActivationKind::F32:
    return 0;
  case ActivationKind::Q8_32:
    return K / MILM_ACT_Q8_32_VALUES * MILM_ACT_Q8_32_BYTES;
  case ActivationKind::Q8_K:
    return K / MILM_ACT_Q8_K_VALUES * MILM_ACT_Q8_K_BYTES;
  }
  return 0;
}

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
// token) reads at least as fast as its base format's, and its many-token
// products are faster (docs/PERFORMANCE.md).
#define MILM_X(ID, id, name, code, base, group)                                          \
  constexpr PackedLayoutInfo kPacked##ID{code, name, StorageFormat::base, group};        \
  static_assert(code == (group == 32 ? 2 : 1) * MILM_PACKED_LAYOUT_BASE +                 \
                            static_cast<uint32_t>(StorageFormat::base),                     \
                "a packed layout's code is 0x100 (8 rows) or 0x200 (32 rows) + its base format's");
MILM_PACKED_LAYOUTS(MILM_X)
#undef MILM_X

/// Every packed layout.
constexpr PackedLayoutInfo kPackedLayouts[] = {
#define MILM_X(ID, id, name, code, base, group) kPacked##ID,
    MILM_PACKED_LAYOUTS(MILM_X)
#undef MILM_X
};

/// The packed layout with this code, or nullptr.
constexpr const PackedLayoutInfo *lookupPackedLayout(uint32_t code) {
  for (const PackedLayoutInfo &p : kPackedLayouts)
    if (p.code == code)
      return &p;
  return nullptr;
}

/// The packed layout of `base`'s bytes in groups of `rowGroup` rows (8: the
/// x86-64 kernels', 32: the Hexagon HVX kernels'), or nullptr when it has none.
constexpr const PackedLayoutInfo *packedLayoutFor(StorageFormat base, int64_t rowGroup = 8) {
  for (const PackedLayoutInfo &p : kPackedLayouts)
    if (p.base == base && static_cast<int64_t>(p.rowGroup) == rowGroup)
      return &p;
  return nullptr;
}

/// The packed layout called `name` ("q4_0x8"), or nullptr.
inline const PackedLayoutInfo *packedLayoutNamed(std::string_view name) {
  for (const PackedLayoutInfo &p : kPackedLayouts)
    if (name == p.name)
      return &p;
  return nullptr;
}

} // namespace milm

#endif // MILM_COMMON_STORAGEFORMAT_H
