//===- SafetensorsFileTest.cpp - safetensors reader and writer ------------===//

#include "frontends/safetensors/SafetensorsFile.h"
#include "CheckpointTestUtil.h"

#include <gtest/gtest.h>

using namespace milm;
using namespace milm::test;

namespace {

std::string parseError(const std::string &contents) {
  llvm::Expected<SafetensorsFile> f = SafetensorsFile::parse("x.safetensors", contents);
  if (f)
    return "<no error>";
  return llvm::toString(f.takeError());
}

/// File offset of the first occurrence of `needle` in `header` (+8 for the length).
std::string at(const std::string &header, const std::string &needle) {
  size_t p = header.find(needle);
  EXPECT_NE(p, std::string::npos) << needle;
  return std::to_string(p + 8);
}

TEST(SafetensorsFile, WriteThenRead) {
  TempDir dir;
  std::vector<OwnedTensor> ts = {
      makeTensor("b.weight", {3, 5}, StorageFormat::F16),
      makeTensor("a.weight", {7}, StorageFormat::F32),
      makeTensor("c.weight", {2, 2, 3}, StorageFormat::BF16),
      makeTensor("empty", {0, 4}, StorageFormat::F32),
  };
  std::string path = dir.file("t.safetensors");
  ASSERT_FALSE(llvm::errorToBool(writeTensors(path, ts, {{"format", "pt"}})));

  llvm::Expected<SafetensorsFile> f = SafetensorsFile::open(path);
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  EXPECT_EQ(f->path(), path);
  EXPECT_EQ(f->dataStart() % 8, 0u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  ASSERT_EQ(f->tensors().size(), 4u);
  // Data order: the order written (the empty tensor sits with c's end).
  EXPECT_EQ(f->tensors()[0].name, "b.weight");
  EXPECT_EQ(f->tensors()[1].name, "a.weight");
  EXPECT_EQ(f->tensors()[2].name, "c.weight");
  EXPECT_EQ(f->tensors()[3].name, "empty");
  uint64_t expectOffset = f->dataStart();
  for (const OwnedTensor &t : ts) {
    const SafetensorsTensor *r = f->find(t.name);
    ASSERT_NE(r, nullptr) << t.name;
    EXPECT_EQ(r->format, t.format);
    EXPECT_EQ(r->shape, t.shape);
    EXPECT_EQ(r->offset, expectOffset);
    EXPECT_EQ(r->nbytes, t.bytes.size());
    EXPECT_EQ(f->bytes(*r), t.bytes) << t.name;
    EXPECT_EQ(readBytes(path, r->offset, r->nbytes), t.bytes) << t.name;
    expectOffset += t.bytes.size();
  }
  EXPECT_EQ(f->find("b.weight")->dtype, "F16");
  EXPECT_EQ(f->find("c.weight")->dtype, "BF16");
  EXPECT_EQ(f->fileSize(), expectOffset);
  EXPECT_EQ(f->find("nope"), nullptr);
}

TEST(SafetensorsFile, ParseFromMemory) {
  std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string file = rawSafetensors(header, std::string(8, '\x11'));
  llvm::Expected<SafetensorsFile> f = SafetensorsFile::parse("mem", file);
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  ASSERT_EQ(f->tensors().size(), 1u);
  EXPECT_EQ(f->tensors()[0].offset, 8 + header.size());
  EXPECT_EQ(f->tensors()[0].headerOffset, 9u);
  EXPECT_EQ(f->bytes(f->tensors()[0]), std::string(8, '\x11'));
}

TEST(SafetensorsFile, AcceptsHolesAndPaddingAndScalars) {
  // A gap between tensors is harmless; trailing spaces pad the header.
  std::string header = R"({"a":{"dtype":"F16","shape":[],"data_offsets":[4,6]}}   )";
  llvm::Expected<SafetensorsFile> f =
      SafetensorsFile::parse("mem", rawSafetensors(header, std::string(6, '\0')));
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  EXPECT_EQ(f->tensors()[0].nbytes, 2u);
  EXPECT_TRUE(f->tensors()[0].shape.empty());
}

TEST(SafetensorsFile, WriterRejectsBadInput) {
  TempDir dir;
  std::string path = dir.file("w.safetensors");
  OwnedTensor q = makeTensor("q", {32}, StorageFormat::F32);
  q.format = StorageFormat::Q4_0;
  EXPECT_EQ(llvm::toString(writeTensors(path, {q})),
            path + ": tensor 'q': format q4_0 cannot be written to safetensors (F32, F16, "
                   "BF16 only)");
  OwnedTensor short_ = makeTensor("s", {4}, StorageFormat::F32);
  short_.bytes.pop_back();
  EXPECT_EQ(llvm::toString(writeTensors(path, {short_})),
            path + ": tensor 's': shape needs 16 bytes, given 15");
  OwnedTensor a = makeTensor("a", {1});
  EXPECT_EQ(llvm::toString(writeTensors(path, {a, a})), path + ": tensor 'a': written twice");
  EXPECT_FALSE(llvm::sys::fs::exists(path));

  // Nothing half-written: a failed write leaves neither the file nor a temporary.
  std::string missingDir = dir.file("no/such/dir/w.safetensors");
  std::string err = llvm::toString(writeTensors(missingDir, {a}));
  EXPECT_EQ(err.rfind(missingDir + ": cannot create a temporary file: ", 0), 0u) << err;
  std::error_code ec;
  int entries = 0;
  for (llvm::sys::fs::directory_iterator it(dir.path(), ec), end; it != end && !ec;
       it.increment(ec))
    ++entries;
  EXPECT_EQ(entries, 0);
}

TEST(SafetensorsFile, ReplacesExistingFileAtomically) {
  TempDir dir;
  std::string path = dir.file("r.safetensors");
  ASSERT_FALSE(llvm::errorToBool(writeTensors(path, {makeTensor("x", {4})})));
  ASSERT_FALSE(llvm::errorToBool(writeTensors(path, {makeTensor("y", {2, 2})})));
  llvm::Expected<SafetensorsFile> f = SafetensorsFile::open(path);
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  EXPECT_EQ(f->find("x"), nullptr);
  EXPECT_NE(f->find("y"), nullptr);
}

// --- malformed files: one line, file, tensor or key, byte offset -------------

TEST(SafetensorsFileErrors, OpenMissingFile) {
  llvm::Expected<SafetensorsFile> f = SafetensorsFile::open("/nonexistent/m.safetensors");
  ASSERT_FALSE(bool(f));
  EXPECT_EQ(llvm::toString(f.takeError()),
            "/nonexistent/m.safetensors: cannot open: No such file or directory");
}

TEST(SafetensorsFileErrors, TooShortForLength) {
  EXPECT_EQ(parseError("abc"), "x.safetensors: header length at byte 0: the file has 3 bytes, "
                               "fewer than the 8 of the header length");
}

TEST(SafetensorsFileErrors, HeaderLengthPastEndOfFile) {
  EXPECT_EQ(parseError(rawSafetensors("{}", "", 1000)),
            "x.safetensors: header length at byte 0: 1000 bytes of header, but only 2 bytes "
            "follow the length");
  EXPECT_EQ(parseError(rawSafetensors("{}", "", UINT64_MAX)),
            "x.safetensors: header length at byte 0: 18446744073709551615 bytes of header, "
            "but only 2 bytes follow the length");
}

TEST(SafetensorsFileErrors, TruncatedHeader) {
  // A file cut inside its header...
  std::string header = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  std::string whole = rawSafetensors(header, "abcd");
  EXPECT_EQ(parseError(whole.substr(0, 30)),
            "x.safetensors: header length at byte 0: " + std::to_string(header.size()) +
                " bytes of header, but only 22 bytes follow the length");
  // ...and a header whose length stops short of the end of its JSON.
  EXPECT_EQ(parseError(rawSafetensors(header, "abcd", 20)),
            "x.safetensors: invalid JSON at byte 28: Expected object key");
}

TEST(SafetensorsFileErrors, TinyHeaderLength) {
  EXPECT_EQ(parseError(rawSafetensors("{", "}")),
            "x.safetensors: header length at byte 0: 1 bytes cannot hold a JSON object");
}

TEST(SafetensorsFileErrors, BadJson) {
  EXPECT_EQ(parseError(rawSafetensors(R"({"w": nope})")),
            "x.safetensors: invalid JSON at byte 16: Invalid JSON value (null?)");
  EXPECT_EQ(parseError(rawSafetensors("{\"w\xff\": 1}")),
            "x.safetensors: invalid JSON at byte 11: Invalid UTF-8 sequence");
  EXPECT_EQ(parseError(rawSafetensors("[1, 2]")),
            "x.safetensors: header at byte 8: expected a JSON object, got [1,2]");
}

TEST(SafetensorsFileErrors, DeepNestingIsRejectedWithoutRecursing) {
  std::string header = "{\"w\":" + std::string(1000000, '[');
  EXPECT_EQ(parseError(rawSafetensors(header)), "x.safetensors: invalid JSON at byte " +
                                                    std::to_string(8 + 5 + 63) +
                                                    ": nesting deeper than 64 levels");
}

TEST(SafetensorsFileErrors, DuplicateKey) {
  std::string header = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                       R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  EXPECT_EQ(parseError(rawSafetensors(header, std::string(8, 0))),
            "x.safetensors: key 'w' at byte " + std::to_string(8 + header.rfind("\"w\"")) +
                ": duplicate key");
  std::string inner = R"({"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})";
  EXPECT_EQ(parseError(rawSafetensors(inner, std::string(4, 0))),
            "x.safetensors: key 'dtype' at byte " + std::to_string(8 + inner.rfind("\"dtype\"")) +
                ": duplicate key");
}

