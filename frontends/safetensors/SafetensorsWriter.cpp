//===- SafetensorsWriter.cpp - Writing .safetensors files -----------------===//

#include "frontends/common/OneLineError.h"
#include "frontends/safetensors/SafetensorsFile.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

namespace milm {

namespace {

llvm::Error fail(const llvm::Twine &msg) { return oneLineError(msg); }

const char *dtypeName(StorageFormat f) {
  switch (f) {
  case StorageFormat::F32:
    return "F32";
  case StorageFormat::F16:
    return "F16";
  case StorageFormat::BF16:
    return "BF16";
  default:
    return nullptr;
  }
}

/// Creates a temporary file next to `path`, lets `write` fill it, and renames it
/// to `path`; on any failure the temporary file is removed and `path` untouched.
llvm::Error writeThroughTemp(llvm::StringRef path,
                             llvm::function_ref<void(llvm::raw_ostream &)> write) {
  llvm::Expected<llvm::sys::fs::TempFile> tmp =
      llvm::sys::fs::TempFile::create(path + ".tmp-%%%%%%%%");
  if (!tmp)
    return fail(path + ": cannot create a temporary file: " + llvm::toString(tmp.takeError()));
  std::error_code ec;
  {
    llvm::raw_fd_ostream os(tmp->FD, /*shouldClose=*/false);
    write(os);
    os.flush();
    ec = os.error();
    os.clear_error();
  }
  if (ec) {
    llvm::consumeError(tmp->discard());
    return fail(path + ": cannot write: " + ec.message());
  }
  if (llvm::Error e = tmp->keep(path)) {
    std::string msg = llvm::toString(std::move(e));
    llvm::consumeError(tmp->discard());
    return fail(path + ": cannot rename the temporary file into place: " + msg);
  }
  return llvm::Error::success();
}

} // namespace

llvm::Error writeFileAtomically(llvm::StringRef path, llvm::StringRef contents) {
  return writeThroughTemp(path, [&](llvm::raw_ostream &os) { os << contents; });
}

llvm::Error writeSafetensors(llvm::StringRef path, llvm::ArrayRef<SafetensorsWriteTensor> tensors,
                             const std::map<std::string, std::string> &metadata) {
  for (const auto &[k, v] : metadata)
    if (!llvm::json::isUTF8(k) || !llvm::json::isUTF8(v))
      return fail(path + ": key '__metadata__': metadata must be UTF-8 text");
  llvm::StringSet<> names;
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  uint64_t at = 0;
  for (const SafetensorsWriteTensor &t : tensors) {
    auto bad = [&](const llvm::Twine &msg) {
      return fail(path + ": tensor '" + t.name + "': " + msg);
    };
    if (t.name.empty() || t.name == "__metadata__" || !llvm::json::isUTF8(t.name))
      return bad("is not a valid tensor name");
    if (!names.insert(t.name).second)
      return bad("written twice");
    const char *dtype = dtypeName(t.format);
    if (!dtype) {
      const StorageFormatInfo *fi = lookupStorageFormat(static_cast<uint32_t>(t.format));
      return bad("format " + (fi ? std::string(fi->name) : std::string("unknown")) +
                 " cannot be written to safetensors (F32, F16, BF16 only)");
    }
    uint64_t need = safetensorsDTypeSize(dtype);
    for (int64_t d : t.shape)
      if (d < 0 || __builtin_mul_overflow(need, static_cast<uint64_t>(d), &need))
        return bad("invalid shape");
    if (need != t.bytes.size())
      return bad("shape needs " + llvm::Twine(need) + " bytes, given " +
                 llvm::Twine(t.bytes.size()));
    spans.push_back({at, at + need});
    at += need;
  }

  std::string header;
  {
    llvm::raw_string_ostream hs(header);
    llvm::json::OStream j(hs);
    j.object([&] {
      if (!metadata.empty())
        j.attributeObject("__metadata__", [&] {
          for (const auto &[k, v] : metadata)
            j.attribute(k, v);
        });
      for (size_t i = 0; i < tensors.size(); ++i) {
        const SafetensorsWriteTensor &t = tensors[i];
        j.attributeObject(t.name, [&] {
          j.attribute("dtype", dtypeName(t.format));
          j.attributeArray("shape", [&] {
            for (int64_t d : t.shape)
              j.value(d);
          });
          j.attributeArray("data_offsets", [&] {
            j.value(spans[i].first);
            j.value(spans[i].second);
          });
        });
      }
    });
  }
  while ((8 + header.size()) % 8 != 0)
    header.push_back(' ');

  return writeThroughTemp(path, [&](llvm::raw_ostream &os) {
    uint64_t n = header.size();
    char len[8];
    for (int i = 0; i < 8; ++i)
      len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    os.write(len, 8);
    os << header;
    for (const SafetensorsWriteTensor &t : tensors)
      os << t.bytes;
  });
}

} // namespace milm
