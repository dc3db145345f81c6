//===- GGUFWriterTest.cpp - GGUFWriter -> GGUFFile round trips ---------------===//

#include "GGUFTestUtil.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <cmath>
#include <limits>
#include <random>

using namespace milm;
using namespace milm::gguf;
using namespace milm::gguf::test;

namespace {

/// One value of every scalar type at its extremes, every array element type
/// (including empty arrays and strings with NUL bytes).
std::vector<KeyValue> everyValue() {
  std::vector<KeyValue> kv;
  auto add = [&](std::string k, Value v) { kv.push_back({std::move(k), std::move(v)}); };
  add("u8.max", Value::ofUInt(ValueType::UINT8, 255));
  add("u8.zero", Value::ofUInt(ValueType::UINT8, 0));
  add("i8.min", Value::ofInt(ValueType::INT8, -128));
  add("i8.max", Value::ofInt(ValueType::INT8, 127));
  add("u16.max", Value::ofUInt(ValueType::UINT16, 65535));
  add("i16.min", Value::ofInt(ValueType::INT16, -32768));
  add("u32.max", Value::ofUInt(ValueType::UINT32, 4294967295u));
  add("i32.min", Value::ofInt(ValueType::INT32, INT32_MIN));
  add("u64.max", Value::ofUInt(ValueType::UINT64, UINT64_MAX));
  add("i64.min", Value::ofInt(ValueType::INT64, INT64_MIN));
  add("i64.max", Value::ofInt(ValueType::INT64, INT64_MAX));
  add("f32.pi", Value::ofFloat(ValueType::FLOAT32, double(3.14159274f)));
  add("f32.tiny", Value::ofFloat(ValueType::FLOAT32,
                                 double(std::numeric_limits<float>::denorm_min())));
  add("f32.inf", Value::ofFloat(ValueType::FLOAT32, -INFINITY));
  add("f32.nan", Value::ofFloat(ValueType::FLOAT32, NAN));
  add("f64.e", Value::ofFloat(ValueType::FLOAT64, 2.718281828459045));
  add("f64.big", Value::ofFloat(ValueType::FLOAT64, 1e300));
  add("bool.true", Value::ofBool(true));
  add("bool.false", Value::ofBool(false));
  add("str.empty", Value::ofString(""));
  add("str.utf8", Value::ofString("h\xC3\xA9llo \xE2\x96\x81world"));
  add("str.nul", Value::ofString(std::string("a\0b", 3)));
  add("arr.u8", Value::ofUIntArray(ValueType::UINT8, {0, 1, 255}));
  add("arr.i8", Value::ofIntArray(ValueType::INT8, {-128, 0, 127}));
  add("arr.u16", Value::ofUIntArray(ValueType::UINT16, {65535, 7}));
  add("arr.i16", Value::ofIntArray(ValueType::INT16, {-32768, 32767}));
  add("arr.u32", Value::ofUIntArray(ValueType::UINT32, {4294967295u}));
  add("arr.i32", Value::ofIntArray(ValueType::INT32, {INT32_MIN, -1, INT32_MAX}));
  add("arr.u64", Value::ofUIntArray(ValueType::UINT64, {UINT64_MAX, 0}));
  add("arr.i64", Value::ofIntArray(ValueType::INT64, {INT64_MIN, INT64_MAX}));
  add("arr.f32", Value::ofFloatArray(ValueType::FLOAT32, {0.5, -2.25, 1e-3f}));
  add("arr.f64", Value::ofFloatArray(ValueType::FLOAT64, {1e-300, -0.0, 3.5}));
  add("arr.bool", Value::ofBoolArray({true, false, true}));
  add("arr.str", Value::ofStringArray({"", "a", std::string("x\0y", 3), "Ġ t"}));
  add("arr.empty.str", Value::ofStringArray({}));
  add("arr.empty.f32", Value::ofFloatArray(ValueType::FLOAT32, {}));
  add("arr.empty.u8", Value::ofUIntArray(ValueType::UINT8, {}));
  return kv;
}

TEST(GGUFWriter, RoundTripsEveryValueType) {
  GGUFWriter w;
  std::vector<KeyValue> kvs = everyValue();
  for (const KeyValue &kv : kvs)
    w.set(kv.key, kv.value);
  // The convenience setters.
  w.setUInt8("c.u8", 200);
  w.setInt8("c.i8", -5);
  w.setUInt16("c.u16", 60000);
  w.setInt16("c.i16", -30000);
  w.setUInt32("c.u32", 123456789);
  w.setInt32("c.i32", -123456789);
  w.setUInt64("c.u64", 1ull << 60);
  w.setInt64("c.i64", -(1ll << 60));
  w.setFloat32("c.f32", 0.1f);
  w.setFloat64("c.f64", 0.1);
  w.setBool("c.bool", true);
  w.setString("c.str", "llama");
  w.setStringArray("c.strs", {"<unk>", "<s>"});
  w.setFloatArray("c.floats", {1.5f, -0.25f});
  w.setIntArray("c.ints", {1, -2, 3});

  std::vector<uint8_t> bytes = writeToBytes(w);
  auto f = parseBytes(bytes, "rt.gguf");
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  const GGUFFile &g = **f;
  EXPECT_EQ(g.version(), 3u);
  ASSERT_EQ(g.metadata().size(), kvs.size() + 15);
  for (size_t k = 0; k < kvs.size(); ++k) {
    EXPECT_EQ(g.metadata()[k].key, kvs[k].key);
    EXPECT_TRUE(g.metadata()[k].value.sameContents(kvs[k].value))
        << kvs[k].key << ": " << g.metadata()[k].value.describe() << " vs "
        << kvs[k].value.describe();
  }
  // A few element-level checks that do not go through sameContents.
  EXPECT_EQ(g.find("u64.max")->u, UINT64_MAX);
  EXPECT_EQ(g.find("i64.min")->i, INT64_MIN);
  EXPECT_TRUE(std::isnan(g.find("f32.nan")->f));
  EXPECT_EQ(g.find("str.nul")->str, std::string("a\0b", 3));
  EXPECT_EQ(g.find("arr.str")->strings[2], std::string("x\0y", 3));
  EXPECT_TRUE(std::signbit(g.find("arr.f64")->floats[1]));
  EXPECT_EQ(g.find("arr.bool")->uints, (std::vector<uint64_t>{1, 0, 1}));

  // Typed getters over the convenience values.
  EXPECT_EQ(*g.getUInt("c.u8"), 200u);
  EXPECT_EQ(*g.getInt("c.i8"), -5);
  EXPECT_EQ(*g.getUInt("c.u16"), 60000u);
  EXPECT_EQ(*g.getInt("c.i16"), -30000);
  EXPECT_EQ(*g.getUInt("c.u32"), 123456789u);
  EXPECT_EQ(*g.getInt("c.i32"), -123456789);
  EXPECT_EQ(*g.getUInt("c.u64"), 1ull << 60);
  EXPECT_EQ(*g.getInt("c.i64"), -(1ll << 60));
  EXPECT_EQ(*g.getFloat("c.f32"), double(0.1f));
  EXPECT_EQ(*g.getFloat("c.f64"), 0.1);
  EXPECT_EQ(*g.getFloat("c.u32"), 123456789.0); // integers convert
  EXPECT_EQ(*g.getBool("c.bool"), true);
  EXPECT_EQ(*g.getString("c.str"), "llama");
  EXPECT_EQ(g.getStringArray("c.strs")->vec(),
            (std::vector<std::string>{"<unk>", "<s>"}));
  EXPECT_EQ(*g.getFloatArray("c.floats"), (std::vector<double>{1.5, -0.25}));
  EXPECT_EQ(*g.getIntArray("c.ints"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(*g.getIntArray("arr.u16"), (std::vector<int64_t>{65535, 7}));
  EXPECT_EQ(*g.getIntArray("arr.bool"), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(g.find("c.ints")->elemType, ValueType::INT32);
  EXPECT_EQ(g.find("c.floats")->elemType, ValueType::FLOAT32);

  // Getter range errors.
  auto neg = g.getUInt("i8.min");
  ASSERT_FALSE(bool(neg));
  EXPECT_EQ(llvm::toString(neg.takeError()),
            "rt.gguf: metadata key 'i8.min' at byte " +
                std::to_string(g.find("i8.min")->offset) +
                ": value -128 is negative");
  auto big = g.getInt("u64.max");
  ASSERT_FALSE(bool(big));
  EXPECT_EQ(llvm::toString(big.takeError()),
            "rt.gguf: metadata key 'u64.max' at byte " +
                std::to_string(g.find("u64.max")->offset) +
                ": value 18446744073709551615 does not fit int64");
  auto bigArr = g.getIntArray("arr.u64");
  ASSERT_FALSE(bool(bigArr));
  EXPECT_EQ(llvm::toString(bigArr.takeError()),
            "rt.gguf: metadata key 'arr.u64' at byte " +
                std::to_string(g.find("arr.u64")->offset) +
                ": element 0 (18446744073709551615) does not fit int64");
  auto notBool = g.getBool("u8.zero");
  ASSERT_FALSE(bool(notBool));
  llvm::consumeError(notBool.takeError());
}

TEST(GGUFWriter, SettingAKeyAgainReplacesInPlace) {
  GGUFWriter w;
  w.setUInt32("a", 1);
  w.setString("b", "x");
  w.setString("a", "now a string");
  EXPECT_TRUE(w.remove("b"));
  EXPECT_FALSE(w.remove("b"));
  w.setBool("c", false);
  auto f = parseBytes(writeToBytes(w));
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  ASSERT_EQ((*f)->keys(), (std::vector<llvm::StringRef>{"a", "c"}));
  EXPECT_EQ(*(*f)->getString("a"), "now a string");
}

/// Deterministic pseudo-random bytes.
std::vector<uint8_t> randomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> b(n);
  for (uint8_t &x : b)
    x = uint8_t(rng());
  return b;
}

TEST(GGUFWriter, RoundTripsEveryStorageFormat) {
  size_t all;
  const StorageFormatInfo *every = allStorageFormats(all);
  // GGUF's formats (milm's own, q4_g*, are refused: the next test).
  std::vector<StorageFormatInfo> gguf;
  for (size_t k = 0; k < all; ++k)
    if (isGGUFFormat(every[k].format))
      gguf.push_back(every[k]);
  const size_t count = gguf.size();
  const StorageFormatInfo *formats = gguf.data();
  ASSERT_GE(count, 11u);
  GGUFWriter w;
  std::vector<std::vector<uint8_t>> data;
  std::vector<std::vector<uint64_t>> shapes;
  for (size_t k = 0; k < count; ++k) {
    const StorageFormatInfo &fi = formats[k];
    // Vary rank 1..4; ne[0] is two blocks.
    std::vector<uint64_t> ne = {2ull * fi.blockElems};
    for (size_t d = 0; d < k % 4; ++d)
      ne.push_back(d + 2);
    uint64_t rows = 1;
    for (size_t d = 1; d < ne.size(); ++d)
      rows *= ne[d];
    data.push_back(randomBytes(rows * 2 * fi.blockBytes, uint32_t(k)));
    shapes.push_back(ne);
    w.addTensor(("t." + std::string(fi.name)), ne, fi.format, data.back());
  }
  std::vector<uint8_t> bytes = writeToBytes(w);
  auto f = parseBytes(bytes, "fmt.gguf");
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  const GGUFFile &g = **f;
  ASSERT_EQ(g.tensors().size(), count);
  for (size_t k = 0; k < count; ++k) {
    const TensorInfo &t = g.tensors()[k];
    EXPECT_EQ(t.name, "t." + std::string(formats[k].name));
    EXPECT_EQ(t.format, formats[k].format);
    EXPECT_EQ(t.ne, shapes[k]);
    EXPECT_EQ(t.nbytes, data[k].size());
    EXPECT_EQ(t.relOffset % 32, 0u);
    EXPECT_EQ(g.tensorData(t).vec(), data[k]) << t.name;
  }
  // Each tensor is padded to the alignment, so the file is a multiple of it.
  EXPECT_EQ(bytes.size() % 32, 0u);
}

TEST(GGUFWriter, RefusesMilmsOwnFormats) {
  for (StorageFormat f : {StorageFormat::Q4_G64, StorageFormat::Q4_G128, StorageFormat::Q4_G256}) {
    GGUFWriter w;
    const StorageFormatInfo &fi = info(f);
    std::vector<uint8_t> data(fi.blockBytes, 0);
    w.addTensor("t", {uint64_t(fi.blockElems)}, f, data);
    llvm::SmallString<0> buf;
    llvm::raw_svector_ostream os(buf);
    llvm::Error e = w.writeTo(os);
    ASSERT_TRUE(bool(e)) << fi.name;
    std::string err = llvm::toString(std::move(e));
    EXPECT_NE(err.find("milm's own format"), std::string::npos) << fi.name << ": " << err;
  }
}

TEST(GGUFWriter, AlignmentIsHonoured) {
  for (uint32_t align : {1u, 8u, 64u, 4096u}) {
    GGUFWriter w;
    w.setAlignment(align);
    EXPECT_EQ(w.alignment(), align);
    w.addTensor("a", {3}, StorageFormat::F32, randomBytes(12, 1));
    w.addTensor("b", {5}, StorageFormat::F16, randomBytes(10, 2));
    std::vector<uint8_t> bytes = writeToBytes(w);
    auto f = parseBytes(bytes);
    ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
    EXPECT_EQ((*f)->alignment(), align);
    EXPECT_EQ((*f)->dataOffset() % align, 0u);
    EXPECT_EQ((*f)->tensors()[1].relOffset, (12 + align - 1) / align * align);
    EXPECT_EQ((*f)->tensorData((*f)->tensors()[1]).vec(), randomBytes(10, 2));
    EXPECT_EQ(*(*f)->getUInt("general.alignment"), align);
  }
  GGUFWriter d;
  EXPECT_EQ(d.alignment(), 32u);
}

TEST(GGUFWriter, StreamsTensorsThroughCallbacks) {
  // A 1 MiB tensor produced in 4 KiB chunks, next to a copied one.
  const uint64_t n = 1 << 18; // f32 values
  GGUFWriter w;
  w.addTensor("copied", {4}, StorageFormat::F32, randomBytes(16, 9));
  uint64_t calls = 0;
  w.addTensor("streamed", {n / 512, 512}, StorageFormat::F32,
              [&](TensorSink &sink) -> llvm::Error {
                EXPECT_EQ(sink.expected(), n * 4);
                std::vector<uint8_t> chunk(4096);
                for (uint64_t off = 0; off < n * 4; off += chunk.size()) {
                  for (size_t k = 0; k < chunk.size(); ++k)
                    chunk[k] = uint8_t((off + k) * 7);
                  if (llvm::Error e = sink.write(chunk))
                    return e;
                  ++calls;
                }
                return llvm::Error::success();
              });
  std::vector<uint8_t> bytes = writeToBytes(w);
  EXPECT_EQ(calls, n * 4 / 4096);
  auto f = parseBytes(bytes);
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  const TensorInfo *t = (*f)->findTensor("streamed");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->nbytes, n * 4);
  llvm::ArrayRef<uint8_t> d = (*f)->tensorData(*t);
  for (uint64_t k = 0; k < d.size(); k += 4093)
    ASSERT_EQ(d[k], uint8_t(k * 7)) << k;
}

std::string tempDir() {
  llvm::SmallString<128> dir;
  std::error_code ec = llvm::sys::fs::createUniqueDirectory("gguf-writer-test", dir);
  EXPECT_FALSE(ec) << ec.message();
  return std::string(dir);
}

std::vector<std::string> listDir(const std::string &dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec))
    names.push_back(std::string(llvm::sys::path::filename(it->path())));
  std::sort(names.begin(), names.end());
  return names;
}