TEST(SafetensorsFileErrors, UnknownAndUnsupportedDtype) {
  std::string h1 = R"({"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}})";
  EXPECT_EQ(parseError(rawSafetensors(h1, "abcd")),
            "x.safetensors: tensor 'w' at byte " + at(h1, "\"dtype\"") +
                ": unknown dtype 'Q9' (milm reads F32, F16 and BF16)");
  std::string h2 = R"({"ok":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                   R"("ids":{"dtype":"I64","shape":[1],"data_offsets":[4,12]}})";
  EXPECT_EQ(parseError(rawSafetensors(h2, std::string(12, 0))),
            "x.safetensors: tensor 'ids' at byte " + at(h2, "\"dtype\":\"I64") +
                ": unsupported dtype 'I64' (milm reads F32, F16 and BF16)");
  std::string h3 = R"({"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})";
  EXPECT_EQ(parseError(rawSafetensors(h3, "abcd")), "x.safetensors: tensor 'w' at byte " +
                                                        at(h3, "\"dtype\"") +
                                                        ": dtype is not a string: 7");
}

TEST(SafetensorsFileErrors, OffsetsPastEndOfFile) {
  std::string h = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
  std::string file = rawSafetensors(h, std::string(12, 0));
  EXPECT_EQ(parseError(file), "x.safetensors: tensor 'w' at byte " + at(h, "\"data_offsets\"") +
                                  ": data_offsets [0, 16] end past the data section, which "
                                  "holds 12 bytes (file bytes " +
                                  std::to_string(8 + h.size()) + ".." +
                                  std::to_string(file.size()) + ")");
}

