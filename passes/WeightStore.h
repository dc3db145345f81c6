//===- WeightStore.h - Where passes put the weights they create -*- C++ -*-===//
//
// A pass that creates or rewrites a weight (quantization, rotation, pruning)
// writes the new bytes to a weight store and points the `milm.weight` op at
// them with `from "<store>" at <offset>`, exactly as a frontend points it at
// a GGUF or safetensors file. Everything downstream (the CPU lowering's
// milm.weights, the artifact writer) reads a weight by file, byte offset,
// storage format and shape, so it reads stored weights unchanged.
//
// The store is one append-only file:
//
//   bytes  0..7   magic "MILMSTOR"
//   bytes  8..11  format version, little-endian (kWeightStoreVersion)
//   bytes 12..15  entry alignment, little-endian (kWeightStoreAlignment)
//   bytes 16..63  zero
//   then the weights, each at an offset that is a multiple of 64, in the
//   byte layout of their storage format (GGUF's for the block formats).
//
// Entries are never moved or overwritten, so every reference handed out
// stays valid while the file exists; reopening a store appends after what is
// there. A file without the header (another program's, a model file given by
// mistake) or of another version is refused before anything is written.
//
// The driver decides where the store lives and hands the path to the passes
// (their `weight-store` option): `milmc compile` uses
// OUT/.milmc-staging-*/weights.milmstore, which is deleted with the staging
// folder once model.milm holds the weights; with milm-opt the user names it.
// One WeightStore writes a file at a time: passes that write weights run one
// after the other on the module, never in parallel on the same store.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_PASSES_WEIGHTSTORE_H
#define MILM_PASSES_WEIGHTSTORE_H

#include "dialects/milm/MilmDialect.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace milm {

inline constexpr char kWeightStoreMagic[8] = {'M', 'I', 'L', 'M', 'S', 'T', 'O', 'R'};
inline constexpr uint32_t kWeightStoreVersion = 1;
/// Header size and the alignment of every entry (the artifact's, for mmap).
inline constexpr uint64_t kWeightStoreAlignment = 64;

/// Where a weight's bytes are: what a `milm.weight` op says with
/// `from "<file>" at <offset> : <type>`.
struct WeightReference {
  std::string file;
  uint64_t offset = 0;
  mlir::milm::WeightType type;
};

class WeightStore {
public:
  /// Opens the store at `path`, creating it (with its header) when there is
  /// no file there. An existing file must be a weight store of this version.
  /// Errors are one line that starts with `path`.
  static llvm::Expected<std::unique_ptr<WeightStore>> open(llvm::StringRef path);

  ~WeightStore();
  WeightStore(const WeightStore &) = delete;
  WeightStore &operator=(const WeightStore &) = delete;

  /// Appends `bytes`, a weight of `type` in its storage format, at the next
  /// 64-byte boundary and returns the reference to it. `bytes` must be
  /// exactly `type.getSizeInBytes()` long. A failed write (disk full, file
  /// size limit) is an error; the reference is then not handed out, and a
  /// later append starts past the partial bytes.
  llvm::Expected<WeightReference> append(mlir::milm::WeightType type,
                                         llvm::ArrayRef<uint8_t> bytes);

  /// The path as given to open(), which is what references name.
  llvm::StringRef path() const { return path_; }
  /// Where the next entry would start.
  uint64_t end() const { return end_; }

private:
  WeightStore(std::string path, llvm::sys::fs::file_t fd, uint64_t end)
      : path_(std::move(path)), fd_(fd), end_(end) {}

  std::string path_;
  llvm::sys::fs::file_t fd_;
  uint64_t end_;
};

/// Points `op` at `ref`: its file, offset and type (the result's users must
/// accept the new type; the milm ops take a weight of any storage format).
/// Drops a stacked weight's part files and offsets.
void setWeightReference(mlir::milm::WeightOp op, const WeightReference &ref);

/// Reads the bytes `op` references, from its file (GGUF, safetensors or a
/// weight store) or from its stacked parts: `op.getType().getSizeInBytes()`
/// bytes. A weight without a file, a file too short or unreadable is a
/// one-line error naming the weight and the file.
llvm::Expected<std::vector<uint8_t>> readWeightBytes(mlir::milm::WeightOp op);

/// readWeightBytes, decoded to f32 from the weight's storage format, row by
/// row (rows of the last dimension): getNumElements() values.
llvm::Expected<std::vector<float>> readWeightValues(mlir::milm::WeightOp op);

} // namespace milm

#endif
