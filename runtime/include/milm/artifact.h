//===- artifact.h - Mapping and checking model.milm --------------*- C++ -*-===//
//
// The runtime's loader for the artifact milmc writes (layout and schema in
// runtime/schema/model.fbs). open() maps the file read-only, or reads it into
// memory, and checks, in this order, stopping at the first problem:
//
//   1. the file: it opens, it is at least 12 bytes, its identifier is "MILM",
//      the header's size prefix fits in the file;
//   2. the format version (read before anything else of the header, so that a
//      newer file is told apart from a corrupt one): major version 1, any minor;
//   3. the header: FlatBuffers verification, the required tables present, its
//      checksum (format 1.1: every header byte, so a damaged tokenizer or
//      config is caught like a damaged weight), the checksum kind milm64;
//   4. the weight section: aligned, after the header, inside the file;
//   5. every tensor: a name, inside the section, 64-byte aligned, sorted and not
//      overlapping, size equal to format x shape for GGUF formats;
//   6. the tokenizer is built.
//
// checkAgainst() then compares the file with the compiled model
// (milm_model_desc, runtime/include/milm/model_abi.h): ABI version, target,
// model hash, weight section size and the dimensions. verifyChecksums()
// recomputes every tensor's milm64 (runtime/include/milm/checksum.h), on a
// thread pool when given one.
//
// Every error is one line that starts with the file's path as given to open(),
// for example:
//   model.milm: truncated: weight section ends at byte N but the file has M bytes
//   model.milm: format version 2.0 is newer than this runtime (1.x)
//   model.milm: tensor 'blk.0.attn_q.weight': checksum mismatch
//
//===----------------------------------------------------------------------===//
#ifndef MILM_RUNTIME_ARTIFACT_H
#define MILM_RUNTIME_ARTIFACT_H

#include "milm/model_abi.h"
#include "milm/model_generated.h"
#include "milm/tokenizer.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace milm {
namespace rt {

class ThreadPool;

/// Text from a model file made printable and one line: control characters,
/// quotes and backslashes as \xNN.
std::string printable(const char *s, size_t n);

/// The format major version this runtime reads, and the newest minor it knows.
constexpr uint16_t kArtifactMajor = 1;
constexpr uint16_t kArtifactMinor = 1;
/// Format 1.1 and later: right after the header's FlatBuffer, 8 bytes
/// "MILMHSUM" and the little-endian milm64 of the bytes before them (the size
/// prefix and the FlatBuffer: config, tokenizer, tensor table, checksums).
constexpr char kHeaderSumMagic[9] = "MILMHSUM";
constexpr uint64_t kHeaderSumBytes = 16;

/// Bytes per block and values per block of a GGUF storage format (ggml_type);
/// false for formats the runtime does not know.
bool ggmlFormatBlock(uint32_t format, uint64_t *blockElems, uint64_t *blockBytes);
/// "q4_0", "q4_0x8" (a packed layout), ...; nullptr for an unknown format.
const char *storageFormatName(uint32_t format);

class Artifact {
public:
  Artifact() = default;
  ~Artifact();
  Artifact(const Artifact &) = delete;
  Artifact &operator=(const Artifact &) = delete;

  /// Maps and checks the file (steps 1-5 above). On failure returns false and
  /// sets *error; the object is then closed. Step 6 does not fail open(): a
  /// tokenizer the runtime cannot build (say, an unsupported pre-tokenizer)
  /// leaves tokenizer() invalid and tokenizerError() set, and only what needs
  /// text fails; evaluating token ids still works.
  ///
  /// How the bytes get into memory: Map maps the file (its page-cache pages,
  /// shared, dropped and re-read under memory pressure); Read reads it into
  /// anonymous memory, 2 MiB aligned and advised for transparent huge pages.
  /// Decoding streams every weight once per token, and its products read
  /// anonymous memory 10-15% faster than the file's pages on the benchmark
  /// machine (docs/PERFORMANCE.md), at the cost of the copy (the page cache
  /// keeps the file too until the system needs the memory). Read maps a file
  /// that loadFor() says does not fit.
  enum class Load { Map, Read };
  /// What Read does: Read while the file takes at most 90% of `availableBytes`
  /// (0: unknown, Read), else Map, so that a model near the size of the free
  /// memory still runs (from the page cache) instead of failing to be copied.
  static Load loadFor(uint64_t fileBytes, uint64_t availableBytes);
  /// MemAvailable of /proc/meminfo in bytes; 0 where it cannot be read.
  static uint64_t availableMemory();
  bool open(const char *path, std::string *error, Load load = Load::Map);
  /// The same checks on an artifact already in memory (`milmc compile
  /// --embed-weights` links model.milm into the executable). The bytes are not
  /// copied (Load::Map, the bytes must then outlive the object) or copied into
  /// anonymous memory as open() reads a file (Load::Read); `name` starts error
  /// messages, as the path does for open(). `data` must be 64-byte aligned.
  bool openMemory(const uint8_t *data, uint64_t size, const char *name, std::string *error,
                  Load load = Load::Map);
  void close();
  bool isOpen() const { return base_ != nullptr; }

  /// Compares with the compiled model. On mismatch returns false and sets *error.
  bool checkAgainst(const milm_model_desc &desc, std::string *error) const;

  /// Recomputes every tensor's checksum (using `pool` when non-null). Returns
  /// false with *error naming the first tensor, in file order, that differs.
  /// Files written without checksums pass.
  bool verifyChecksums(ThreadPool *pool, std::string *error) const;

  const std::string &path() const { return path_; }
  uint64_t fileSize() const { return size_; }
  const fb::Model &header() const { return *header_; }
  uint16_t versionMajor() const { return major_; }
  uint16_t versionMinor() const { return minor_; }
  /// The weight section, read-only.
  const uint8_t *weights() const { return base_ + weightsOffset_; }
  uint64_t weightsSize() const { return weightsSize_; }
  uint64_t weightsOffset() const { return weightsOffset_; }
  const Tokenizer &tokenizer() const { return tokenizer_; }
  /// Why tokenizer() is invalid ("<path>: tokenizer: ..."), or "".
  const std::string &tokenizerError() const { return tokenizerError_; }
  bool addBos() const { return addBos_; }

private:
  bool fail(std::string *error, const std::string &msg);
  bool checkMapped(std::string *error);
  bool checkTensors(std::string *error);
  void buildTokenizer();

  std::string path_;
  const uint8_t *base_ = nullptr;
  uint64_t size_ = 0;
  /// The length of our mapping at base_ (the file's, or the memory it was
  /// read or copied into); 0 when the bytes are borrowed (openMemory, Map).
  size_t mapBytes_ = 0;
  const fb::Model *header_ = nullptr;
  uint16_t major_ = 0, minor_ = 0;
  uint64_t weightsOffset_ = 0, weightsSize_ = 0;
  Tokenizer tokenizer_;
  std::string tokenizerError_;
  bool addBos_ = false;
};

} // namespace rt
} // namespace milm

#endif // MILM_RUNTIME_ARTIFACT_H