TEST(SafetensorsFileErrors, ShapeOffsetMismatch) {
  std::string h = R"({"w":{"dtype":"BF16","shape":[3,2],"data_offsets":[0,10]}})";
  EXPECT_EQ(parseError(rawSafetensors(h, std::string(16, 0))),
            "x.safetensors: tensor 'w' at byte " + at(h, "\"data_offsets\"") +
                ": shape [3, 2] of BF16 needs 12 bytes, but data_offsets [0, 10] span 10");
}

TEST(SafetensorsFileErrors, ShapeOverflow) {
  std::string h = R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})";
  EXPECT_EQ(parseError(rawSafetensors(h)),
            "x.safetensors: tensor 'w' at byte " + at(h, "\"shape\"") +
                ": shape [4611686018427387904, 4] of F32 needs more than 2^64 bytes");
}

TEST(SafetensorsFileErrors, BadShapeAndOffsets) {
  std::string h1 = R"({"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,8]}})";
  EXPECT_EQ(parseError(rawSafetensors(h1, std::string(8, 0))),
            "x.safetensors: tensor 'w' at byte " + at(h1, "\"shape\"") +
                ": shape [2,-1] has a dimension that is not a non-negative integer: -1");
  std::string h2 = R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})";
  EXPECT_EQ(parseError(rawSafetensors(h2, std::string(8, 0))),
            "x.safetensors: tensor 'w' at byte " + at(h2, "\"shape\"") +
                ": shape [2.5] has a dimension that is not a non-negative integer: 2.5");
  std::string h3 = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})";
  EXPECT_EQ(parseError(rawSafetensors(h3, std::string(8, 0))),
            "x.safetensors: tensor 'w' at byte " + at(h3, "\"data_offsets\"") +
                ": data_offsets [8, 0] begin after they end");
  std::string h4 = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})";
  EXPECT_EQ(parseError(rawSafetensors(h4, std::string(8, 0))),
            "x.safetensors: tensor 'w' at byte " + at(h4, "\"data_offsets\"") +
                ": data_offsets must be two non-negative integers, got [0]");
  std::string h5 = R"({"w":{"dtype":"F32","shape":[2]}})";
  EXPECT_EQ(parseError(rawSafetensors(h5, std::string(8, 0))),
            "x.safetensors: tensor 'w' at byte 9: missing \"data_offsets\"");
  std::string h6 = R"({"w":[1,2]})";
  EXPECT_EQ(parseError(rawSafetensors(h6)),
            "x.safetensors: tensor 'w' at byte 9: expected an object with dtype, shape and "
            "data_offsets, got [1,2]");
}

