//===- GGUF.h - GGUF container reader and writer ----------------------------===//
//
// Reads and writes GGUF files (versions 2 and 3; little-endian only), the
// container llama.cpp uses for models. Layout:
//
//   "GGUF" u32 version  u64 n_tensors  u64 n_kv
//   n_kv      x { string key, u32 value_type, value }
//   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
//   padding up to general.alignment (default 32)
//   tensor data; each tensor's offset is relative to the start of this region
//   and a multiple of the alignment.
//
// where string = u64 length + bytes (no terminator) and an array value is
// u32 element_type + u64 count + count elements. `ne` lists dimensions innermost
// first (ne[0] is the contiguous one).
//
// The reader never trusts a count or offset: every length is checked against the
// bytes that remain before anything is allocated, every product and sum is checked
// for overflow, and every tensor must lie inside the file, aligned, without
// overlapping another. Each problem is reported as one llvm::Error line:
//
//   <file>: <what> '<key or tensor>' at byte <offset>: <problem>
//   <file>: <what> at byte <offset>: <problem>          (when there is no name)
//
// where <what> is "header", "metadata key", "metadata key #N" (key not yet read),
// "tensor", or "tensor info #N" (name not yet read), and <offset> is where that
// header field, key/value pair or tensor info begins in the file.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_FRONTENDS_GGUF_GGUF_H
#define MILM_FRONTENDS_GGUF_GGUF_H

#include "common/milm/StorageFormat.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace milm {
namespace gguf {

/// GGUF metadata value types, with GGUF's numbering.
enum class ValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

/// "uint32", "string", "array", ...; "type N" for numbers GGUF does not define.
std::string valueTypeName(ValueType t);
bool isKnownValueType(uint32_t t);
/// Encoded size of one scalar of type `t`; 0 for STRING and ARRAY (variable).
uint64_t scalarSize(ValueType t);
bool isUnsignedIntType(ValueType t); ///< UINT8/16/32/64
bool isSignedIntType(ValueType t);   ///< INT8/16/32/64
bool isFloatType(ValueType t);       ///< FLOAT32/64

/// One metadata value. Scalars live in `u` (unsigned integers and BOOL as 0/1),
/// `i` (signed integers), `f` (FLOAT32/64) or `str` (STRING). Arrays (type ARRAY)
/// have an element type `elemType` and their elements in exactly one of
/// `uints` (unsigned integer and BOOL elements), `ints`, `floats` or `strings`.
/// Arrays of arrays are not supported (the reader rejects them).
struct Value {
  ValueType type = ValueType::UINT8;
  ValueType elemType = ValueType::UINT8; ///< meaningful when type == ARRAY
  uint64_t offset = 0; ///< byte offset where the key/value pair began (reader only)

  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  std::string str;

  std::vector<uint64_t> uints;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;

  bool isArray() const { return type == ValueType::ARRAY; }
  /// Number of elements of an array; 0 for scalars.
  uint64_t arraySize() const;
  /// A short rendering for diagnostics and dumps: `uint32 7`, `string "llama"`,
  /// `array<float32>[512]`.
  std::string describe() const;

  // Factories. The writer checks that the value fits the declared type.
  static Value ofUInt(ValueType t, uint64_t v); ///< t: UINT8/16/32/64
  static Value ofInt(ValueType t, int64_t v);   ///< t: INT8/16/32/64
  static Value ofFloat(ValueType t, double v);  ///< t: FLOAT32/64
  static Value ofBool(bool v);
  static Value ofString(std::string v);
  static Value ofUIntArray(ValueType elem, std::vector<uint64_t> v);
  static Value ofIntArray(ValueType elem, std::vector<int64_t> v);
  static Value ofFloatArray(ValueType elem, std::vector<double> v);
  static Value ofBoolArray(const std::vector<bool> &v);
  static Value ofStringArray(std::vector<std::string> v);

  /// Same type and contents; `offset` is ignored.
  bool sameContents(const Value &o) const;
};

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> ne; ///< GGUF order, innermost first; 1 to 4 entries, each >= 1
  StorageFormat format = StorageFormat::F32;
  uint64_t relOffset = 0;  ///< offset inside the data region, as stored in the file
  uint64_t fileOffset = 0; ///< absolute offset of the first byte in the file
  uint64_t nbytes = 0;     ///< bytes of the tensor's data
  uint64_t infoOffset = 0; ///< where this tensor's info record begins in the file

