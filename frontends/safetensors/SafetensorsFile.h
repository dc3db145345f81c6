//===- SafetensorsFile.h - Reading and writing .safetensors files ----------===//
//
// A safetensors file is
//   u64 little-endian N | N bytes of JSON header | data section
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin,
// end]} with offsets relative to the start of the data section, plus an optional
// "__metadata__" object of string values.
//
// The reader trusts nothing: the header length must fit the file, the JSON is
// depth-bounded and free of duplicate keys, dtypes are F32, F16 or BF16 (others
// are named and rejected), shape product × dtype size must equal the offset span
// without overflow, spans lie in the data section and do not overlap. Every error
// is one line naming the file, the tensor or key, and a byte offset in the file;
// no allocation grows with a number read from the file, only with its size.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_FRONTENDS_SAFETENSORS_SAFETENSORSFILE_H
#define MILM_FRONTENDS_SAFETENSORS_SAFETENSORSFILE_H

#include "common/milm/StorageFormat.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace milm {

/// Largest header accepted (the reference implementation's limit).
constexpr uint64_t kMaxSafetensorsHeader = 100u << 20;

struct SafetensorsTensor {
  std::string name;
  std::string dtype; ///< as written: "F32", "F16", "BF16"
  StorageFormat format = StorageFormat::F32;
  std::vector<int64_t> shape; ///< row-major, as written
  uint64_t offset = 0;        ///< absolute file offset of the first byte
  uint64_t nbytes = 0;
  uint64_t headerOffset = 0; ///< file offset of the tensor's key in the header
};

class SafetensorsFile {
public:
  /// Memory-maps and parses `path`.
  static llvm::Expected<SafetensorsFile> open(llvm::StringRef path);
  /// Parses a whole file held in memory; `name` is used in messages. The
  /// SafetensorsFile refers to `contents`, which must outlive it.
  static llvm::Expected<SafetensorsFile> parse(llvm::StringRef name, llvm::StringRef contents);

  const std::string &path() const { return path_; }
  uint64_t fileSize() const { return contents_.size(); }
  /// Absolute offset of the data section (8 + header length).
  uint64_t dataStart() const { return dataStart_; }
  /// Tensors in the order of their data (ties by name).
  llvm::ArrayRef<SafetensorsTensor> tensors() const { return tensors_; }
  const SafetensorsTensor *find(llvm::StringRef name) const;
  const std::map<std::string, std::string> &metadata() const { return metadata_; }
  /// The tensor's bytes.
  llvm::StringRef bytes(const SafetensorsTensor &t) const {
    return contents_.substr(t.offset, t.nbytes);
  }

private:
  std::string path_;
  std::unique_ptr<llvm::MemoryBuffer> buffer_;
  llvm::StringRef contents_;
  uint64_t dataStart_ = 0;
  std::vector<SafetensorsTensor> tensors_;
  llvm::StringMap<size_t> index_;
  std::map<std::string, std::string> metadata_;
};

/// Element size of a safetensors dtype milm accepts ("F32" -> 4), or 0.
unsigned safetensorsDTypeSize(llvm::StringRef dtype);

/// A tensor to write: `bytes` must hold exactly product(shape) elements of `format`
/// (F32, F16 or BF16), little-endian.
struct SafetensorsWriteTensor {
  std::string name;
  StorageFormat format = StorageFormat::F32;
  std::vector<int64_t> shape;
  llvm::StringRef bytes;
};

/// Writes a safetensors file with the tensors' data in the given order and the
/// header padded with spaces so that the data section starts 8-byte aligned.
/// Writes a temporary file next to `path` and renames it: `path` is either the
/// complete new file or untouched.
llvm::Error writeSafetensors(llvm::StringRef path, llvm::ArrayRef<SafetensorsWriteTensor> tensors,
                             const std::map<std::string, std::string> &metadata = {});

/// Writes `contents` to `path` through a temporary file and a rename.
llvm::Error writeFileAtomically(llvm::StringRef path, llvm::StringRef contents);

} // namespace milm

#endif
