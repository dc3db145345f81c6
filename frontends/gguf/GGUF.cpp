//===- GGUF.cpp - GGUF container reader and writer --------------------------===//

#include "frontends/gguf/GGUF.h"
#include "frontends/common/ReadFile.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

using llvm::ArrayRef;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;
using llvm::Twine;

namespace milm {
namespace gguf {

//===----------------------------------------------------------------------===//
// Value types
//===----------------------------------------------------------------------===//

bool isKnownValueType(uint32_t t) { return t <= 12; }

std::string valueTypeName(ValueType t) {
  switch (t) {
  case ValueType::UINT8: return "uint8";
  case ValueType::INT8: return "int8";
  case ValueType::UINT16: return "uint16";
  case ValueType::INT16: return "int16";
  case ValueType::UINT32: return "uint32";
  case ValueType::INT32: return "int32";
  case ValueType::FLOAT32: return "float32";
  case ValueType::BOOL: return "bool";
  case ValueType::STRING: return "string";
  case ValueType::ARRAY: return "array";
  case ValueType::UINT64: return "uint64";
  case ValueType::INT64: return "int64";
  case ValueType::FLOAT64: return "float64";
  }
  return "type " + std::to_string(static_cast<uint32_t>(t));
}

uint64_t scalarSize(ValueType t) {
  switch (t) {
  case ValueType::UINT8:
  case ValueType::INT8:
  case ValueType::BOOL:
    return 1;
  case ValueType::UINT16:
  case ValueType::INT16:
    return 2;
  case ValueType::UINT32:
  case ValueType::INT32:
  case ValueType::FLOAT32:
    return 4;
  case ValueType::UINT64:
  case ValueType::INT64:
  case ValueType::FLOAT64:
    return 8;
  case ValueType::STRING:
  case ValueType::ARRAY:
    return 0;
  }
  return 0;
}

bool isUnsignedIntType(ValueType t) {
  return t == ValueType::UINT8 || t == ValueType::UINT16 ||
         t == ValueType::UINT32 || t == ValueType::UINT64;
}
bool isSignedIntType(ValueType t) {
  return t == ValueType::INT8 || t == ValueType::INT16 ||
         t == ValueType::INT32 || t == ValueType::INT64;
}
bool isFloatType(ValueType t) {
  return t == ValueType::FLOAT32 || t == ValueType::FLOAT64;
}

/// Names of ggml types milm does not accept, for clearer messages.
static const char *ggmlTypeName(uint32_t t) {
  switch (t) {
  case 9: return "q8_1";
  case 10: return "q2_k";
  case 11: return "q3_k";
  case 15: return "q8_k";
  case 16: return "iq2_xxs";
  case 17: return "iq2_xs";
  case 18: return "iq3_xxs";
  case 19: return "iq1_s";
  case 20: return "iq4_nl";
  case 21: return "iq3_s";
  case 22: return "iq2_s";
  case 23: return "iq4_xs";
  case 24: return "i8";
  case 25: return "i16";
  case 26: return "i32";
  case 27: return "i64";
  case 28: return "f64";
  case 29: return "iq1_m";
  case 34: return "tq1_0";
  case 35: return "tq2_0";
  default: return nullptr;
  }
}

//===----------------------------------------------------------------------===//
// Value
//===----------------------------------------------------------------------===//

uint64_t Value::arraySize() const {
  if (!isArray())
    return 0;
  if (elemType == ValueType::STRING)
    return strings.size();
  if (isFloatType(elemType))
    return floats.size();
  if (isSignedIntType(elemType))
    return ints.size();
  return uints.size();
}

static std::string quoted(StringRef s, size_t max = 60) {
  std::string out = "\"";
  for (size_t k = 0; k < s.size() && k < max; ++k) {
    unsigned char c = s[k];
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  if (s.size() > max)
    out += "...";
  out += '"';
  return out;
}

static std::string formatDouble(double d) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.9g", d);
  return buf;
}

std::string Value::describe() const {
  std::string t = valueTypeName(type);
  switch (type) {
  case ValueType::STRING:
    return t + " " + quoted(str);
  case ValueType::BOOL:
    return t + (u ? " true" : " false");
  case ValueType::FLOAT32:
  case ValueType::FLOAT64:
    return t + " " + formatDouble(f);
  case ValueType::ARRAY:
    return "array<" + valueTypeName(elemType) + ">[" +
           std::to_string(arraySize()) + "]";
  default:
    if (isSignedIntType(type))
      return t + " " + std::to_string(i);
    return t + " " + std::to_string(u);
  }
}

Value Value::ofUInt(ValueType t, uint64_t v) {
  Value r;
  r.type = t;
  r.u = v;
  return r;
}
Value Value::ofInt(ValueType t, int64_t v) {
  Value r;
  r.type = t;
  r.i = v;
  return r;
}
Value Value::ofFloat(ValueType t, double v) {
  Value r;
  r.type = t;
  r.f = v;
  return r;
}
Value Value::ofBool(bool v) {
  Value r;
  r.type = ValueType::BOOL;
  r.u = v ? 1 : 0;
  return r;
}
Value Value::ofString(std::string v) {
  Value r;
  r.type = ValueType::STRING;
  r.str = std::move(v);
  return r;
}
Value Value::ofUIntArray(ValueType elem, std::vector<uint64_t> v) {
  Value r;
  r.type = ValueType::ARRAY;
  r.elemType = elem;
  r.uints = std::move(v);
  return r;
}
Value Value::ofIntArray(ValueType elem, std::vector<int64_t> v) {
  Value r;
  r.type = ValueType::ARRAY;
  r.elemType = elem;
  r.ints = std::move(v);
  return r;
}
Value Value::ofFloatArray(ValueType elem, std::vector<double> v) {
  Value r;
  r.type = ValueType::ARRAY;
  r.elemType = elem;
  r.floats = std::move(v);
  return r;
}
Value Value::ofBoolArray(const std::vector<bool> &v) {
  Value r;
  r.type = ValueType::ARRAY;
  r.elemType = ValueType::BOOL;
  r.uints.assign(v.begin(), v.end());
  return r;
}
Value Value::ofStringArray(std::vector<std::string> v) {
  Value r;
  r.type = ValueType::ARRAY;
  r.elemType = ValueType::STRING;
  r.strings = std::move(v);
  return r;
}

static bool sameDouble(double a, double b) {
  if (std::isnan(a) || std::isnan(b))
    return std::isnan(a) && std::isnan(b);
  return a == b;
}

bool Value::sameContents(const Value &o) const {
  if (type != o.type)
    return false;
  switch (type) {
  case ValueType::STRING:
    return str == o.str;
  case ValueType::FLOAT32:
  case ValueType::FLOAT64:
    return sameDouble(f, o.f);
  case ValueType::ARRAY:
    if (elemType != o.elemType)
      return false;
    if (elemType == ValueType::STRING)
      return strings == o.strings;
    if (isFloatType(elemType))
      return floats.size() == o.floats.size() &&
             std::equal(floats.begin(), floats.end(), o.floats.begin(),
                        sameDouble);
    if (isSignedIntType(elemType))
      return ints == o.ints;
    return uints == o.uints;
  default:
    if (isSignedIntType(type))
      return i == o.i;
    return u == o.u;
  }
}

//===----------------------------------------------------------------------===//
// TensorInfo
//===----------------------------------------------------------------------===//

std::vector<int64_t> TensorInfo::shape() const {
  std::vector<int64_t> s;
  s.reserve(ne.size());
  for (auto it = ne.rbegin(); it != ne.rend(); ++it)
    s.push_back(static_cast<int64_t>(*it));
  return s;
}

uint64_t TensorInfo::numElements() const {
  uint64_t n = 1;
  for (uint64_t d : ne)
    n *= d; // the reader guarantees this does not overflow
  return n;
}

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

Error makeError(StringRef file, StringRef what, StringRef name, uint64_t offset,
                const Twine &problem) {
  std::string msg;
  llvm::raw_string_ostream os(msg);
  os << file << ": " << what;
  if (!name.empty())
    os << " '" << name << "'";
  os << " at byte " << offset << ": " << problem;
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

std::string printable(StringRef s, size_t max) {
  std::string out;
  for (size_t k = 0; k < s.size() && k < max; ++k) {
    unsigned char c = s[k];
    if (c < 0x20 || c >= 0x7f || c == '\'' || c == '\\') {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  if (s.size() > max)
    out += "...";
  return out;
}

/// Names from the file go into error messages verbatim unless they contain
/// bytes that would garble a terminal or are very long.
static std::string printableName(StringRef s) { return printable(s, 200); }

//===----------------------------------------------------------------------===//
// Parser
//===----------------------------------------------------------------------===//

static constexpr uint64_t kMaxKeyLength = 65535;
// Arrays hold their elements decoded (a uint8 becomes a uint64), so one array is
// capped well above any real vocabulary (a few hundred thousand entries): a count
// corrupted into the billions is rejected instead of decoding gigabytes of
// tensor data as metadata.
static constexpr uint64_t kMaxArrayElems = 1ull << 26;
// Reservations are capped too; vectors grow past them only as elements are
// actually read, so memory follows the bytes parsed, never a claimed count.
static constexpr uint64_t kMaxReserve = 4096;
// Smallest possible encodings (keys and names are never empty), used to bound
// counts before anything is allocated for them.
static constexpr uint64_t kMinKVBytes = 8 + 1 + 4 + 1; // key length, key, type, u8
static constexpr uint64_t kMinTensorInfoBytes =
    8 + 1 + 4 + 8 + 4 + 8; // name length, name, n_dims, ne[0], type, offset

class Parser {
public:
  Parser(GGUFFile &f)
      : f_(f), data_(reinterpret_cast<const uint8_t *>(
                   f.buffer_->getBufferStart())),
        size_(f.buffer_->getBufferSize()) {}

  Error run();

private:
  GGUFFile &f_;
  const uint8_t *data_;
  uint64_t size_;
  uint64_t pos_ = 0;

  // Context of the item being read, for error messages.
  std::string what_ = "header";
  std::string name_;
  uint64_t start_ = 0;

  void context(std::string what, StringRef name, uint64_t start) {
    what_ = std::move(what);
    name_ = printableName(name);
    start_ = start;
  }
  Error err(const Twine &problem) {
    return makeError(f_.name_, what_, name_, start_, problem);
  }
  uint64_t remaining() const { return size_ - pos_; }

  // `field` is a Twine so that labels are only rendered when there is an error.
  Error need(uint64_t n, const Twine &field) {
    if (n <= remaining())
      return Error::success();
    return err("unexpected end of file reading " + field + " at byte " +
               Twine(pos_) + ": needs " + Twine(n) + " bytes, " +
               Twine(remaining()) + " remain");
  }
  template <typename T> T take() {
    T v = llvm::support::endian::read<T, llvm::endianness::little>(data_ + pos_);
    pos_ += sizeof(T);
    return v;
  }
  template <typename T> Error read(T &out, const Twine &field) {
    if (Error e = need(sizeof(T), field))
      return e;
    out = take<T>();
    return Error::success();
  }
  Error readString(std::string &out, const Twine &field,
                   uint64_t maxLen = UINT64_MAX);
  Error readScalar(ValueType t, uint64_t &u, int64_t &i, double &d);
  Error readValue(Value &v);
  Error readHeader(uint64_t &nTensors, uint64_t &nKV);
  Error readTensorInfo(uint64_t index);
  Error checkTensorData();
};

Error Parser::readString(std::string &out, const Twine &field,
                         uint64_t maxLen) {
  uint64_t len;
  uint64_t at = pos_;
  if (Error e = read(len, field + " length"))
    return e;
  if (len > maxLen)
    return err(field + " length " + Twine(len) + " at byte " + Twine(at) +
               " exceeds the limit of " + Twine(maxLen) + " bytes");
  if (len > remaining())
    return err(field + " length " + Twine(len) + " at byte " + Twine(at) +
               " exceeds the " + Twine(remaining()) + " bytes that remain");
  out.assign(reinterpret_cast<const char *>(data_ + pos_), len);
  pos_ += len;
  return Error::success();
}

Error Parser::readScalar(ValueType t, uint64_t &u, int64_t &i, double &d) {
  if (scalarSize(t) > remaining())
    return need(scalarSize(t), valueTypeName(t) + " value");
  switch (t) {
  case ValueType::UINT8: u = take<uint8_t>(); break;
  case ValueType::UINT16: u = take<uint16_t>(); break;
  case ValueType::UINT32: u = take<uint32_t>(); break;
  case ValueType::UINT64: u = take<uint64_t>(); break;
  case ValueType::INT8: i = take<int8_t>(); break;
  case ValueType::INT16: i = take<int16_t>(); break;
  case ValueType::INT32: i = take<int32_t>(); break;
  case ValueType::INT64: i = take<int64_t>(); break;
  case ValueType::FLOAT32: {
    uint32_t bits = take<uint32_t>();
    float fl;
    std::memcpy(&fl, &bits, 4);
    d = fl;
    break;
  }
  case ValueType::FLOAT64: {
    uint64_t bits = take<uint64_t>();
    std::memcpy(&d, &bits, 8);
    break;
  }
  case ValueType::BOOL: {
    uint64_t at = pos_;
    uint8_t b = take<uint8_t>();
    if (b > 1)
      return err("bool value " + Twine(unsigned(b)) + " at byte " + Twine(at) +
                 " is neither 0 nor 1");
    u = b;
    break;
  }
  case ValueType::STRING:
  case ValueType::ARRAY:
    llvm_unreachable("not a scalar");
  }
  return Error::success();
}

Error Parser::readValue(Value &v) {
  uint32_t rawType;
  uint64_t typeAt = pos_;
  if (Error e = read(rawType, "value type"))
    return e;
  if (!isKnownValueType(rawType))
    return err("unknown value type " + Twine(rawType) + " at byte " +
               Twine(typeAt));
  v.type = static_cast<ValueType>(rawType);
  if (v.type == ValueType::STRING)
    return readString(v.str, "string");
  if (v.type != ValueType::ARRAY)
    return readScalar(v.type, v.u, v.i, v.f);

  uint32_t rawElem;
  uint64_t elemAt = pos_;
  if (Error e = read(rawElem, "array element type"))
    return e;
  if (!isKnownValueType(rawElem))
    return err("unknown array element type " + Twine(rawElem) + " at byte " +
               Twine(elemAt));
  v.elemType = static_cast<ValueType>(rawElem);
  if (v.elemType == ValueType::ARRAY)
    return err("nested arrays (array element type 'array' at byte " +
               Twine(elemAt) + ") are not supported");
  uint64_t count;
  uint64_t countAt = pos_;
  if (Error e = read(count, "array count"))
    return e;
  uint64_t minElem = v.elemType == ValueType::STRING ? 8 : scalarSize(v.elemType);
  if (count > remaining() / minElem)
    return err("array count " + Twine(count) + " at byte " + Twine(countAt) +
               " exceeds what the remaining " + Twine(remaining()) +
               " bytes can hold (at least " + Twine(minElem) + " bytes per " +
               valueTypeName(v.elemType) + " element)");
  if (count > kMaxArrayElems)
    return err("array count " + Twine(count) + " at byte " + Twine(countAt) +
               " exceeds the limit of " + Twine(kMaxArrayElems) + " elements");
  if (v.elemType == ValueType::STRING) {
    // Strings may fail part-way (a bad length), so grow as they are read.
    v.strings.reserve(std::min(count, kMaxReserve));
    for (uint64_t k = 0; k < count; ++k) {
      v.strings.emplace_back();
      if (Error e = readString(v.strings.back(), "string element " + Twine(k)))
        return e;
    }
    return Error::success();
  }
  // The bound above guarantees every fixed-size element is present, so the
  // reservation matches bytes that will really be read.
  auto decode = [&](auto tag, auto &out) {
    using T = decltype(tag);
    out.reserve(count);
    for (uint64_t k = 0; k < count; ++k)
      out.push_back(take<T>());
  };
  switch (v.elemType) {
  case ValueType::UINT8: decode(uint8_t(), v.uints); break;
  case ValueType::UINT16: decode(uint16_t(), v.uints); break;
  case ValueType::UINT32: decode(uint32_t(), v.uints); break;
  case ValueType::UINT64: decode(uint64_t(), v.uints); break;
  case ValueType::INT8: decode(int8_t(), v.ints); break;
  case ValueType::INT16: decode(int16_t(), v.ints); break;
  case ValueType::INT32: decode(int32_t(), v.ints); break;
  case ValueType::INT64: decode(int64_t(), v.ints); break;
  case ValueType::BOOL:
    v.uints.reserve(count);
    for (uint64_t k = 0; k < count; ++k) {
      uint64_t at = pos_;
      uint8_t b = take<uint8_t>();
      if (b > 1)
        return err("bool element " + Twine(k) + " value " + Twine(unsigned(b)) +
                   " at byte " + Twine(at) + " is neither 0 nor 1");
      v.uints.push_back(b);
    }
    break;
  case ValueType::FLOAT32:
    v.floats.reserve(count);
    for (uint64_t k = 0; k < count; ++k) {
      uint32_t bits = take<uint32_t>();
      float fl;
      std::memcpy(&fl, &bits, 4);
      v.floats.push_back(fl);
    }
    break;
  case ValueType::FLOAT64:
    v.floats.reserve(count);
    for (uint64_t k = 0; k < count; ++k) {
      uint64_t bits = take<uint64_t>();
      double d;
      std::memcpy(&d, &bits, 8);
      v.floats.push_back(d);
    }
    break;
  case ValueType::STRING:
  case ValueType::ARRAY:
    llvm_unreachable("handled above");
  }
  return Error::success();
}

Error Parser::readHeader(uint64_t &nTensors, uint64_t &nKV) {
  context("header", "", 0);
  if (Error e = need(4, "magic"))
    return e;
  if (std::memcmp(data_, "GGUF", 4) != 0) {
    std::string shown =
        quoted(StringRef(reinterpret_cast<const char *>(data_), 4));
    return err("bad magic " + shown + ", expected \"GGUF\"");
  }
  pos_ = 4;
  uint32_t version;
  context("header", "", 4);
  if (Error e = read(version, "version"))
    return e;
  if (version != 2 && version != 3) {
    if (version == 0x02000000 || version == 0x03000000)
      return err("big-endian GGUF (version " +
                 Twine(llvm::byteswap(version)) + ") is not supported");
    return err("unsupported GGUF version " + Twine(version) +
               " (supported: 2, 3)");
  }
  f_.version_ = version;
  context("header", "", 8);
  if (Error e = read(nTensors, "tensor count"))
    return e;
  context("header", "", 16);
  if (Error e = read(nKV, "metadata count"))
    return e;
  if (nKV > remaining() / kMinKVBytes)
    return err("metadata count " + Twine(nKV) + " exceeds what the remaining " +
               Twine(remaining()) + " bytes can hold (at least " +
               Twine(kMinKVBytes) + " bytes per key/value pair)");
  context("header", "", 8);
  if (nTensors > remaining() / kMinTensorInfoBytes)
    return err("tensor count " + Twine(nTensors) +
               " exceeds what the remaining " + Twine(remaining()) +
               " bytes can hold (at least " + Twine(kMinTensorInfoBytes) +
               " bytes per tensor info)");
  return Error::success();
}

Error Parser::readTensorInfo(uint64_t index) {
  uint64_t start = pos_;
  context("tensor info #" + std::to_string(index), "", start);
  TensorInfo t;
  t.infoOffset = start;
  if (Error e = readString(t.name, "name"))
    return e;
  if (t.name.empty())
    return err("empty tensor name");
  context("tensor", t.name, start);
  auto [it, inserted] = f_.tensorIndex_.try_emplace(t.name, f_.tensors_.size());
  if (!inserted)
    return err("duplicate tensor name (first defined at byte " +
               Twine(f_.tensors_[it->second].infoOffset) + ")");
  uint32_t nDims;
  uint64_t dimsAt = pos_;
  if (Error e = read(nDims, "n_dims"))
    return e;
  if (nDims < 1 || nDims > 4)
    return err("n_dims " + Twine(nDims) + " at byte " + Twine(dimsAt) +
               " is out of range (1 to 4)");
  uint64_t elems = 1;
  for (uint32_t d = 0; d < nDims; ++d) {
    uint64_t n;
    uint64_t at = pos_;
    if (Error e = read(n, "ne[" + Twine(d) + "]"))
      return e;
    if (n == 0)
      return err("ne[" + Twine(d) + "] at byte " + Twine(at) + " is 0");
    if (n > uint64_t(INT64_MAX) || elems > uint64_t(INT64_MAX) / n)
      return err("element count overflows: ne[" + Twine(d) + "] = " + Twine(n) +
                 " at byte " + Twine(at));
    elems *= n;
    t.ne.push_back(n);
  }
  uint32_t type;
  uint64_t typeAt = pos_;
  if (Error e = read(type, "tensor type"))
    return e;
  const StorageFormatInfo *fmt = lookupStorageFormat(type);
  if (fmt && !isGGUFFormat(fmt->format))
    return err("tensor type " + Twine(type) + " at byte " + Twine(typeAt) +
               " is milm's own " + fmt->name + ", which a GGUF file never holds");
  if (!fmt) {
    if (const char *n = ggmlTypeName(type))
      return err("tensor type " + Twine(type) + " (" + n + ") at byte " +
                 Twine(typeAt) + " is not supported");
    return err("unknown tensor type " + Twine(type) + " at byte " +
               Twine(typeAt));
  }
  t.format = fmt->format;
  if (Error e = read(t.relOffset, "data offset"))
    return e;
  if (t.ne[0] % fmt->blockElems != 0)
    return err("ne[0] = " + Twine(t.ne[0]) + " is not a multiple of the " +
               fmt->name + " block size " + Twine(fmt->blockElems));
  std::optional<uint64_t> row = rowBytes(t.format, t.ne[0]);
  uint64_t rows = elems / t.ne[0];
  if (!row || *row > UINT64_MAX / rows)
    return err("byte size overflows (" + Twine(rows) + " x " + Twine(t.ne[0]) +
               " " + fmt->name + " values)");
  t.nbytes = *row * rows;
  f_.tensors_.push_back(std::move(t));
  return Error::success();
}

Error Parser::checkTensorData() {
  uint64_t align = f_.alignment_;
  for (TensorInfo &t : f_.tensors_) {
    context("tensor", t.name, t.infoOffset);
    if (t.relOffset % align != 0)
      return err("data offset " + Twine(t.relOffset) +
                 " is not a multiple of the alignment " + Twine(align));
    if (t.relOffset > UINT64_MAX - f_.dataOffset_)
      return err("data offset " + Twine(t.relOffset) + " overflows");
    t.fileOffset = f_.dataOffset_ + t.relOffset;
    if (t.fileOffset > size_ || t.nbytes > size_ - t.fileOffset)
      return err("data [" + Twine(t.fileOffset) + ", " +
                 (t.nbytes > UINT64_MAX - t.fileOffset
                      ? Twine("overflow")
                      : Twine(t.fileOffset + t.nbytes)) +
                 ") extends past the end of the file (" + Twine(size_) +
                 " bytes)");
  }
  // Overlaps: sort by start; each tensor must begin at or after the end of the
  // previous one. Report the later of the two in file order.
  std::vector<size_t> order(f_.tensors_.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const TensorInfo &x = f_.tensors_[a], &y = f_.tensors_[b];
    return x.relOffset != y.relOffset ? x.relOffset < y.relOffset : a < b;
  });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo &a = f_.tensors_[order[k - 1]];
    const TensorInfo &b = f_.tensors_[order[k]];
    if (b.fileOffset < a.fileOffset + a.nbytes) {
      const TensorInfo &later = order[k - 1] > order[k] ? a : b;
      const TensorInfo &earlier = order[k - 1] > order[k] ? b : a;
      context("tensor", later.name, later.infoOffset);
      return err("data [" + Twine(later.fileOffset) + ", " +
                 Twine(later.fileOffset + later.nbytes) +
                 ") overlaps tensor '" + printableName(earlier.name) + "' [" +
                 Twine(earlier.fileOffset) + ", " +
                 Twine(earlier.fileOffset + earlier.nbytes) + ")");
    }
  }
  return Error::success();
}

Error Parser::run() {
  uint64_t nTensors, nKV;
  if (Error e = readHeader(nTensors, nKV))
    return e;

  f_.kvs_.reserve(std::min(nKV, kMaxReserve));
  for (uint64_t k = 0; k < nKV; ++k) {
    uint64_t start = pos_;
    context("metadata key #" + std::to_string(k), "", start);
    KeyValue kv;
    kv.value.offset = start;
    if (Error e = readString(kv.key, "key", kMaxKeyLength))
      return e;
    if (kv.key.empty())
      return err("empty key");
    context("metadata key", kv.key, start);
    auto [it, inserted] = f_.kvIndex_.try_emplace(kv.key, f_.kvs_.size());
    if (!inserted)
      return err("duplicate key (first defined at byte " +
                 Twine(f_.kvs_[it->second].value.offset) + ")");
    if (Error e = readValue(kv.value))
      return e;
    f_.kvs_.push_back(std::move(kv));
  }

  if (const Value *a = f_.find("general.alignment")) {
    context("metadata key", "general.alignment", a->offset);
    uint64_t align;
    if (isUnsignedIntType(a->type))
      align = a->u;
    else if (isSignedIntType(a->type) && a->i > 0)
      align = static_cast<uint64_t>(a->i);
    else if (isSignedIntType(a->type))
      return err("alignment " + Twine(a->i) + " is not a power of two");
    else
      return err("has type " + valueTypeName(a->type) +
                 ", expected an unsigned integer");
    if (!llvm::isPowerOf2_64(align))
      return err("alignment " + Twine(align) + " is not a power of two");
    f_.alignment_ = align;
  }

  f_.tensorInfoOffset_ = pos_;
  context("header", "", 8);
  if (nTensors > remaining() / kMinTensorInfoBytes)
    return err("tensor count " + Twine(nTensors) +
               " exceeds what the " + Twine(remaining()) +
               " bytes after the metadata can hold (at least " +
               Twine(kMinTensorInfoBytes) + " bytes per tensor info)");
  f_.tensors_.reserve(std::min(nTensors, kMaxReserve));
  for (uint64_t k = 0; k < nTensors; ++k)
    if (Error e = readTensorInfo(k))
      return e;

  uint64_t align = f_.alignment_;
  uint64_t pad = (align - pos_ % align) % align;
  if (pos_ > UINT64_MAX - pad) {
    context("metadata key", "general.alignment",
            f_.find("general.alignment")->offset);
    return err("aligning the data region to " + Twine(align) + " overflows");
  }
  f_.dataOffset_ = pos_ + pad;
  return checkTensorData();
}

//===----------------------------------------------------------------------===//
// GGUFFile
//===----------------------------------------------------------------------===//

Expected<std::unique_ptr<GGUFFile>> GGUFFile::open(StringRef path) {
  auto buf = readModelFile(path);
  if (!buf)
    return buf.takeError();
  return parse(std::move(*buf), path);
}

Expected<std::unique_ptr<GGUFFile>>
GGUFFile::parse(std::unique_ptr<llvm::MemoryBuffer> buffer,
                StringRef displayName) {
  std::unique_ptr<GGUFFile> f(new GGUFFile());
  f->buffer_ = std::move(buffer);
  f->name_ = displayName.str();
  Parser p(*f);
  if (Error e = p.run())
    return std::move(e);
  return std::move(f);
}

std::vector<StringRef> GGUFFile::keys() const {
  std::vector<StringRef> k;
  k.reserve(kvs_.size());
  for (const KeyValue &kv : kvs_)
    k.push_back(kv.key);
  return k;
}

const Value *GGUFFile::find(StringRef key) const {
  auto it = kvIndex_.find(key);
  return it == kvIndex_.end() ? nullptr : &kvs_[it->second].value;
}

Error GGUFFile::keyError(StringRef key, const Twine &problem) const {
  const Value *v = find(key);
  return makeError(name_, "metadata key", printableName(key),
                   v ? v->offset : metadataOffset(), problem);
}

Error GGUFFile::tensorError(const TensorInfo &t, const Twine &problem) const {
  return makeError(name_, "tensor", printableName(t.name), t.infoOffset,
                   problem);
}

static bool isIntType(ValueType t) {
  return isUnsignedIntType(t) || isSignedIntType(t);
}

Expected<uint64_t> GGUFFile::getUInt(StringRef key) const {
  const Value *v = find(key);
  if (!v)
    return keyError(key, "missing");
  if (isUnsignedIntType(v->type))
    return v->u;
  if (isSignedIntType(v->type)) {
    if (v->i < 0)
      return keyError(key, "value " + Twine(v->i) + " is negative");
    return static_cast<uint64_t>(v->i);
  }
  return keyError(key, "has type " + valueTypeName(v->type) +
                           ", expected an unsigned integer");
}

Expected<int64_t> GGUFFile::getInt(StringRef key) const {
  const Value *v = find(key);
  if (!v)
    return keyError(key, "missing");
  if (isSignedIntType(v->type))
    return v->i;
  if (isUnsignedIntType(v->type)) {
    if (v->u > uint64_t(INT64_MAX))
      return keyError(key, "value " + Twine(v->u) + " does not fit int64");
    return static_cast<int64_t>(v->u);
  }
  return keyError(key, "has type " + valueTypeName(v->type) +
                           ", expected an integer");
}

Expected<double> GGUFFile::getFloat(StringRef key) const {
  const Value *v = find(key);
  if (!v)
    return keyError(key, "missing");
  if (isFloatType(v->type))
    return v->f;
  if (isSignedIntType(v->type))
    return static_cast<double>(v->i);
  if (isUnsignedIntType(v->type))
    return static_cast<double>(v->u);
  return keyError(key, "has type " + valueTypeName(v->type) +
                           ", expected a float");
}

Expected<bool> GGUFFile::getBool(StringRef key) const {
  const Value *v = find(key);
  if (!v)
    return keyError(key, "missing");
  if (v->type == ValueType::BOOL)
    return v->u != 0;
  return keyError(key, "has type " + valueTypeName(v->type) +
                           ", expected bool");
}

Expected<StringRef> GGUFFile::getString(StringRef key) const {
  const Value *v = find(key);
  if (!v)
    return keyError(key, "missing");
  if (v->type == ValueType::STRING)
    return StringRef(v->str);
  return keyError(key, "has type " + valueTypeName(v->type) +
                           ", expected string");
}

static std::string typeOf(const Value &v) {
  if (v.isArray())
    return "array<" + valueTypeName(v.elemType) + ">";
  return valueTypeName(v.type);
}

Expected<ArrayRef<std::string>> GGUFFile::getStringArray(StringRef key) const {
  const Value *v = find(key);
  if (!v)
    return keyError(key, "missing");
  if (v->isArray() && v->elemType == ValueType::STRING)
    return ArrayRef<std::string>(v->strings);
  return keyError(key, "has type " + typeOf(*v) + ", expected array<string>");
}

Expected<std::vector<double>> GGUFFile::getFloatArray(StringRef key) const {
  const Value *v = find(key);
  if (!v)
    return keyError(key, "missing");
  if (v->isArray() && isFloatType(v->elemType))
    return v->floats;
  return keyError(key, "has type " + typeOf(*v) +
                           ", expected an array of float32 or float64");
}

Expected<std::vector<int64_t>> GGUFFile::getIntArray(StringRef key) const {
  const Value *v = find(key);
  if (!v)
    return keyError(key, "missing");
  if (!v->isArray() ||
      !(isIntType(v->elemType) || v->elemType == ValueType::BOOL))
    return keyError(key, "has type " + typeOf(*v) +
                             ", expected an array of integers");
  if (isSignedIntType(v->elemType))
    return v->ints;
  std::vector<int64_t> out;
  out.reserve(v->uints.size());
  for (size_t k = 0; k < v->uints.size(); ++k) {
    if (v->uints[k] > uint64_t(INT64_MAX))
      return keyError(key, "element " + Twine(k) + " (" + Twine(v->uints[k]) +
                               ") does not fit int64");
    out.push_back(static_cast<int64_t>(v->uints[k]));
  }
  return out;
}

const TensorInfo *GGUFFile::findTensor(StringRef name) const {
  auto it = tensorIndex_.find(name);
  return it == tensorIndex_.end() ? nullptr : &tensors_[it->second];
}

ArrayRef<uint8_t> GGUFFile::tensorData(const TensorInfo &t) const {
  // The parser guarantees [fileOffset, fileOffset + nbytes) lies in the buffer.
  const uint8_t *base =
      reinterpret_cast<const uint8_t *>(buffer_->getBufferStart());
  if (t.fileOffset > fileSize() || t.nbytes > fileSize() - t.fileOffset)
    return {};
  return ArrayRef<uint8_t>(base + t.fileOffset, t.nbytes);
}

//===----------------------------------------------------------------------===//
// TensorSink
//===----------------------------------------------------------------------===//

Error TensorSink::write(ArrayRef<uint8_t> bytes) {
  if (bytes.size() > expected_ - written_)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "tensor callback wrote %llu bytes but the tensor has only %llu",
        (unsigned long long)(written_ + bytes.size()),
        (unsigned long long)expected_);
  os_.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
  written_ += bytes.size();
  return Error::success();
}

//===----------------------------------------------------------------------===//
// GGUFWriter
//===----------------------------------------------------------------------===//

void GGUFWriter::setAlignment(uint32_t alignment) {
  setUInt32("general.alignment", alignment);
}

uint64_t GGUFWriter::alignment() const {
  const Value *v = find("general.alignment");
  if (!v)
    return 32;
  if (isUnsignedIntType(v->type))
    return v->u;
  if (isSignedIntType(v->type) && v->i > 0)
    return static_cast<uint64_t>(v->i);
  return 0; // rejected by write()
}

void GGUFWriter::set(StringRef key, Value v) {
  v.offset = 0;
  for (KeyValue &kv : kvs_)
    if (kv.key == key) {
      kv.value = std::move(v);
      return;
    }
  kvs_.push_back(KeyValue{key.str(), std::move(v)});
}

void GGUFWriter::setUInt8(StringRef k, uint8_t v) { set(k, Value::ofUInt(ValueType::UINT8, v)); }
void GGUFWriter::setInt8(StringRef k, int8_t v) { set(k, Value::ofInt(ValueType::INT8, v)); }
void GGUFWriter::setUInt16(StringRef k, uint16_t v) { set(k, Value::ofUInt(ValueType::UINT16, v)); }
void GGUFWriter::setInt16(StringRef k, int16_t v) { set(k, Value::ofInt(ValueType::INT16, v)); }
void GGUFWriter::setUInt32(StringRef k, uint32_t v) { set(k, Value::ofUInt(ValueType::UINT32, v)); }
void GGUFWriter::setInt32(StringRef k, int32_t v) { set(k, Value::ofInt(ValueType::INT32, v)); }
void GGUFWriter::setUInt64(StringRef k, uint64_t v) { set(k, Value::ofUInt(ValueType::UINT64, v)); }
void GGUFWriter::setInt64(StringRef k, int64_t v) { set(k, Value::ofInt(ValueType::INT64, v)); }
void GGUFWriter::setFloat32(StringRef k, float v) { set(k, Value::ofFloat(ValueType::FLOAT32, v)); }
void GGUFWriter::setFloat64(StringRef k, double v) { set(k, Value::ofFloat(ValueType::FLOAT64, v)); }
void GGUFWriter::setBool(StringRef k, bool v) { set(k, Value::ofBool(v)); }
void GGUFWriter::setString(StringRef k, StringRef v) { set(k, Value::ofString(v.str())); }

void GGUFWriter::setStringArray(StringRef k, ArrayRef<std::string> v) {
  set(k, Value::ofStringArray(std::vector<std::string>(v.begin(), v.end())));
}
void GGUFWriter::setFloatArray(StringRef k, ArrayRef<float> v) {
  set(k, Value::ofFloatArray(ValueType::FLOAT32,
                             std::vector<double>(v.begin(), v.end())));
}
void GGUFWriter::setIntArray(StringRef k, ArrayRef<int32_t> v) {
  set(k, Value::ofIntArray(ValueType::INT32,
                           std::vector<int64_t>(v.begin(), v.end())));
}

bool GGUFWriter::remove(StringRef key) {
  for (auto it = kvs_.begin(); it != kvs_.end(); ++it)
    if (it->key == key) {
      kvs_.erase(it);
      return true;
    }
  return false;
}

const Value *GGUFWriter::find(StringRef key) const {
  for (const KeyValue &kv : kvs_)
    if (kv.key == key)
      return &kv.value;
  return nullptr;
}

void GGUFWriter::addTensor(StringRef name, ArrayRef<uint64_t> ne,
                           StorageFormat format, ArrayRef<uint8_t> bytes) {
  auto t = std::make_unique<PendingTensor>();
  t->name = name.str();
  t->ne.assign(ne.begin(), ne.end());
  t->format = format;
  t->owned.assign(bytes.begin(), bytes.end());
  t->bytes = t->owned;
  tensors_.push_back(std::move(t));
}

void GGUFWriter::addTensorNoCopy(StringRef name, ArrayRef<uint64_t> ne,
                                 StorageFormat format, ArrayRef<uint8_t> bytes) {
  auto t = std::make_unique<PendingTensor>();
  t->name = name.str();
  t->ne.assign(ne.begin(), ne.end());
  t->format = format;
  t->bytes = bytes;
  tensors_.push_back(std::move(t));
}

void GGUFWriter::addTensor(StringRef name, ArrayRef<uint64_t> ne,
                           StorageFormat format, TensorWriteFn writeFn) {
  auto t = std::make_unique<PendingTensor>();
  t->name = name.str();
  t->ne.assign(ne.begin(), ne.end());
  t->format = format;
  t->writeFn = std::move(writeFn);
  tensors_.push_back(std::move(t));
}

static Error writerError(const Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// Whether a scalar held in `v` (integers in u/i) fits the declared type.
static bool fitsUInt(ValueType t, uint64_t u) {
  switch (t) {
  case ValueType::UINT8: return u <= UINT8_MAX;
  case ValueType::UINT16: return u <= UINT16_MAX;
  case ValueType::UINT32: return u <= UINT32_MAX;
  case ValueType::BOOL: return u <= 1;
  default: return true;
  }
}
static bool fitsInt(ValueType t, int64_t i) {
  switch (t) {
  case ValueType::INT8: return i >= INT8_MIN && i <= INT8_MAX;
  case ValueType::INT16: return i >= INT16_MIN && i <= INT16_MAX;
  case ValueType::INT32: return i >= INT32_MIN && i <= INT32_MAX;
  default: return true;
  }
}

static Error checkValue(StringRef key, const Value &v) {
  auto bad = [&](const Twine &p) {
    return writerError("metadata key '" + key + "': " + p);
  };
  if (!isKnownValueType(static_cast<uint32_t>(v.type)))
    return bad("unknown value type " + Twine(static_cast<uint32_t>(v.type)));
  if (key.size() > kMaxKeyLength)
    return bad("key longer than " + Twine(kMaxKeyLength) + " bytes");
  if (key.empty())
    return bad("empty key");
  if (v.type == ValueType::ARRAY) {
    if (!isKnownValueType(static_cast<uint32_t>(v.elemType)) ||
        v.elemType == ValueType::ARRAY)
      return bad("array element type " + valueTypeName(v.elemType) +
                 " is not supported");
    if (isUnsignedIntType(v.elemType) || v.elemType == ValueType::BOOL) {
      for (size_t k = 0; k < v.uints.size(); ++k)
        if (!fitsUInt(v.elemType, v.uints[k]))
          return bad("element " + Twine(k) + " (" + Twine(v.uints[k]) +
                     ") does not fit " + valueTypeName(v.elemType));
    } else if (isSignedIntType(v.elemType)) {
      for (size_t k = 0; k < v.ints.size(); ++k)
        if (!fitsInt(v.elemType, v.ints[k]))
          return bad("element " + Twine(k) + " (" + Twine(v.ints[k]) +
                     ") does not fit " + valueTypeName(v.elemType));
    }
    return Error::success();
  }
  if ((isUnsignedIntType(v.type) || v.type == ValueType::BOOL) &&
      !fitsUInt(v.type, v.u))
    return bad("value " + Twine(v.u) + " does not fit " + valueTypeName(v.type));
  if (isSignedIntType(v.type) && !fitsInt(v.type, v.i))
    return bad("value " + Twine(v.i) + " does not fit " + valueTypeName(v.type));
  return Error::success();
}

Error GGUFWriter::validate(std::vector<uint64_t> &nbytes) const {
  for (const KeyValue &kv : kvs_)
    if (Error e = checkValue(kv.key, kv.value))
      return e;
  if (const Value *a = find("general.alignment")) {
    if (!isUnsignedIntType(a->type) && !isSignedIntType(a->type))
      return writerError("metadata key 'general.alignment': has type " +
                         valueTypeName(a->type) + ", expected uint32");
    uint64_t align = alignment();
    if (!llvm::isPowerOf2_64(align))
      return writerError("metadata key 'general.alignment': alignment " +
                         Twine(align) + " is not a power of two");
  }
  llvm::StringMap<bool> seen;
  nbytes.clear();
  for (const auto &tp : tensors_) {
    const PendingTensor &t = *tp;
    auto bad = [&](const Twine &p) {
      return writerError("tensor '" + t.name + "': " + p);
    };
    if (t.name.empty())
      return writerError("tensor #" + Twine(uint64_t(nbytes.size())) +
                         ": empty tensor name");
    if (!seen.try_emplace(t.name, true).second)
      return bad("duplicate tensor name");
    if (t.ne.empty() || t.ne.size() > 4)
      return bad("has " + Twine(t.ne.size()) + " dimensions (1 to 4 allowed)");
    uint64_t elems = 1;
    for (uint64_t n : t.ne) {
      if (n == 0)
        return bad("has a zero dimension");
      if (n > uint64_t(INT64_MAX) || elems > uint64_t(INT64_MAX) / n)
        return bad("element count overflows");
      elems *= n;
    }
    if (!lookupStorageFormat(static_cast<uint32_t>(t.format)))
      return bad("unknown storage format " +
                 Twine(static_cast<uint32_t>(t.format)));
    if (!isGGUFFormat(t.format))
      return bad(Twine("is in milm's own format ") + info(t.format).name +
                 ", which GGUF does not have");
    std::optional<uint64_t> row = rowBytes(t.format, t.ne[0]);
    if (!row)
      return bad("ne[0] = " + Twine(t.ne[0]) +
                 " is not a multiple of the block size of " +
                 info(t.format).name);
    uint64_t rows = elems / t.ne[0];
    if (*row > UINT64_MAX / rows)
      return bad("byte size overflows");
    uint64_t n = *row * rows;
    if (!t.writeFn && t.bytes.size() != n)
      return bad("has " + Twine(uint64_t(t.bytes.size())) +
                 " bytes of data but its shape and format need " + Twine(n));
    nbytes.push_back(n);
  }
  return Error::success();
}

namespace {
/// Little-endian primitive writer over a raw_ostream that counts bytes.
struct Out {
  llvm::raw_ostream &os;
  uint64_t pos = 0;
  template <typename T> void put(T v) {
    char buf[sizeof(T)];
    llvm::support::endian::write<T, llvm::endianness::little>(buf, v);
    os.write(buf, sizeof(T));
    pos += sizeof(T);
  }
  void bytes(const void *p, size_t n) {
    os.write(static_cast<const char *>(p), n);
    pos += n;
  }
  void str(StringRef s) {
    put<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void pad(uint64_t align) {
    static const char zeros[64] = {};
    uint64_t n = (align - pos % align) % align;
    while (n) {
      uint64_t k = std::min<uint64_t>(n, sizeof zeros);
      bytes(zeros, k);
      n -= k;
    }
  }
  void f32(double d) {
    float f = static_cast<float>(d);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    put<uint32_t>(bits);
  }
  void f64(double d) {
    uint64_t bits;
    std::memcpy(&bits, &d, 8);
    put<uint64_t>(bits);
  }
  void scalar(ValueType t, uint64_t u, int64_t i, double d) {
    switch (t) {
    case ValueType::UINT8: put<uint8_t>(u); break;
    case ValueType::BOOL: put<uint8_t>(u ? 1 : 0); break;
    case ValueType::UINT16: put<uint16_t>(u); break;
    case ValueType::UINT32: put<uint32_t>(u); break;
    case ValueType::UINT64: put<uint64_t>(u); break;
    case ValueType::INT8: put<int8_t>(i); break;
    case ValueType::INT16: put<int16_t>(i); break;
    case ValueType::INT32: put<int32_t>(i); break;
    case ValueType::INT64: put<int64_t>(i); break;
    case ValueType::FLOAT32: f32(d); break;
    case ValueType::FLOAT64: f64(d); break;
    default: llvm_unreachable("not a scalar");
    }
  }
};
} // namespace

Error GGUFWriter::writeTo(llvm::raw_ostream &os) const {
  std::vector<uint64_t> nbytes;
  if (Error e = validate(nbytes))
    return e;
  uint64_t align = alignment();

  Out o{os};
  o.bytes("GGUF", 4);
  o.put<uint32_t>(3);
  o.put<uint64_t>(tensors_.size());
  o.put<uint64_t>(kvs_.size());

  for (const KeyValue &kv : kvs_) {
    const Value &v = kv.value;
    o.str(kv.key);
    o.put<uint32_t>(static_cast<uint32_t>(v.type));
    if (v.type == ValueType::STRING) {
      o.str(v.str);
    } else if (v.type == ValueType::ARRAY) {
      o.put<uint32_t>(static_cast<uint32_t>(v.elemType));
      o.put<uint64_t>(v.arraySize());
      if (v.elemType == ValueType::STRING)
        for (const std::string &s : v.strings)
          o.str(s);
      else if (isFloatType(v.elemType))
        for (double d : v.floats)
          o.scalar(v.elemType, 0, 0, d);
      else if (isSignedIntType(v.elemType))
        for (int64_t i : v.ints)
          o.scalar(v.elemType, 0, i, 0);
      else
        for (uint64_t u : v.uints)
          o.scalar(v.elemType, u, 0, 0);
    } else {
      o.scalar(v.type, v.u, v.i, v.f);
    }
  }

  uint64_t rel = 0;
  for (size_t k = 0; k < tensors_.size(); ++k) {
    const PendingTensor &t = *tensors_[k];
    o.str(t.name);
    o.put<uint32_t>(t.ne.size());
    for (uint64_t n : t.ne)
      o.put<uint64_t>(n);
    o.put<uint32_t>(static_cast<uint32_t>(t.format));
    o.put<uint64_t>(rel);
    uint64_t padded = nbytes[k] + (align - nbytes[k] % align) % align;
    if (padded < nbytes[k] || rel > UINT64_MAX - padded)
      return writerError("tensor '" + t.name + "': file size overflows");
    rel += padded;
  }
  o.pad(align);

  for (size_t k = 0; k < tensors_.size(); ++k) {
    const PendingTensor &t = *tensors_[k];
    if (t.writeFn) {
      TensorSink sink(os, nbytes[k]);
      if (Error e = t.writeFn(sink))
        return llvm::joinErrors(
            writerError("tensor '" + t.name + "': writing its data failed"),
            std::move(e));
      if (sink.written() != nbytes[k])
        return writerError("tensor '" + t.name + "': callback wrote " +
                           Twine(sink.written()) + " bytes, expected " +
                           Twine(nbytes[k]));
      o.pos += sink.written();
    } else {
      o.bytes(t.bytes.data(), t.bytes.size());
    }
    o.pad(align);
  }
  return Error::success();
}

Error GGUFWriter::write(StringRef path) const {
  llvm::SmallString<256> model(path);
  model += ".tmp-%%%%%%%%";
  Expected<llvm::sys::fs::TempFile> tmp = llvm::sys::fs::TempFile::create(model);
  if (!tmp)
    return writerError(path + ": cannot create a temporary file: " +
                       llvm::toString(tmp.takeError()));
  Error result = [&]() -> Error {
    llvm::raw_fd_ostream os(tmp->FD, /*shouldClose=*/false);
    Error e = writeTo(os);
    os.flush();
    if (os.has_error()) {
      std::string msg = os.error().message();
      os.clear_error();
      if (!e)
        return writerError("write error: " + msg);
    }
    return e;
  }();
  if (result) {
    llvm::consumeError(tmp->discard());
    return writerError(path + ": " + llvm::toString(std::move(result)));
  }
  if (Error e = tmp->keep(path))
    return writerError(path + ": cannot rename the temporary file into place: " +
                       llvm::toString(std::move(e)));
  return Error::success();
}

} // namespace gguf
} // namespace milm
