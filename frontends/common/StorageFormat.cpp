#include "frontends/common/StorageFormat.h"

#include <cctype>

namespace milm {

static const StorageFormatInfo kFormats[] = {
    {StorageFormat::F32, "f32", 1, 4},
    {StorageFormat::F16, "f16", 1, 2},
    {StorageFormat::Q4_0, "q4_0", 32, 18},
    {StorageFormat::Q4_1, "q4_1", 32, 20},
    {StorageFormat::Q5_0, "q5_0", 32, 22},
    {StorageFormat::Q5_1, "q5_1", 32, 24},
    {StorageFormat::Q8_0, "q8_0", 32, 34},
    {StorageFormat::Q4_K, "q4_k", 256, 144},
    {StorageFormat::Q5_K, "q5_k", 256, 176},
    {StorageFormat::Q6_K, "q6_k", 256, 210},
    {StorageFormat::BF16, "bf16", 1, 2},
};

const StorageFormatInfo *allStorageFormats(size_t &count) {
  count = sizeof(kFormats) / sizeof(kFormats[0]);
  return kFormats;
}

const StorageFormatInfo *lookupStorageFormat(uint32_t ggmlType) {
  for (const auto &f : kFormats)
    if (static_cast<uint32_t>(f.format) == ggmlType)
      return &f;
  return nullptr;
}

const StorageFormatInfo *lookupStorageFormat(std::string_view name) {
  for (const auto &f : kFormats) {
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

std::optional<uint64_t> rowBytes(StorageFormat f, uint64_t elems) {
  const StorageFormatInfo &i = info(f);
  if (elems % i.blockElems != 0)
    return std::nullopt;
  uint64_t blocks = elems / i.blockElems;
  if (blocks != 0 && i.blockBytes > UINT64_MAX / blocks)
    return std::nullopt;
  return blocks * i.blockBytes;
}

} // namespace milm