  /// Row-major shape, outermost first (reverse of `ne`).
  std::vector<int64_t> shape() const;
  uint64_t numElements() const;
};

/// File content made safe to quote in a one-line message: bytes outside
/// printable ASCII become \xNN (so do ' and \), and anything past `max` bytes
/// is cut and marked with "...".
std::string printable(llvm::StringRef s, size_t max = 60);

/// Builds the one-line error described at the top of this file. `name` may be
/// empty (then no quoted name is printed).
llvm::Error makeError(llvm::StringRef file, llvm::StringRef what,
                      llvm::StringRef name, uint64_t offset,
                      const llvm::Twine &problem);

/// A parsed GGUF file. The file stays memory-mapped for the lifetime of the
/// object; tensorData() points into it.
class GGUFFile {
public:
  /// Maps `path` and parses it.
  static llvm::Expected<std::unique_ptr<GGUFFile>> open(llvm::StringRef path);
  /// Parses a buffer; `displayName` is used in error messages.
  static llvm::Expected<std::unique_ptr<GGUFFile>>
  parse(std::unique_ptr<llvm::MemoryBuffer> buffer, llvm::StringRef displayName);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  /// Absolute offset of the tensor data region (aligned end of the tensor infos).
  uint64_t dataOffset() const { return dataOffset_; }
  /// Offset where the key/value section begins (24) and where the tensor infos begin.
  uint64_t metadataOffset() const { return 24; }
  uint64_t tensorInfoOffset() const { return tensorInfoOffset_; }
  uint64_t fileSize() const { return buffer_->getBufferSize(); }
  llvm::StringRef displayName() const { return name_; }

  // ---- metadata -------------------------------------------------------------
  /// Key/value pairs in file order.
  llvm::ArrayRef<KeyValue> metadata() const { return kvs_; }
  /// Keys in file order.
  std::vector<llvm::StringRef> keys() const;
  const Value *find(llvm::StringRef key) const;
  bool contains(llvm::StringRef key) const { return find(key) != nullptr; }

  /// Typed getters. Errors (missing key, wrong type, out of range) name the file,
  /// the key and the byte offset of its key/value pair (for a missing key: the
  /// start of the metadata section).
  ///   getUInt:  any integer type with a non-negative value
  ///   getInt:   any integer type whose value fits int64
  ///   getFloat: FLOAT32/FLOAT64 (integers are accepted and converted)
  ///   getBool:  BOOL
  llvm::Expected<uint64_t> getUInt(llvm::StringRef key) const;
  llvm::Expected<int64_t> getInt(llvm::StringRef key) const;
  llvm::Expected<double> getFloat(llvm::StringRef key) const;
  llvm::Expected<bool> getBool(llvm::StringRef key) const;
  llvm::Expected<llvm::StringRef> getString(llvm::StringRef key) const;
  /// Arrays: string elements; float elements (FLOAT32/64); integer elements of
  /// any integer type (and BOOL as 0/1), each fitting int64.
  llvm::Expected<llvm::ArrayRef<std::string>>
  getStringArray(llvm::StringRef key) const;
  llvm::Expected<std::vector<double>> getFloatArray(llvm::StringRef key) const;
  llvm::Expected<std::vector<int64_t>> getIntArray(llvm::StringRef key) const;

  /// Error about `key` (naming its offset, or the metadata start if absent).
  llvm::Error keyError(llvm::StringRef key, const llvm::Twine &problem) const;
  /// Error about a tensor (naming its info offset).
  llvm::Error tensorError(const TensorInfo &t, const llvm::Twine &problem) const;

  // ---- tensors --------------------------------------------------------------
  llvm::ArrayRef<TensorInfo> tensors() const { return tensors_; }
  const TensorInfo *findTensor(llvm::StringRef name) const;
  /// The tensor's bytes inside the mapped file.
  llvm::ArrayRef<uint8_t> tensorData(const TensorInfo &t) const;

  const llvm::MemoryBuffer &buffer() const { return *buffer_; }

private:
  GGUFFile() = default;
  friend class Parser;

  std::unique_ptr<llvm::MemoryBuffer> buffer_;
  std::string name_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t dataOffset_ = 0;
  uint64_t tensorInfoOffset_ = 0;
  std::vector<KeyValue> kvs_;
  llvm::StringMap<size_t> kvIndex_;
  std::vector<TensorInfo> tensors_;
  llvm::StringMap<size_t> tensorIndex_;
};

