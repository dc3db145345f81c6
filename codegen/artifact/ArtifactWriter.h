//===- ArtifactWriter.h - Writing model.milm (compiler side) ----*- C++ -*-===//
//
// milmc writes the model artifact with writeArtifact(): a FlatBuffers header
// (runtime/schema/model.fbs) followed by the weight section. The flow is
//
//   1. planWeightLayout(): pick each weight's offset in the weight section
//      (64-byte aligned), so the code generator can compile the offsets in;
//   2. computeModelHash(): the hash of the layout that both milm_model_descriptor.model_hash
//      (runtime/include/milm/model_abi.h) and the artifact carry;
//   3. writeArtifact(): stream every weight's bytes into place, checksumming them
//      on the way (milm64, runtime/include/milm/checksum.h).
//
// Weights are never held in memory as a whole: bytes are copied from their
// source files in chunks of a few MiB (bounded memory whatever the model size).
// The file is written to a temporary file next to the output and renamed into
// place, so a failure leaves an existing output untouched.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_CODEGEN_ARTIFACT_ARTIFACTWRITER_H
#define MILM_CODEGEN_ARTIFACT_ARTIFACTWRITER_H

#include "frontends/common/ModelDescription.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace milm {
namespace artifact {

/// The format version this writer produces (see runtime/schema/model.fbs).
constexpr uint16_t kFormatMajor = 1;
constexpr uint16_t kFormatMinor = 2; // 1.2: per-layer sizes in ModelConfig
/// Alignment of each weight within the weight section, and of the section in
/// the file.
constexpr uint64_t kWeightAlignment = 64;
constexpr uint64_t kSectionAlignment = 65536;

/// One contiguous run of bytes in a file.
struct FilePart {
  std::string file;
  uint64_t offset = 0;
  uint64_t size = 0;
};

/// Receives the bytes of a weight from a WeightProducer, in order, in chunks of
/// any size.
using ByteSink = llvm::function_ref<llvm::Error(llvm::ArrayRef<uint8_t>)>;
/// Produces a weight's bytes on demand (e.g. repacking a tensor block by block)
/// by calling the sink; it must emit exactly ArtifactWeight::size bytes.
using WeightProducer = std::function<llvm::Error(ByteSink)>;

/// A weight to write, and where its bytes come from: exactly one of `parts`,
/// `memory` or `producer` is set.
struct ArtifactWeight {
  std::string name;
  uint32_t format = 0;          ///< ggml_type number (StorageFormat), or >= 256: packed
  std::vector<int64_t> shape;   ///< row-major, outermost first
  uint64_t size = 0;            ///< bytes; format x shape for ggml formats
  uint64_t offset = 0;          ///< in the weight section (planWeightLayout)

  /// Bytes concatenated from these file ranges in order: one part for an
  /// ordinary tensor, one per expert for experts stacked from separate tensors.
  std::vector<FilePart> parts;
  /// Bytes already in memory; the caller keeps them alive until writeArtifact
  /// returns.
  llvm::ArrayRef<uint8_t> memory;
  WeightProducer producer;
  /// When set, the bytes from the source above pass through `repack` in units
  /// of `repackUnit` bytes (size must be a multiple) on their way to the file:
  /// e.g. q4_0 rows interleaved by 8 for the target's kernels. `repack` writes
  /// exactly in.size() bytes to out.
  uint64_t repackUnit = 0;
  std::function<void(llvm::ArrayRef<uint8_t> in, llvm::MutableArrayRef<uint8_t> out)> repack;

  /// Bytes from a TensorRef (its parts when it has any, else its own range).
  static ArtifactWeight fromTensorRef(const TensorRef &t, uint64_t offset);
};

struct ArtifactSpec {
  ModelConfig config;
  TokenizerData tokenizer;
  /// SentencePiece's "add a space before the text" (GGUF
  /// tokenizer.ggml.add_space_prefix); TokenizerData does not carry it.
  bool addSpacePrefix = true;
  std::string target;                                      ///< LLVM triple
  std::string producer = "milmc";
  std::vector<std::pair<std::string, std::string>> options;///< compile options
  uint64_t modelHash = 0;                                  ///< computeModelHash()
  std::vector<ArtifactWeight> weights;                     ///< any order
  /// The section's size; 0 means: the end of the last weight, rounded up to
  /// kWeightAlignment (what planWeightLayout returns as totalBytes).
  uint64_t weightsSize = 0;
  bool checksums = true;                                   ///< milm64 per tensor

  /// For tests of the loader only: write another format version.
  uint16_t formatMajor = kFormatMajor;
  uint16_t formatMinor = kFormatMinor;
};

struct WeightLayout {
  std::vector<uint64_t> offsets;  ///< one per input, in input order
  uint64_t totalBytes = 0;        ///< weight section size (multiple of the alignment)
};

/// Places the weights one after another in the given order, each at the next
/// multiple of `alignment` (a power of two, at least 64).
WeightLayout planWeightLayout(llvm::ArrayRef<std::pair<std::string, uint64_t>> weights,
                              uint64_t alignment = kWeightAlignment);

/// milm64 of the layout: config dimensions, then every weight sorted by offset
/// (name, format, shape, offset, size). The weights' bytes are not part of it, so
/// it can be computed before anything is read; the checksums cover the bytes.
uint64_t computeModelHash(const ArtifactSpec &spec);

/// Writes the artifact to `path` (through a temporary file and a rename).
/// Checks the spec first: unique non-empty names, 64-byte aligned offsets,
/// non-overlapping weights inside the section, sizes equal to format x shape
/// for ggml formats, exactly one byte source per weight, parts adding up to
/// the size. Errors are one line naming the file and the tensor.
llvm::Error writeArtifact(llvm::StringRef path, const ArtifactSpec &spec);

} // namespace artifact
} // namespace milm

#endif // MILM_CODEGEN_ARTIFACT_ARTIFACTWRITER_H