TEST(SafetensorsFileErrors, Overlapping) {
  std::string h = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                  R"("b":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},)"
                  R"("c":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})";
  EXPECT_EQ(parseError(rawSafetensors(h, std::string(20, 0))),
            "x.safetensors: tensor 'c' at byte " + at(h, "\"data_offsets\":[8") +
                ": data_offsets [8, 16] overlap those of tensor 'a' [0, 16]");
}

TEST(SafetensorsFileErrors, MetadataMustBeStrings) {
  std::string h = R"({"__metadata__":{"format":"pt","n":3}})";
  EXPECT_EQ(parseError(rawSafetensors(h)), "x.safetensors: key '__metadata__.n' at byte " +
                                               at(h, "\"n\"") + ": expected a string, got 3");
}

TEST(SafetensorsFileErrors, MessagesStayOneLine) {
  // A name with a newline (legal JSON) is escaped in the message.
  std::string h = R"({"a\nb":{"dtype":"F8\r","shape":[1],"data_offsets":[0,4]}})";
  EXPECT_EQ(parseError(rawSafetensors(h, "abcd")),
            "x.safetensors: tensor 'a\\nb' at byte " + at(h, "\"dtype\"") +
                ": unknown dtype 'F8\\r' (milm reads F32, F16 and BF16)");
}

TEST(SafetensorsFileErrors, FirstProblemInFileOrder) {
  // Two bad tensors: the one earlier in the header is reported.
  std::string h = R"({"z":{"dtype":"X","shape":[1],"data_offsets":[0,4]},)"
                  R"("a":{"dtype":"Y","shape":[1],"data_offsets":[4,8]}})";
  EXPECT_EQ(parseError(rawSafetensors(h, std::string(8, 0))),
            "x.safetensors: tensor 'z' at byte " + at(h, "\"dtype\"") +
                ": unknown dtype 'X' (milm reads F32, F16 and BF16)");
}

} // namespace