/// Where a tensor callback writes its bytes. write() may be called any number of
/// times; the total must equal expected() exactly.
class TensorSink {
public:
  TensorSink(llvm::raw_ostream &os, uint64_t expected)
      : os_(os), expected_(expected) {}
  /// Fails (without writing) when the bytes would exceed expected().
  llvm::Error write(llvm::ArrayRef<uint8_t> bytes);
  uint64_t written() const { return written_; }
  uint64_t expected() const { return expected_; }

private:
  llvm::raw_ostream &os_;
  uint64_t expected_;
  uint64_t written_ = 0;
};

/// Writes GGUF version 3. Metadata keys keep their insertion order (setting a key
/// again replaces its value in place); tensors are written in the order added, each
/// at the next multiple of the alignment. Tensor bytes are either copied at add
/// time, referenced (the caller keeps them alive until write() returns), or produced
/// by a callback during write(), so a multi-GB file can be streamed with bounded
/// memory: the writer itself only buffers what raw_fd_ostream buffers.
class GGUFWriter {
public:
  using TensorWriteFn = std::function<llvm::Error(TensorSink &)>;

  GGUFWriter() = default;

  /// Sets general.alignment (UINT32). Must be a power of two; checked at write().
  /// Without it (and without a general.alignment key) the alignment is 32.
  void setAlignment(uint32_t alignment);
  /// The alignment write() will use: general.alignment if set, else 32.
  uint64_t alignment() const;

  // ---- metadata -------------------------------------------------------------
  void set(llvm::StringRef key, Value v);
  void setUInt8(llvm::StringRef key, uint8_t v);
  void setInt8(llvm::StringRef key, int8_t v);
  void setUInt16(llvm::StringRef key, uint16_t v);
  void setInt16(llvm::StringRef key, int16_t v);
  void setUInt32(llvm::StringRef key, uint32_t v);
  void setInt32(llvm::StringRef key, int32_t v);
  void setUInt64(llvm::StringRef key, uint64_t v);
  void setInt64(llvm::StringRef key, int64_t v);
  void setFloat32(llvm::StringRef key, float v);
  void setFloat64(llvm::StringRef key, double v);
  void setBool(llvm::StringRef key, bool v);
  void setString(llvm::StringRef key, llvm::StringRef v);
  void setStringArray(llvm::StringRef key, llvm::ArrayRef<std::string> v);
  void setFloatArray(llvm::StringRef key, llvm::ArrayRef<float> v); ///< FLOAT32
  void setIntArray(llvm::StringRef key, llvm::ArrayRef<int32_t> v); ///< INT32
  bool remove(llvm::StringRef key);
  const Value *find(llvm::StringRef key) const;
  llvm::ArrayRef<KeyValue> metadata() const { return kvs_; }

  // ---- tensors --------------------------------------------------------------
  /// `ne` innermost first, as in GGUF. Problems (duplicate names, a row that is
  /// not a whole number of blocks, a byte count that does not match the shape)
  /// are reported by write().
  void addTensor(llvm::StringRef name, llvm::ArrayRef<uint64_t> ne,
                 StorageFormat format, llvm::ArrayRef<uint8_t> bytes); ///< copies
  void addTensorNoCopy(llvm::StringRef name, llvm::ArrayRef<uint64_t> ne,
                       StorageFormat format, llvm::ArrayRef<uint8_t> bytes);
  void addTensor(llvm::StringRef name, llvm::ArrayRef<uint64_t> ne,
                 StorageFormat format, TensorWriteFn writeFn);
  size_t numTensors() const { return tensors_.size(); }

  /// Writes to a temporary file in the directory of `path` and renames it over
  /// `path` only when everything succeeded; on failure nothing is left behind.
  llvm::Error write(llvm::StringRef path) const;
  /// Writes the whole file to a stream (tests, in-memory use).
  llvm::Error writeTo(llvm::raw_ostream &os) const;

private:
  struct PendingTensor {
    std::string name;
    std::vector<uint64_t> ne;
    StorageFormat format;
    std::vector<uint8_t> owned;     ///< copied bytes
    llvm::ArrayRef<uint8_t> bytes;  ///< points to `owned` or to caller memory
    TensorWriteFn writeFn;          ///< set for streamed tensors
  };
  llvm::Error validate(std::vector<uint64_t> &nbytes) const;

  std::vector<KeyValue> kvs_;
  std::vector<std::unique_ptr<PendingTensor>> tensors_;
};

} // namespace gguf
} // namespace milm

#endif