TEST(GGUFWriter, WritesFileAtomically) {
  std::string dir = tempDir();
  std::string out = dir + "/model.gguf";
  GGUFWriter w;
  w.setString("general.architecture", "llama");
  w.addTensor("x", {32}, StorageFormat::Q8_0, randomBytes(34, 3));
  llvm::Error e = w.write(out);
  ASSERT_FALSE(bool(e)) << llvm::toString(std::move(e));
  EXPECT_EQ(listDir(dir), std::vector<std::string>{"model.gguf"});
  auto f = GGUFFile::open(out);
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  EXPECT_EQ((*f)->tensorData((*f)->tensors()[0]).vec(), randomBytes(34, 3));
  f->reset();

  // A failing callback leaves the previous file untouched and no temporary.
  GGUFWriter bad;
  bad.setString("general.architecture", "broken");
  bad.addTensor("y", {4}, StorageFormat::F32, [](TensorSink &s) -> llvm::Error {
    uint8_t half[8] = {};
    if (llvm::Error e = s.write(half))
      return e;
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "disk on fire");
  });
  llvm::Error be = bad.write(out);
  ASSERT_TRUE(bool(be));
  EXPECT_EQ(llvm::toString(std::move(be)),
            out + ": tensor 'y': writing its data failed\ndisk on fire");
  EXPECT_EQ(listDir(dir), std::vector<std::string>{"model.gguf"});
  auto again = GGUFFile::open(out);
  ASSERT_TRUE(bool(again)) << llvm::toString(again.takeError());
  EXPECT_EQ(*(*again)->getString("general.architecture"), "llama");
  again->reset();

  // A callback that writes too little.
  GGUFWriter shortw;
  shortw.addTensor("z", {4}, StorageFormat::F32, [](TensorSink &s) {
    uint8_t few[3] = {};
    return s.write(few);
  });
  llvm::Error se = shortw.write(dir + "/short.gguf");
  ASSERT_TRUE(bool(se));
  EXPECT_EQ(llvm::toString(std::move(se)),
            dir + "/short.gguf: tensor 'z': callback wrote 3 bytes, expected 16");
  // A callback that writes too much is stopped by the sink.
  GGUFWriter longw;
  longw.addTensor("z", {2}, StorageFormat::F32, [](TensorSink &s) {
    uint8_t many[9] = {};
    return s.write(many);
  });
  llvm::Error le = longw.write(dir + "/long.gguf");
  ASSERT_TRUE(bool(le));
  EXPECT_EQ(llvm::toString(std::move(le)),
            dir + "/long.gguf: tensor 'z': writing its data failed\ntensor "
                  "callback wrote 9 bytes but the tensor has only 8");
  EXPECT_EQ(listDir(dir), std::vector<std::string>{"model.gguf"});

  // An unwritable directory.
  llvm::Error ue = w.write(dir + "/no/such/dir/m.gguf");
  ASSERT_TRUE(bool(ue));
  std::string um = llvm::toString(std::move(ue));
  EXPECT_EQ(um.rfind(dir + "/no/such/dir/m.gguf: cannot create a temporary file: ", 0), 0u) << um;

  llvm::sys::fs::remove(out);
  llvm::sys::fs::remove(dir);
}

