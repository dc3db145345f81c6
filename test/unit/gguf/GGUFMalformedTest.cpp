//===- GGUFMalformedTest.cpp - Exact errors for malformed GGUF files --------===//
//
// Every case starts from a small valid file written by GGUFWriter whose layout
// is spelled out below (and checked by BaseLayout), mutates some bytes and
// asserts the exact one-line error.

#include "GGUFTestUtil.h"

#include <random>

using namespace milm;
using namespace milm::gguf;
using namespace milm::gguf::test;

namespace {

// Layout of base() (offsets in bytes):
//   0 magic, 4 version, 8 n_tensors = 2, 16 n_kv = 6
//   KV0 @24  "general.architecture" string "llama": key len @24, type @52,
//            string len @56, bytes @64..69
//   KV1 @69  "test.u32" uint32 7: key @77, type @85, value @89
//   KV2 @93  "test.arr" array<int32>[1,2,3]: type @109, elem type @113,
//            count @117, elements @125..137
//   KV3 @137 "test.strs" array<string>["a","bc"]: type @154, elem type @158,
//            count @162, len0 @170, "a" @178, len1 @179, "bc" @187..189
//   KV4 @189 "test.f32" float32 1.5: type @205, value @209
//   KV5 @213 "test.bool" bool true: type @230, value @234
//   T0  @235 "a" f32 ne {8,2}: name len @235, name @243, n_dims @244,
//            ne0 @248, ne1 @256, type @264, offset @268 (0)
//   T1  @276 "b" q8_0 ne {32}: name len @276, name @284, n_dims @285,
//            ne0 @289, type @297, offset @301 (64)
//   data @320: a [320, 384), b [384, 418), padding to 448 = file size
constexpr size_t kU32Key = 77, kU32Type = 85, kArrElem = 113, kArrCount = 117,
                 kStrLen = 56, kStrsCount = 162, kStrsLen1 = 179, kBool = 234,
                 kKV1 = 69, kNameB = 284, kDimsB = 285, kNe0A = 248, kNe1A = 256,
                 kTypeA = 264, kOffA = 268, kNe0B = 289, kTypeB = 297,
                 kOffB = 301, kFileSize = 448, kEndB = 418;

void fillBase(GGUFWriter &w) {
  w.setString("general.architecture", "llama");
  w.setUInt32("test.u32", 7);
  w.setIntArray("test.arr", {1, 2, 3});
  w.setStringArray("test.strs", {"a", "bc"});
  w.setFloat32("test.f32", 1.5f);
  w.setBool("test.bool", true);
  std::vector<uint8_t> a(64), b(34);
  for (size_t k = 0; k < a.size(); ++k)
    a[k] = uint8_t(k + 1);
  for (size_t k = 0; k < b.size(); ++k)
    b[k] = uint8_t(0x80 + k);
  w.addTensor("a", {8, 2}, StorageFormat::F32, a);
  w.addTensor("b", {32}, StorageFormat::Q8_0, b);
}

std::vector<uint8_t> base() {
  GGUFWriter w;
  fillBase(w);
  return writeToBytes(w);
}

/// base() plus general.alignment = 32 as a 7th key (KV6 @235, its value @264);
/// the tensor infos move to 268 (a) and 309 (b), the data to 352.
std::vector<uint8_t> baseWithAlignment() {
  GGUFWriter w;
  fillBase(w);
  w.setAlignment(32);
  return writeToBytes(w);
}
constexpr size_t kAlignValue = 264, kAlignType = 260;

std::string err(const std::vector<uint8_t> &b) { return parseError(b); }

TEST(GGUFMalformed, BaseLayout) {
  std::vector<uint8_t> b = base();
  ASSERT_EQ(b.size(), kFileSize);
  auto f = parseBytes(b);
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  const GGUFFile &g = **f;
  std::vector<uint64_t> offs;
  for (const KeyValue &kv : g.metadata())
    offs.push_back(kv.value.offset);
  EXPECT_EQ(offs, (std::vector<uint64_t>{24, 69, 93, 137, 189, 213}));
  EXPECT_EQ(g.tensorInfoOffset(), 235u);
  ASSERT_EQ(g.tensors().size(), 2u);
  EXPECT_EQ(g.tensors()[0].infoOffset, 235u);
  EXPECT_EQ(g.tensors()[1].infoOffset, 276u);
  EXPECT_EQ(g.dataOffset(), 320u);
  EXPECT_EQ(g.tensors()[0].fileOffset, 320u);
  EXPECT_EQ(g.tensors()[1].fileOffset, 384u);
  EXPECT_EQ(g.tensors()[1].relOffset, 64u);
  EXPECT_EQ(g.tensors()[1].nbytes, 34u);
  // Spot checks that the offsets above point where the layout says.
  EXPECT_EQ(b[kU32Type], 4);    // UINT32
  EXPECT_EQ(b[kArrElem], 5);    // INT32
  EXPECT_EQ(b[kArrCount], 3);
  EXPECT_EQ(b[kStrsCount], 2);
  EXPECT_EQ(b[kStrsLen1], 2);
  EXPECT_EQ(b[kBool], 1);
  EXPECT_EQ(b[kNameB], 'b');
  EXPECT_EQ(b[kDimsB], 1);
  EXPECT_EQ(b[kNe0A], 8);
  EXPECT_EQ(b[kNe1A], 2);
  EXPECT_EQ(b[kTypeA], 0);
  EXPECT_EQ(b[kTypeB], 8);
  EXPECT_EQ(b[kOffB], 64);
  EXPECT_EQ(b[kNe0B], 32);

  std::vector<uint8_t> al = baseWithAlignment();
  auto fa = parseBytes(al);
  ASSERT_TRUE(bool(fa)) << llvm::toString(fa.takeError());
  EXPECT_EQ((*fa)->find("general.alignment")->offset, 235u);
  EXPECT_EQ(al[kAlignValue], 32);
  EXPECT_EQ(al[kAlignType], 4);
  EXPECT_EQ((*fa)->tensors()[1].infoOffset, 309u);
  EXPECT_EQ((*fa)->dataOffset(), 352u);
}

TEST(GGUFMalformed, Truncated) {
  std::vector<uint8_t> b = base();
  // Every prefix shorter than the end of the last tensor fails cleanly; the
  // trailing padding is optional.
  for (size_t n = 0; n <= b.size(); ++n) {
    std::vector<uint8_t> p(b.begin(), b.begin() + n);
    std::string e = err(p);
    if (n < kEndB)
      EXPECT_NE(e, "<parsed>") << n;
    else
      EXPECT_EQ(e, "<parsed>") << n;
  }
  auto cut = [&](size_t n) { return err(std::vector<uint8_t>(b.begin(), b.begin() + n)); };
  EXPECT_EQ(cut(0), "bad.gguf: header at byte 0: unexpected end of file reading "
                    "magic at byte 0: needs 4 bytes, 0 remain");
  EXPECT_EQ(cut(6), "bad.gguf: header at byte 4: unexpected end of file reading "
                    "version at byte 4: needs 4 bytes, 2 remain");
  EXPECT_EQ(cut(20), "bad.gguf: header at byte 16: unexpected end of file "
                     "reading metadata count at byte 16: needs 8 bytes, 4 remain");
  EXPECT_EQ(cut(100), "bad.gguf: header at byte 16: metadata count 6 exceeds what "
                      "the remaining 76 bytes can hold (at least 14 bytes per "
                      "key/value pair)");
  EXPECT_EQ(cut(200), "bad.gguf: metadata key #4 at byte 189: key length 8 at "
                      "byte 189 exceeds the 3 bytes that remain");
  EXPECT_EQ(cut(208), "bad.gguf: metadata key 'test.f32' at byte 189: unexpected "
                      "end of file reading value type at byte 205: needs 4 bytes, "
                      "3 remain");
  EXPECT_EQ(cut(240), "bad.gguf: header at byte 8: tensor count 2 exceeds what "
                      "the 5 bytes after the metadata can hold (at least 33 bytes "
                      "per tensor info)");
  EXPECT_EQ(cut(312), "bad.gguf: tensor 'a' at byte 235: data [320, 384) extends "
                      "past the end of the file (312 bytes)");
  EXPECT_EQ(cut(417), "bad.gguf: tensor 'b' at byte 276: data [384, 418) extends "
                      "past the end of the file (417 bytes)");
}

TEST(GGUFMalformed, WrongMagic) {
  std::vector<uint8_t> b = base();
  b[2] = 'M';
  b[3] = 'L';
  EXPECT_EQ(err(b), "bad.gguf: header at byte 0: bad magic \"GGML\", expected \"GGUF\"");
  for (int k = 0; k < 4; ++k)
    b[k] = uint8_t(k == 3 ? 0xFF : k);
  EXPECT_EQ(err(b), "bad.gguf: header at byte 0: bad magic "
                    "\"\\x00\\x01\\x02\\xff\", expected \"GGUF\"");
}

TEST(GGUFMalformed, Versions) {
  std::vector<uint8_t> b = base();
  for (uint32_t v : {0u, 1u, 4u, 1000u}) {
    poke<uint32_t>(b, 4, v);
    EXPECT_EQ(err(b), "bad.gguf: header at byte 4: unsupported GGUF version " +
                          std::to_string(v) + " (supported: 2, 3)");
  }
  poke<uint32_t>(b, 4, 0x03000000);
  EXPECT_EQ(err(b), "bad.gguf: header at byte 4: big-endian GGUF (version 3) is "
                    "not supported");
  // Version 2 has the same layout (64-bit counts) and is accepted.
  poke<uint32_t>(b, 4, 2);
  auto f = parseBytes(b);
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  EXPECT_EQ((*f)->version(), 2u);
  EXPECT_EQ((*f)->tensors().size(), 2u);
  EXPECT_EQ(*(*f)->getString("general.architecture"), "llama");
}

TEST(GGUFMalformed, CountsThatLie) {
  std::vector<uint8_t> b = base();
  poke<uint64_t>(b, 16, UINT64_MAX);
  EXPECT_EQ(err(b), "bad.gguf: header at byte 16: metadata count "
                    "18446744073709551615 exceeds what the remaining 424 bytes "
                    "can hold (at least 14 bytes per key/value pair)");
  b = base();
  poke<uint64_t>(b, 8, 1ull << 40);
  EXPECT_EQ(err(b), "bad.gguf: header at byte 8: tensor count 1099511627776 "
                    "exceeds what the remaining 424 bytes can hold (at least 33 "
                    "bytes per tensor info)");
  b = base();
  poke<uint64_t>(b, 8, 10);
  EXPECT_EQ(err(b), "bad.gguf: header at byte 8: tensor count 10 exceeds what "
                    "the 213 bytes after the metadata can hold (at least 33 bytes "
                    "per tensor info)");
  b = base();
  poke<uint64_t>(b, 8, 3); // the third "tensor info" is the zero padding
  EXPECT_EQ(err(b), "bad.gguf: tensor info #2 at byte 309: empty tensor name");
  b = base();
  poke<uint64_t>(b, 16, 7); // tensor "a" read as key "a" of type uint16
  EXPECT_EQ(err(b), "bad.gguf: tensor info #0 at byte 250: name length "
                    "562949953421312 at byte 250 exceeds the 190 bytes that "
                    "remain");
}

TEST(GGUFMalformed, KeyAndStringLengths) {
  std::vector<uint8_t> b = base();
  poke<uint64_t>(b, kKV1, 1ull << 63);
  EXPECT_EQ(err(b), "bad.gguf: metadata key #1 at byte 69: key length "
                    "9223372036854775808 at byte 69 exceeds the limit of 65535 "
                    "bytes");
  poke<uint64_t>(b, kKV1, 1000);
  EXPECT_EQ(err(b), "bad.gguf: metadata key #1 at byte 69: key length 1000 at "
                    "byte 69 exceeds the 371 bytes that remain");
  poke<uint64_t>(b, kKV1, 0);
  EXPECT_EQ(err(b), "bad.gguf: metadata key #1 at byte 69: empty key");
  b = base();
  poke<uint64_t>(b, kStrLen, UINT64_MAX);
  EXPECT_EQ(err(b), "bad.gguf: metadata key 'general.architecture' at byte 24: "
                    "string length 18446744073709551615 at byte 56 exceeds the "
                    "384 bytes that remain");
  b = base();
  poke<uint64_t>(b, kStrsLen1, 1000);
  EXPECT_EQ(err(b), "bad.gguf: metadata key 'test.strs' at byte 137: string "
                    "element 1 length 1000 at byte 179 exceeds the 261 bytes that "
                    "remain");
}

TEST(GGUFMalformed, ArrayCounts) {
  std::vector<uint8_t> b = base();
  poke<uint64_t>(b, kArrCount, 1ull << 62);
  EXPECT_EQ(err(b), "bad.gguf: metadata key 'test.arr' at byte 93: array count "
                    "4611686018427387904 at byte 117 exceeds what the remaining "
                    "323 bytes can hold (at least 4 bytes per int32 element)");
  b = base();
  poke<uint64_t>(b, kStrsCount, 1000);
  EXPECT_EQ(err(b), "bad.gguf: metadata key 'test.strs' at byte 137: array count "
                    "1000 at byte 162 exceeds what the remaining 278 bytes can "
                    "hold (at least 8 bytes per string element)");
  // A count that lies by one: the array swallows 4 bytes of the next key's
  // length, and the next "key length" is read from the middle of a field.
  b = base();
  poke<uint64_t>(b, kArrCount, 4);
  EXPECT_EQ(err(b), "bad.gguf: metadata key #3 at byte 141: key length "
                    "8391162079611977728 at byte 141 exceeds the limit of 65535 "
                    "bytes");
}

TEST(GGUFMalformed, ArrayElementLimit) {
  // One key "big" of type array<uint8> with 2^26 + 1 elements that are all
  // present: rejected by the element limit before anything is decoded.
  const uint64_t n = (1ull << 26) + 1;
  std::vector<uint8_t> b(51 + n, 0);
  std::memcpy(&b[0], "GGUF", 4);
  poke<uint32_t>(b, 4, 3);
  poke<uint64_t>(b, 8, 0);  // tensors
  poke<uint64_t>(b, 16, 1); // keys
  poke<uint64_t>(b, 24, 3);
  std::memcpy(&b[32], "big", 3);
  poke<uint32_t>(b, 35, 9); // array
  poke<uint32_t>(b, 39, 0); // of uint8
  poke<uint64_t>(b, 43, n);
  EXPECT_EQ(err(b), "bad.gguf: metadata key 'big' at byte 24: array count "
                    "67108865 at byte 43 exceeds the limit of 67108864 elements");
  poke<uint64_t>(b, 43, n - 1);
  EXPECT_EQ(err(b), "<parsed>");
}

TEST(GGUFMalformed, ValueTypes) {
  std::vector<uint8_t> b = base();
  poke<uint32_t>(b, kU32Type, 13);
  EXPECT_EQ(err(b), "bad.gguf: metadata key 'test.u32' at byte 69: unknown value "
                    "type 13 at byte 85");
  b = base();
  poke<uint32_t>(b, kArrElem, 77);
  EXPECT_EQ(err(b), "bad.gguf: metadata key 'test.arr' at byte 93: unknown array "
                    "element type 77 at byte 113");
  poke<uint32_t>(b, kArrElem, 9);
  EXPECT_EQ(err(b), "bad.gguf: metadata key 'test.arr' at byte 93: nested arrays "
                    "(array element type 'array' at byte 113) are not supported");
  b = base();
  b[kBool] = 2;
  EXPECT_EQ(err(b), "bad.gguf: metadata key 'test.bool' at byte 213: bool value 2 "
                    "at byte 234 is neither 0 nor 1");
}

TEST(GGUFMalformed, Duplicates) {
  std::vector<uint8_t> b = base();
  std::memcpy(&b[kU32Key], "test.arr", 8);
  EXPECT_EQ(err(b), "bad.gguf: metadata key 'test.arr' at byte 93: duplicate key "
                    "(first defined at byte 69)");
  b = base();
  b[kNameB] = 'a';
  EXPECT_EQ(err(b), "bad.gguf: tensor 'a' at byte 276: duplicate tensor name "
                    "(first defined at byte 235)");
}

TEST(GGUFMalformed, TensorDimsAndTypes) {
  std::vector<uint8_t> b = base();
  poke<uint32_t>(b, kDimsB, 5);
  EXPECT_EQ(err(b), "bad.gguf: tensor 'b' at byte 276: n_dims 5 at byte 285 is "
                    "out of range (1 to 4)");
  poke<uint32_t>(b, kDimsB, 0);
  EXPECT_EQ(err(b), "bad.gguf: tensor 'b' at byte 276: n_dims 0 at byte 285 is "
                    "out of range (1 to 4)");
  b[kNameB] = 0x01; // names with control bytes are escaped
  EXPECT_EQ(err(b), "bad.gguf: tensor '\\x01' at byte 276: n_dims 0 at byte 285 "
                    "is out of range (1 to 4)");
  b = base();
  poke<uint32_t>(b, kTypeB, 99);
  EXPECT_EQ(err(b), "bad.gguf: tensor 'b' at byte 276: unknown tensor type 99 at "
                    "byte 297");
  poke<uint32_t>(b, kTypeB, 10);
  EXPECT_EQ(err(b), "bad.gguf: tensor 'b' at byte 276: tensor type 10 (q2_k) at "
                    "byte 297 is not supported");
  poke<uint32_t>(b, kTypeB, 0); // f32: 128 bytes no longer fit
  EXPECT_EQ(err(b), "bad.gguf: tensor 'b' at byte 276: data [384, 512) extends "
                    "past the end of the file (448 bytes)");
  b = base();
  poke<uint32_t>(b, kTypeA, 8); // q8_0 rows of 8 values
  EXPECT_EQ(err(b), "bad.gguf: tensor 'a' at byte 235: ne[0] = 8 is not a "
                    "multiple of the q8_0 block size 32");
}

TEST(GGUFMalformed, ShapeOverflow) {
  std::vector<uint8_t> b = base();
  poke<uint64_t>(b, kNe0A, 1ull << 40);
  poke<uint64_t>(b, kNe1A, 1ull << 40);
  EXPECT_EQ(err(b), "bad.gguf: tensor 'a' at byte 235: element count overflows: "
                    "ne[1] = 1099511627776 at byte 256");
  poke<uint64_t>(b, kNe0A, UINT64_MAX);
  EXPECT_EQ(err(b), "bad.gguf: tensor 'a' at byte 235: element count overflows: "
                    "ne[0] = 18446744073709551615 at byte 248");
  b = base();
  poke<uint64_t>(b, kNe1A, 0);
  EXPECT_EQ(err(b), "bad.gguf: tensor 'a' at byte 235: ne[1] at byte 256 is 0");
  b = base();
  poke<uint64_t>(b, kNe1A, 1ull << 40); // 2^45 bytes: no overflow, but too big
  EXPECT_EQ(err(b), "bad.gguf: tensor 'a' at byte 235: data [320, "
                    "35184372089152) extends past the end of the file (448 bytes)");
  b = base();
  poke<uint64_t>(b, kNe0A, 1ull << 62); // 2^62 f32 values: 2^64 bytes
  poke<uint64_t>(b, kNe1A, 1);
  EXPECT_EQ(err(b), "bad.gguf: tensor 'a' at byte 235: byte size overflows (1 x "
                    "4611686018427387904 f32 values)");
  b = base();
  poke<uint64_t>(b, kNe0B, 1ull << 62); // 2^57 q8_0 blocks: large, no overflow
  EXPECT_EQ(err(b), "bad.gguf: tensor 'b' at byte 276: data [384, "
                    "4899916394579100032) extends past the end of the file (448 "
                    "bytes)");
}

TEST(GGUFMalformed, OffsetsAndAlignment) {
  std::vector<uint8_t> b = base();
  poke<uint64_t>(b, kOffB, 128);
  EXPECT_EQ(err(b), "bad.gguf: tensor 'b' at byte 276: data [448, 482) extends "
                    "past the end of the file (448 bytes)");
  poke<uint64_t>(b, kOffB, 1ull << 40);
  EXPECT_EQ(err(b), "bad.gguf: tensor 'b' at byte 276: data [1099511628096, "
                    "1099511628130) extends past the end of the file (448 bytes)");
  poke<uint64_t>(b, kOffB, 0xFFFFFFFFFFFFFFE0ull);
  EXPECT_EQ(err(b), "bad.gguf: tensor 'b' at byte 276: data offset "
                    "18446744073709551584 overflows");
  poke<uint64_t>(b, kOffB, 68);
  EXPECT_EQ(err(b), "bad.gguf: tensor 'b' at byte 276: data offset 68 is not a "
                    "multiple of the alignment 32");

  // general.alignment raised to 128: tensor b's offset 64 is now misaligned.
  b = baseWithAlignment();
  poke<uint32_t>(b, kAlignValue, 128);
  EXPECT_EQ(err(b), "bad.gguf: tensor 'b' at byte 309: data offset 64 is not a "
                    "multiple of the alignment 128");
  for (uint32_t bad : {0u, 48u, 33u}) {
    poke<uint32_t>(b, kAlignValue, bad);
    EXPECT_EQ(err(b), "bad.gguf: metadata key 'general.alignment' at byte 235: "
                      "alignment " + std::to_string(bad) +
                          " is not a power of two");
  }
  b = baseWithAlignment();
  poke<uint32_t>(b, kAlignType, 6); // float32
  EXPECT_EQ(err(b), "bad.gguf: metadata key 'general.alignment' at byte 235: has "
                    "type float32, expected an unsigned integer");
  b = baseWithAlignment();
  poke<uint32_t>(b, kAlignType, 5); // int32 32 is still accepted
  EXPECT_EQ(err(b), "<parsed>");
  poke<int32_t>(b, kAlignValue, -32);
  EXPECT_EQ(err(b), "bad.gguf: metadata key 'general.alignment' at byte 235: "
                    "alignment -32 is not a power of two");
}

TEST(GGUFMalformed, OverlappingTensors) {
  std::vector<uint8_t> b = base();
  poke<uint64_t>(b, kOffB, 32);
  EXPECT_EQ(err(b), "bad.gguf: tensor 'b' at byte 276: data [352, 386) overlaps "
                    "tensor 'a' [320, 384)");
  poke<uint64_t>(b, kOffA, 64);
  poke<uint64_t>(b, kOffB, 64);
  EXPECT_EQ(err(b), "bad.gguf: tensor 'b' at byte 276: data [384, 418) overlaps "
                    "tensor 'a' [384, 448)");
  // b sorts first but is still the one named (it comes later in the file).
  poke<uint64_t>(b, kOffB, 32);
  EXPECT_EQ(err(b), "bad.gguf: tensor 'b' at byte 276: data [352, 386) overlaps "
                    "tensor 'a' [384, 448)");
  // Swapped without overlap is fine.
  poke<uint64_t>(b, kOffB, 0);
  EXPECT_EQ(err(b), "<parsed>");
}

TEST(GGUFMalformed, EveryByteFlippedNeverCrashes) {
  // Not an exact-message test: flipping any single byte, or a few random
  // bytes, must give either a parse or an error (ASan/UBSan builds catch the
  // rest).
  std::vector<uint8_t> b = base();
  size_t errors = 0;
  for (size_t k = 0; k < b.size(); ++k)
    for (uint8_t mask : {0x01, 0x80, 0xFF}) {
      std::vector<uint8_t> m = b;
      m[k] ^= mask;
      std::string e = err(m);
      if (e != "<parsed>") {
        ++errors;
        EXPECT_EQ(e.rfind("bad.gguf: ", 0), 0u) << e;
        EXPECT_EQ(e.find('\n'), std::string::npos) << e;
        EXPECT_NE(e.find(" at byte "), std::string::npos) << e;
      }
    }
  EXPECT_GT(errors, b.size()); // most of the header and infos matter
  std::mt19937 rng(42);
  for (int it = 0; it < 3000; ++it) {
    std::vector<uint8_t> m = b;
    for (int j = 0; j < 4; ++j)
      m[rng() % m.size()] = uint8_t(rng());
    (void)err(m);
  }
}

} // namespace
