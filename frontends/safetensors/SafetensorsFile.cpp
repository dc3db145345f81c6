//===- SafetensorsFile.cpp - Reading .safetensors files -------------------===//

#include "frontends/safetensors/SafetensorsFile.h"
#include "frontends/common/ReadFile.h"
#include "frontends/common/OneLineError.h"
#include "frontends/safetensors/JsonDocument.h"

#include "llvm/Support/raw_ostream.h"

#include <algorithm>

namespace milm {

namespace {

llvm::Error fail(const llvm::Twine &msg) { return oneLineError(msg); }

std::string shapeString(llvm::ArrayRef<int64_t> shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i)
    os << (i ? ", " : "") << shape[i];
  os << ']';
  return s;
}

std::string spanString(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

/// Dtypes of the safetensors format that milm does not read.
bool isKnownUnsupportedDType(llvm::StringRef d) {
  static const char *const kKnown[] = {
      "BOOL", "U8",      "I8",      "U16",     "I16",  "U32",     "I32",     "U64", "I64",
      "F64",  "F8_E4M3", "F8_E5M2", "F8_E8M0", "E8M0", "F6_E2M3", "F6_E3M2", "F4",  "C64"};
  for (const char *k : kKnown)
    if (d == k)
      return true;
  return false;
}

} // namespace

unsigned safetensorsDTypeSize(llvm::StringRef dtype) {
  if (dtype == "F32")
    return 4;
  if (dtype == "F16" || dtype == "BF16")
    return 2;
  return 0;
}

const SafetensorsTensor *SafetensorsFile::find(llvm::StringRef name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

llvm::Expected<SafetensorsFile> SafetensorsFile::open(llvm::StringRef path) {
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> buf = readModelFile(path);
  if (!buf)
    return buf.takeError();
  llvm::StringRef contents = (*buf)->getBuffer();
  llvm::Expected<SafetensorsFile> file = parse(path, contents);
  if (!file)
    return file.takeError();
  file->buffer_ = std::move(*buf);
  return file;
}

llvm::Expected<SafetensorsFile> SafetensorsFile::parse(llvm::StringRef name,
                                                       llvm::StringRef contents) {
  SafetensorsFile f;
  f.path_ = name.str();
  f.contents_ = contents;
  const uint64_t size = contents.size();

  if (size < 8)
    return fail(name + ": header length at byte 0: the file has " + llvm::Twine(size) +
                " bytes, fewer than the 8 of the header length");
  uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i)
    headerLen = (headerLen << 8) | static_cast<uint8_t>(contents[i]);
  if (headerLen > size - 8)
    return fail(name + ": header length at byte 0: " + llvm::Twine(headerLen) +
                " bytes of header, but only " + llvm::Twine(size - 8) + " bytes follow the length");
  if (headerLen > kMaxSafetensorsHeader)
    return fail(name + ": header length at byte 0: " + llvm::Twine(headerLen) +
                " bytes exceeds the limit of " + llvm::Twine(kMaxSafetensorsHeader));
  if (headerLen < 2)
    return fail(name + ": header length at byte 0: " + llvm::Twine(headerLen) +
                " bytes cannot hold a JSON object");

  llvm::Expected<JsonDocument> doc = parseJsonDocument(name, contents.substr(8, headerLen), 8);
  if (!doc)
    return doc.takeError();
  const llvm::json::Object *root = doc->root.getAsObject();
  if (!root)
    return fail(name + ": header at byte 8: expected a JSON object, got " + previewJson(doc->root));

  f.dataStart_ = 8 + headerLen;
  const uint64_t dataSize = size - f.dataStart_;

  // Visit the entries in file order so that the first problem reported is the
  // first one in the file.
  std::vector<std::pair<uint64_t, const llvm::json::Object::value_type *>> entries;
  entries.reserve(root->size());
  for (const auto &kv : *root)
    entries.push_back({doc->offsetOf(kv.first, 8), &kv});
  std::sort(entries.begin(), entries.end(),
            [](const auto &a, const auto &b) { return a.first < b.first; });

  for (const auto &entry : entries) {
    const uint64_t keyAt = entry.first;
    const llvm::json::Object::value_type *kv = entry.second;
    llvm::StringRef key = kv->first;
    const llvm::json::Value &value = kv->second;

    if (key == "__metadata__") {
      const llvm::json::Object *meta = value.getAsObject();
      if (!meta)
        return fail(name + ": key '__metadata__' at byte " + llvm::Twine(keyAt) +
                    ": expected an object of strings, got " + previewJson(value));
      for (const auto &m : *meta) {
        std::optional<llvm::StringRef> s = m.second.getAsString();
        if (!s)
          return fail(name + ": key '__metadata__." + m.first.str() + "' at byte " +
                      llvm::Twine(doc->offsetOf(key, m.first, keyAt)) +
                      ": expected a string, got " + previewJson(m.second));
        f.metadata_[m.first.str()] = s->str();
      }
      continue;
    }

    auto bad = [&](llvm::StringRef field, const llvm::Twine &msg) {
      uint64_t at = field.empty() ? keyAt : doc->offsetOf(key, field, keyAt);
      return fail(name + ": tensor '" + key + "' at byte " + llvm::Twine(at) + ": " + msg);
    };
    const llvm::json::Object *obj = value.getAsObject();
    if (!obj)
      return bad("", "expected an object with dtype, shape and data_offsets, got " +
                         previewJson(value));

    SafetensorsTensor t;
    t.name = key.str();
    t.headerOffset = keyAt;

    // dtype
    const llvm::json::Value *dtype = obj->get("dtype");
    if (!dtype)
      return bad("", "missing \"dtype\"");
    std::optional<llvm::StringRef> dtypeStr = dtype->getAsString();
    if (!dtypeStr)
      return bad("dtype", "dtype is not a string: " + previewJson(*dtype));
    unsigned esize = safetensorsDTypeSize(*dtypeStr);
    if (esize == 0)
      return bad("dtype",
                 (isKnownUnsupportedDType(*dtypeStr) ? "unsupported dtype '" : "unknown dtype '") +
                     *dtypeStr + "' (milm reads F32, F16 and BF16)");
    t.dtype = dtypeStr->str();
    t.format = *dtypeStr == "F32"   ? StorageFormat::F32
               : *dtypeStr == "F16" ? StorageFormat::F16
                                    : StorageFormat::BF16;

    // shape
    const llvm::json::Value *shapeV = obj->get("shape");
    if (!shapeV)
      return bad("", "missing \"shape\"");
    const llvm::json::Array *shapeA = shapeV->getAsArray();
    if (!shapeA)
      return bad("shape", "shape is not an array: " + previewJson(*shapeV));
    for (const llvm::json::Value &d : *shapeA) {
      std::optional<uint64_t> u = d.getAsUINT64();
      if (!u || *u > static_cast<uint64_t>(INT64_MAX))
        return bad("shape",
                   "shape " + previewJson(*shapeV) +
                       " has a dimension that is not a non-negative integer: " + previewJson(d));
      t.shape.push_back(static_cast<int64_t>(*u));
    }

    // data_offsets
    const llvm::json::Value *offV = obj->get("data_offsets");
    if (!offV)
      return bad("", "missing \"data_offsets\"");
    const llvm::json::Array *offA = offV->getAsArray();
    std::optional<uint64_t> begin, end;
    if (offA && offA->size() == 2) {
      begin = (*offA)[0].getAsUINT64();
      end = (*offA)[1].getAsUINT64();
    }
    if (!begin || !end)
      return bad("data_offsets",
                 "data_offsets must be two non-negative integers, got " + previewJson(*offV));
    if (*begin > *end)
      return bad("data_offsets",
                 "data_offsets " + spanString(*begin, *end) + " begin after they end");
    if (*end > dataSize)
      return bad("data_offsets", "data_offsets " + spanString(*begin, *end) +
                                     " end past the data section, which holds " +
                                     llvm::Twine(dataSize) + " bytes (file bytes " +
                                     llvm::Twine(f.dataStart_) + ".." + llvm::Twine(size) + ")");

    uint64_t need = esize;
    bool overflow = false;
    for (int64_t d : t.shape)
      overflow = overflow || __builtin_mul_overflow(need, static_cast<uint64_t>(d), &need);
    if (overflow)
      return bad("shape", "shape " + shapeString(t.shape) + " of " + t.dtype +
                              " needs more than 2^64 bytes");
    if (need != *end - *begin)
      return bad("data_offsets", "shape " + shapeString(t.shape) + " of " + t.dtype + " needs " +
                                     llvm::Twine(need) + " bytes, but data_offsets " +
                                     spanString(*begin, *end) + " span " +
                                     llvm::Twine(*end - *begin));
    t.offset = f.dataStart_ + *begin;
    t.nbytes = need;
    f.tensors_.push_back(std::move(t));
  }

  std::sort(f.tensors_.begin(), f.tensors_.end(),
            [](const SafetensorsTensor &a, const SafetensorsTensor &b) {
              return a.offset != b.offset ? a.offset < b.offset : a.name < b.name;
            });
  // Spans sorted by begin overlap iff one begins before the furthest end so far.
  const SafetensorsTensor *furthest = nullptr;
  for (const SafetensorsTensor &t : f.tensors_) {
    if (t.nbytes == 0)
      continue;
    if (furthest && t.offset < furthest->offset + furthest->nbytes) {
      uint64_t ds = f.dataStart_;
      return fail(name + ": tensor '" + t.name + "' at byte " +
                  llvm::Twine(doc->offsetOf(t.name, "data_offsets", t.headerOffset)) +
                  ": data_offsets " + spanString(t.offset - ds, t.offset - ds + t.nbytes) +
                  " overlap those of tensor '" + furthest->name + "' " +
                  spanString(furthest->offset - ds, furthest->offset - ds + furthest->nbytes));
    }
    if (!furthest || t.offset + t.nbytes > furthest->offset + furthest->nbytes)
      furthest = &t;
  }
  for (size_t i = 0; i < f.tensors_.size(); ++i)
    f.index_.try_emplace(f.tensors_[i].name, i);
  return std::move(f);
}

} // namespace milm