std::string writeError(const GGUFWriter &w) {
  llvm::SmallString<0> buf;
  llvm::raw_svector_ostream os(buf);
  llvm::Error e = w.writeTo(os);
  if (!e)
    return "<written>";
  return llvm::toString(std::move(e));
}

TEST(GGUFWriter, RejectsInvalidInput) {
  {
    GGUFWriter w;
    w.addTensor("a", {4}, StorageFormat::F32, randomBytes(16, 1));
    w.addTensor("a", {4}, StorageFormat::F32, randomBytes(16, 1));
    EXPECT_EQ(writeError(w), "tensor 'a': duplicate tensor name");
  }
  {
    GGUFWriter w;
    w.addTensor("a", {4}, StorageFormat::F32, randomBytes(15, 1));
    EXPECT_EQ(writeError(w),
              "tensor 'a': has 15 bytes of data but its shape and format need 16");
  }
  {
    GGUFWriter w;
    w.addTensor("q", {48}, StorageFormat::Q4_0, randomBytes(27, 1));
    EXPECT_EQ(writeError(w),
              "tensor 'q': ne[0] = 48 is not a multiple of the block size of q4_0");
  }
  {
    GGUFWriter w;
    w.addTensor("r", {1, 1, 1, 1, 1}, StorageFormat::F32, randomBytes(4, 1));
    EXPECT_EQ(writeError(w), "tensor 'r': has 5 dimensions (1 to 4 allowed)");
  }
  {
    GGUFWriter w;
    w.addTensor("z", {4, 0}, StorageFormat::F32, randomBytes(0, 1));
    EXPECT_EQ(writeError(w), "tensor 'z': has a zero dimension");
  }
  {
    GGUFWriter w;
    w.addTensor("", {4}, StorageFormat::F32, randomBytes(16, 1));
    EXPECT_EQ(writeError(w), "tensor #0: empty tensor name");
  }
  {
    GGUFWriter w;
    w.set("k", Value::ofUInt(ValueType::UINT8, 256));
    EXPECT_EQ(writeError(w), "metadata key 'k': value 256 does not fit uint8");
  }
  {
    GGUFWriter w;
    w.set("k", Value::ofIntArray(ValueType::INT16, {1, 40000}));
    EXPECT_EQ(writeError(w),
              "metadata key 'k': element 1 (40000) does not fit int16");
  }
  {
    GGUFWriter w;
    w.setAlignment(48);
    EXPECT_EQ(writeError(w),
              "metadata key 'general.alignment': alignment 48 is not a power of two");
  }
  {
    GGUFWriter w;
    w.setString("general.alignment", "32");
    EXPECT_EQ(writeError(w), "metadata key 'general.alignment': has type "
                             "string, expected uint32");
  }
  {
    GGUFWriter w;
    w.setUInt8("", 1);
    EXPECT_EQ(writeError(w), "metadata key '': empty key");
  }
}

TEST(GGUFWriter, NoCopyTensorsReferenceCallerMemory) {
  std::vector<uint8_t> big = randomBytes(4096, 5);
  GGUFWriter w;
  w.addTensorNoCopy("big", {1024}, StorageFormat::F32, big);
  big[0] ^= 0xFF; // the writer reads the bytes at write time
  std::vector<uint8_t> bytes = writeToBytes(w);
  auto f = parseBytes(bytes);
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  EXPECT_EQ((*f)->tensorData((*f)->tensors()[0]).vec(), big);
}

TEST(GGUFWriter, CopiesFixtureFileExactly) {
  // Re-writing a llama.cpp file through GGUFWriter reproduces it byte for byte:
  // same layout rules (alignment 32, padding after every tensor, version 3).
  std::string p = fixture("gguf/llama-moe-q4_k_m.gguf");
  auto f = GGUFFile::open(p);
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  GGUFWriter w;
  for (const KeyValue &kv : (*f)->metadata())
    w.set(kv.key, kv.value);
  for (const TensorInfo &t : (*f)->tensors())
    w.addTensorNoCopy(t.name, t.ne, t.format, (*f)->tensorData(t));
  std::vector<uint8_t> bytes = writeToBytes(w);
  llvm::StringRef orig = (*f)->buffer().getBuffer();
  ASSERT_EQ(bytes.size(), orig.size());
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(),
                         reinterpret_cast<const uint8_t *>(orig.data())));
}

} // namespace
