//===- ArtifactTest.cpp - model.milm: writer, loader, exact errors ---------===//

#include "RuntimeTestUtil.h"

#include "common/milm/StorageFormat.h"
#include "milm/artifact.h"
#include "milm/checksum.h"
#include "milm/thread_pool.h"
#include "codegen/artifact/ArtifactWriter.h"

#include "llvm/Support/FileSystem.h"

#include "gtest/gtest.h"

#include <cstdlib>
#include <cstring>
#include <random>

using namespace milm;
using milm::rt::Artifact;

namespace {

#if defined(__x86_64__)
const char *const kHostTriple = "x86_64-unknown-linux-gnu";
#else
const char *const kHostTriple = "aarch64-unknown-linux-gnu";
#endif

class ArtifactTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = fake::makeTempDir("milm-artifact-test");
    ASSERT_FALSE(dir.empty());
    f = fake::makeFakeArtifact(dir, kHostTriple);
    path = dir + "/model.milm";
    desc = milm_model_desc{MILM_MODEL_ABI_VERSION, 0, fake::kHash, "fake", kHostTriple,
                           fake::kVocab, fake::kHidden, 2, 2, 1, 4, 64, 8, 256,
                           f->spec.weightsSize, "", /*layer_kv_heads=*/nullptr};
  }
  void TearDown() override { llvm::sys::fs::remove_directories(dir); }

  void write() { ASSERT_EQ(errorOf(artifact::writeArtifact(path, f->spec)), ""); }
  static std::string errorOf(llvm::Error e) { return e ? llvm::toString(std::move(e)) : ""; }
  /// open() + checkAgainst() + verifyChecksums(): "" or the first error.
  std::string loadWith(const std::string &p, Artifact::Load how) {
    Artifact a;
    std::string err;
    if (!a.open(p.c_str(), &err, how) || !a.checkAgainst(desc, &err) ||
        !a.verifyChecksums(nullptr, &err))
      return err;
    return "";
  }
  // Mapped and read into memory, the same checks must give the same answer.
  std::string load(const std::string &p) {
    const std::string mapped = loadWith(p, Artifact::Load::Map);
    EXPECT_EQ(loadWith(p, Artifact::Load::Read), mapped) << "read into memory vs mapped: " << p;
    return mapped;
  }
  std::string bytes() { return fake::readFileBytes(path); }

  std::string dir, path;
  std::unique_ptr<fake::FakeArtifact> f;
  milm_model_desc desc;
};

//===---- milm64 -------------------------------------------------------------===//

TEST(Milm64, PinnedValues) {
  // These values define the checksum of every model.milm ever written: they
  // must never change.
  EXPECT_EQ(rt::milm64("", 0), 0x75b06f75a4afd0d3ull);
  EXPECT_EQ(rt::milm64("a", 1), 0x9533edde773a8ac9ull);
  const char *fox = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(rt::milm64(fox, strlen(fox)), 0x0c623497c687f8cbull);
  std::vector<uint8_t> big(1000);
  for (size_t i = 0; i < big.size(); ++i)
    big[i] = uint8_t(i * 7 + 3);
  EXPECT_EQ(rt::milm64(big.data(), big.size()), 0xbb1448f2b0d09979ull);
  EXPECT_NE(rt::milm64(big.data(), big.size(), 1), rt::milm64(big.data(), big.size()));
}

TEST(Milm64, StreamingEqualsOneShotForAnySplit) {
  std::mt19937 rng(42);
  std::vector<uint8_t> data(5000);
  for (uint8_t &b : data)
    b = uint8_t(rng());
  for (size_t len : {0u, 1u, 7u, 8u, 31u, 32u, 33u, 63u, 64u, 100u, 4999u, 5000u}) {
    uint64_t want = rt::milm64(data.data(), len);
    for (int trial = 0; trial < 20; ++trial) {
      rt::Milm64 h;
      size_t at = 0;
      while (at < len) {
        size_t n = std::min<size_t>(len - at, rng() % 70);
        h.update(data.data() + at, n);
        at += n;
      }
      ASSERT_EQ(h.digest(), want) << "len " << len;
    }
  }
}

TEST(Milm64, EveryBitMatters) {
  std::vector<uint8_t> data(257, 0x5a);
  uint64_t base = rt::milm64(data.data(), data.size());
  for (size_t i = 0; i < data.size(); ++i)
    for (int bit = 0; bit < 8; ++bit) {
      data[i] ^= uint8_t(1 << bit);
      ASSERT_NE(rt::milm64(data.data(), data.size()), base) << i << ":" << bit;
      data[i] ^= uint8_t(1 << bit);
    }
  EXPECT_NE(rt::milm64(data.data(), 256), base); // length matters
}

//===---- writer --------------------------------------------------------------===//

TEST(WeightLayout, AlignsEachWeight) {
  artifact::WeightLayout l =
      artifact::planWeightLayout({{"a", 10}, {"b", 64}, {"c", 1}, {"d", 0}, {"e", 65}});
  EXPECT_EQ(l.offsets, (std::vector<uint64_t>{0, 64, 128, 192, 192}));
  EXPECT_EQ(l.totalBytes, 320u);
  artifact::WeightLayout big = artifact::planWeightLayout({{"a", 10}, {"b", 10}}, 4096);
  EXPECT_EQ(big.offsets, (std::vector<uint64_t>{0, 4096}));
  EXPECT_EQ(big.totalBytes, 4160u);
}

TEST_F(ArtifactTest, ModelHashCoversTheLayout) {
  uint64_t h = artifact::computeModelHash(f->spec);
  EXPECT_EQ(h, artifact::computeModelHash(f->spec));
  artifact::ArtifactSpec other;
  other.config = f->spec.config;
  for (const artifact::ArtifactWeight &w : f->spec.weights) {
    artifact::ArtifactWeight c;
    c.name = w.name;
    c.format = w.format;
    c.shape = w.shape;
    c.offset = w.offset;
    c.size = w.size;
    other.weights.push_back(std::move(c));
  }
  EXPECT_EQ(artifact::computeModelHash(other), h); // sources and order do not matter
  other.weights[0].shape[1] += 1;
  EXPECT_NE(artifact::computeModelHash(other), h);
  other.weights[0].shape[1] -= 1;
  other.config.numLayers = 3;
  EXPECT_NE(artifact::computeModelHash(other), h);
}

TEST_F(ArtifactTest, ReadIntoMemory) {
  write();
  Artifact mapped, read;
  std::string err;
  ASSERT_TRUE(mapped.open(path.c_str(), &err, Artifact::Load::Map)) << err;
  ASSERT_TRUE(read.open(path.c_str(), &err, Artifact::Load::Read)) << err;
  ASSERT_EQ(read.fileSize(), mapped.fileSize());
  ASSERT_EQ(read.weightsOffset(), mapped.weightsOffset());
  const uint8_t *base = read.weights() - read.weightsOffset();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(base) % (uintptr_t(2) << 20), 0u);
  EXPECT_NE(base, mapped.weights() - mapped.weightsOffset());
  EXPECT_EQ(std::string(reinterpret_cast<const char *>(base), size_t(read.fileSize())), bytes());
  EXPECT_TRUE(read.checkAgainst(desc, &err)) << err;
  EXPECT_TRUE(read.verifyChecksums(nullptr, &err)) << err;
  read.close();
  EXPECT_FALSE(read.isOpen());
}

TEST(ArtifactLoad, ReadsWhatFitsMapsTheRest) {
  using Load = Artifact::Load;
  EXPECT_EQ(Artifact::loadFor(900, 1000), Load::Read);
  EXPECT_EQ(Artifact::loadFor(901, 1000), Load::Map);
  EXPECT_EQ(Artifact::loadFor(uint64_t(8) << 30, uint64_t(4) << 30), Load::Map);
  EXPECT_EQ(Artifact::loadFor(uint64_t(1) << 30, 0), Load::Read); // unknown: read
  // This machine's /proc/meminfo: some memory is available, less than 2^50 bytes.
  const uint64_t avail = Artifact::availableMemory();
  EXPECT_GT(avail, 0u);
  EXPECT_LT(avail, uint64_t(1) << 50);
}

TEST_F(ArtifactTest, WritesAndLoads) {
  write();
  Artifact a;
  std::string err;
  ASSERT_TRUE(a.open(path.c_str(), &err)) << err;
  EXPECT_EQ(a.versionMajor(), 1);
  EXPECT_EQ(a.versionMinor(), 2);
  EXPECT_EQ(a.weightsOffset() % 65536, 0u);
  EXPECT_EQ(a.weightsOffset() + a.weightsSize(), a.fileSize());
  EXPECT_EQ(a.weightsSize(), f->spec.weightsSize);
  const fb::Model &h = a.header();
  EXPECT_EQ(h.model_hash(), fake::kHash);
  EXPECT_STREQ(h.target()->c_str(), kHostTriple);
  EXPECT_STREQ(h.producer()->c_str(), "RuntimeTest");
  ASSERT_EQ(h.options()->size(), 2u);
  EXPECT_STREQ(h.options()->Get(1)->key()->c_str(), "opt-level");
  EXPECT_STREQ(h.options()->Get(1)->value()->c_str(), "2");
  EXPECT_EQ(h.config()->vocab_size(), fake::kVocab);
  EXPECT_EQ(h.config()->num_experts(), 2);
  EXPECT_EQ(h.checksum_kind(), fb::ChecksumKind_Milm64);
  ASSERT_EQ(h.tensors()->size(), 3u);
  // Sorted by offset; bytes where the layout put them.
  const fb::Tensor *out = h.tensors()->Get(0), *emb = h.tensors()->Get(1),
                   *exps = h.tensors()->Get(2);
  EXPECT_STREQ(out->name()->c_str(), "output.weight");
  EXPECT_STREQ(emb->name()->c_str(), "token_embd.weight");
  EXPECT_STREQ(exps->name()->c_str(), "blk.0.ffn_up_exps.weight");
  EXPECT_EQ(std::vector<int64_t>(exps->shape()->begin(), exps->shape()->end()),
            (std::vector<int64_t>{2, 4, fake::kHidden}));
  EXPECT_EQ(memcmp(a.weights() + out->offset(), f->table.data(), out->size()), 0);
  EXPECT_EQ(memcmp(a.weights() + emb->offset(), f->emb.data(), emb->size()), 0);
  EXPECT_EQ(memcmp(a.weights() + exps->offset(), f->exps.data(), exps->size()), 0);
  EXPECT_EQ(out->checksum(), rt::milm64(f->table.data(), f->table.size() * 4));
  EXPECT_EQ(exps->checksum(), rt::milm64(f->exps.data(), f->exps.size() * 4));
  // Tokenizer.
  ASSERT_TRUE(a.tokenizer().valid()) << a.tokenizerError();
  EXPECT_TRUE(a.addBos());
  std::vector<int32_t> ids = a.tokenizer().encode("Once upon a time", true);
  EXPECT_EQ(ids, (std::vector<int32_t>{fake::kBos, f->id("▁Once"), f->id("▁upon"), f->id("▁a"),
                                       f->id("▁time")}));
  EXPECT_TRUE(a.checkAgainst(desc, &err)) << err;
  EXPECT_TRUE(a.verifyChecksums(nullptr, &err)) << err;
  rt::ThreadPool pool;
  pool.start(3);
  EXPECT_TRUE(a.verifyChecksums(&pool, &err)) << err;
}

TEST_F(ArtifactTest, ProducerWeights) {
  // A weight produced in pieces by a callback (e.g. repacking).
  artifact::ArtifactWeight &emb = f->spec.weights[0];
  ASSERT_EQ(emb.name, "token_embd.weight");
  emb.parts.clear();
  const uint8_t *src = reinterpret_cast<const uint8_t *>(f->emb.data());
  const uint64_t size = emb.size;
  emb.producer = [src, size](artifact::ByteSink sink) -> llvm::Error {
    for (uint64_t at = 0; at < size; at += 100)
      if (llvm::Error e = sink(llvm::ArrayRef<uint8_t>(src + at, std::min<uint64_t>(100, size - at))))
        return e;
    return llvm::Error::success();
  };
  write();
  EXPECT_EQ(load(path), "");
}

TEST_F(ArtifactTest, RepackedWeights) {
  // The bytes from the parts pass through `repack` a unit at a time (here each
  // 64-byte unit reversed) and the file holds the result, checksummed as written.
  artifact::ArtifactWeight &exps = f->spec.weights[2];
  ASSERT_EQ(exps.name, "blk.0.ffn_up_exps.weight");
  ASSERT_EQ(exps.size % 64, 0u);
  exps.repackUnit = 64;
  exps.repack = [](llvm::ArrayRef<uint8_t> in, llvm::MutableArrayRef<uint8_t> out) {
    std::reverse_copy(in.begin(), in.end(), out.begin());
  };
  write();
  Artifact a;
  std::string err;
  ASSERT_TRUE(a.open(path.c_str(), &err)) << err;
  const fb::Tensor *t = a.header().tensors()->Get(2);
  ASSERT_STREQ(t->name()->c_str(), "blk.0.ffn_up_exps.weight");
  std::vector<uint8_t> expect(reinterpret_cast<const uint8_t *>(f->exps.data()),
                              reinterpret_cast<const uint8_t *>(f->exps.data()) + exps.size);
  for (size_t at = 0; at < expect.size(); at += 64)
    std::reverse(expect.begin() + at, expect.begin() + at + 64);
  EXPECT_EQ(memcmp(a.weights() + t->offset(), expect.data(), expect.size()), 0);
  EXPECT_EQ(t->checksum(), rt::milm64(expect.data(), expect.size()));
  EXPECT_TRUE(a.verifyChecksums(nullptr, &err)) << err;
}

TEST_F(ArtifactTest, WriterRejectsBadSpecs) {
  auto err = [&](auto mutate) {
    auto g = fake::makeFakeArtifact(dir, kHostTriple);
    mutate(g->spec);
    return errorOf(artifact::writeArtifact(dir + "/bad.milm", g->spec));
  };
  const std::string p = dir + "/bad.milm";
  EXPECT_EQ(err([](artifact::ArtifactSpec &s) { s.weights[1].offset += 8; }),
            p + ": tensor 'output.weight': offset 8 is not a multiple of 64");
  EXPECT_EQ(err([](artifact::ArtifactSpec &s) { s.weights[0].offset = 64; }),
            p + ": tensor 'token_embd.weight' at offset 64 overlaps tensor 'output.weight' "
                "(ends at 409600)");
  EXPECT_EQ(err([](artifact::ArtifactSpec &s) { s.weights[0].shape = {fake::kVocab, 9}; }),
            p + ": tensor 'token_embd.weight': size 10240 does not match f32 [320, 9] "
                "(11520 bytes)");
  EXPECT_EQ(err([](artifact::ArtifactSpec &s) {
              s.weights[0].format = 2;
              s.weights[0].shape = {fake::kVocab, 10};
            }),
            p + ": tensor 'token_embd.weight': shape [320, 10] does not fit storage format q4_0");
  EXPECT_EQ(err([](artifact::ArtifactSpec &s) { s.weights[0].format = 5; }),
            p + ": tensor 'token_embd.weight': unknown storage format 5");
  EXPECT_EQ(err([](artifact::ArtifactSpec &s) { s.weights[2].repackUnit = 64; }),
            p + ": tensor 'blk.0.ffn_up_exps.weight': a repack needs both its function and its "
                "unit");
  EXPECT_EQ(err([](artifact::ArtifactSpec &s) {
              s.weights[2].repackUnit = 96;
              s.weights[2].repack = [](llvm::ArrayRef<uint8_t>, llvm::MutableArrayRef<uint8_t>) {};
            }),
            p + ": tensor 'blk.0.ffn_up_exps.weight': size 256 is not a multiple of the repack "
                "unit (96 bytes)");
  // q4_0x8 needs whole groups of 8 rows.
  EXPECT_EQ(err([](artifact::ArtifactSpec &s) {
              s.weights[0].format = 0x102;
              s.weights[0].shape = {4, 32};
              s.weights[0].size = 72;
            }),
            p + ": tensor 'token_embd.weight': q4_0x8 needs a row count that is a multiple of 8, "
                "shape is [4, 32]");
  EXPECT_EQ(err([](artifact::ArtifactSpec &s) { s.weights[2].parts[1].size -= 4; }),
            p + ": tensor 'blk.0.ffn_up_exps.weight': parts add up to 252 bytes, expected 256");
  EXPECT_EQ(err([](artifact::ArtifactSpec &s) { s.weights[2].name = "output.weight"; }),
            p + ": tensor 'output.weight': listed twice");
  EXPECT_EQ(err([&](artifact::ArtifactSpec &s) { s.weights[0].parts[0].offset = 200; }),
            dir + "/emb.bin: tensor 'token_embd.weight': bytes [200, 10440) extend past the "
                  "end of the file (10340 bytes)");
  EXPECT_EQ(err([&](artifact::ArtifactSpec &s) { s.weights[0].parts[0].file = dir + "/nope"; }),
            dir + "/nope: cannot open (tensor 'token_embd.weight'): No such file or directory");
  EXPECT_EQ(err([](artifact::ArtifactSpec &s) { s.weightsSize = 64; }),
            p + ": tensor 'blk.0.ffn_up_exps.weight' ends at 420096, past the weight "
                "section's size 64");
  // Failures leave nothing behind.
  EXPECT_FALSE(llvm::sys::fs::exists(p));
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec))
    EXPECT_EQ(llvm::StringRef(it->path()).find(".tmp-"), llvm::StringRef::npos) << it->path();
}

TEST_F(ArtifactTest, FailedWriteKeepsTheOldFile) {
  write();
  std::string before = bytes();
  f->spec.weights[0].parts[0].file = dir + "/missing.bin";
  EXPECT_NE(errorOf(artifact::writeArtifact(path, f->spec)), "");
  EXPECT_EQ(bytes(), before);
}

//===---- loader errors ---------------------------------------------------------===//

TEST_F(ArtifactTest, OpensFromMemory) {
  // What `milmc compile --embed-weights` links into the executable: the same
  // bytes, the same checks, errors named after the given name; nothing copied.
  write();
  std::string b = bytes();
  void *mem = nullptr;
  ASSERT_EQ(posix_memalign(&mem, 65536, b.size() + 64), 0);
  uint8_t *p = static_cast<uint8_t *>(mem);
  memcpy(p, b.data(), b.size());
  Artifact a;
  std::string err;
  ASSERT_TRUE(a.openMemory(p, b.size(), "<embedded>", &err)) << err;
  EXPECT_EQ(a.path(), "<embedded>");
  EXPECT_EQ(a.fileSize(), b.size());
  EXPECT_EQ(a.weights(), p + a.weightsOffset());
  EXPECT_TRUE(a.tokenizer().valid()) << a.tokenizerError();
  EXPECT_TRUE(a.checkAgainst(desc, &err)) << err;
  EXPECT_TRUE(a.verifyChecksums(nullptr, &err)) << err;
  a.close(); // does not unmap or free borrowed bytes
  // Load::Read copies them into memory of its own, which close() gives back.
  ASSERT_TRUE(a.openMemory(p, b.size(), "<embedded>", &err, Artifact::Load::Read)) << err;
  EXPECT_NE(a.weights(), p + a.weightsOffset());
  EXPECT_EQ(memcmp(a.weights() - a.weightsOffset(), p, b.size()), 0);
  EXPECT_TRUE(a.verifyChecksums(nullptr, &err)) << err;
  a.close();
  EXPECT_EQ(memcmp(p, b.data(), b.size()), 0);
  EXPECT_FALSE(a.openMemory(p, b.size() - 100, "<embedded>", &err));
  EXPECT_EQ(err.rfind("<embedded>: truncated: weight section ends at byte ", 0), 0u) << err;
  EXPECT_FALSE(a.openMemory(p, 5, "<embedded>", &err));
  EXPECT_EQ(err, "<embedded>: truncated: the file has 5 bytes, too few for a milm header");
  memmove(p + 8, p, b.size());
  EXPECT_FALSE(a.openMemory(p + 8, b.size(), "<embedded>", &err));
  EXPECT_NE(err.find("<embedded>: the artifact at address "), std::string::npos) << err;
  EXPECT_NE(err.find("is not 64-byte aligned"), std::string::npos) << err;
  memmove(p, p + 8, b.size());
  p[b.size() - 1] ^= 1;
  ASSERT_TRUE(a.openMemory(p, b.size(), "<embedded>", &err)) << err;
  EXPECT_FALSE(a.verifyChecksums(nullptr, &err));
  EXPECT_NE(err.find("<embedded>: tensor '"), std::string::npos) << err;
  EXPECT_NE(err.find("checksum mismatch"), std::string::npos) << err;
  a.close();
  free(mem);
}

TEST_F(ArtifactTest, Truncated) {
  write();
  std::string b = bytes();
  Artifact a;
  std::string err;
  ASSERT_TRUE(a.open(path.c_str(), &err));
  const uint64_t end = a.weightsOffset() + a.weightsSize();
  a.close();
  fake::writeFileBytes(path, b.substr(0, b.size() - 100));
  EXPECT_EQ(load(path), path + ": truncated: weight section ends at byte " + std::to_string(end) +
                            " but the file has " + std::to_string(b.size() - 100) + " bytes");
  fake::writeFileBytes(path, b.substr(0, 1000));
  uint32_t header = 0;
  memcpy(&header, b.data(), 4);
  EXPECT_EQ(load(path), path + ": truncated: header ends at byte " + std::to_string(header + 4) +
                            " but the file has 1000 bytes");
  fake::writeFileBytes(path, b.substr(0, 5));
  EXPECT_EQ(load(path), path + ": truncated: the file has 5 bytes, too few for a milm header");
}

TEST_F(ArtifactTest, ChecksumMismatch) {
  write();
  std::string b = bytes();
  Artifact a;
  std::string err;
  ASSERT_TRUE(a.open(path.c_str(), &err));
  const fb::Tensor *emb = a.header().tensors()->Get(1);
  const uint64_t at = a.weightsOffset() + emb->offset() + 123;
  a.close();
  b[at] ^= 0x10;
  fake::writeFileBytes(path, b);
  EXPECT_EQ(load(path), path + ": tensor 'token_embd.weight': checksum mismatch");
  rt::ThreadPool pool;
  pool.start(2);
  ASSERT_TRUE(a.open(path.c_str(), &err)) << err; // structure is fine
  EXPECT_FALSE(a.verifyChecksums(&pool, &err));
  EXPECT_EQ(err, path + ": tensor 'token_embd.weight': checksum mismatch");
}

// A file whose tensors carry no checksums is refused: verification cannot be
// turned off by the file.
TEST_F(ArtifactTest, WithoutChecksums) {
  f->spec.checksums = false;
  write();
  EXPECT_EQ(load(path),
            path + ": corrupt header: the tensors have no checksums (checksum kind none)");
}

// Every header byte is covered: a damaged token text, config value or tensor
// table entry is an error, not different text.
TEST_F(ArtifactTest, HeaderChecksum) {
  write();
  const std::string b = bytes();
  const uint64_t headerEnd = 4 + uint64_t(uint8_t(b[0])) + (uint64_t(uint8_t(b[1])) << 8) +
                             (uint64_t(uint8_t(b[2])) << 16) + (uint64_t(uint8_t(b[3])) << 24);
  ASSERT_EQ(b.compare(headerEnd, 8, "MILMHSUM"), 0);
  size_t at = b.find("RuntimeTest"); // the producer string, which nothing else checks
  ASSERT_NE(at, std::string::npos);
  std::string c = b;
  c[at] = 'r';
  fake::writeFileBytes(path, c);
  EXPECT_EQ(load(path), path + ": header checksum mismatch (the config, tokenizer or tensor "
                               "table is damaged)");
  c = b;
  c[headerEnd + 8] ^= 1; // the stored sum
  fake::writeFileBytes(path, c);
  EXPECT_EQ(load(path), path + ": header checksum mismatch (the config, tokenizer or tensor "
                               "table is damaged)");
  c = b;
  c[headerEnd] = 'X'; // the magic
  fake::writeFileBytes(path, c);
  EXPECT_EQ(load(path), path + ": corrupt header: no header checksum at byte " +
                            std::to_string(headerEnd));
  // Any single flipped byte of the header is caught.
  for (uint64_t i = 12; i < headerEnd; i += 7) {
    c = b;
    c[i] ^= 0x20;
    fake::writeFileBytes(path, c);
    EXPECT_NE(load(path), "") << "byte " << i;
  }
}

TEST_F(ArtifactTest, WrongIdentifier) {
  write();
  std::string b = bytes();
  memcpy(&b[8], "GGUF", 4);
  fake::writeFileBytes(path, b);
  EXPECT_EQ(load(path),
            path + ": not a milm model (identifier 'GGUF' at byte 8, expected 'MILM')");
  b[9] = '\n';
  fake::writeFileBytes(path, b);
  EXPECT_EQ(load(path),
            path + ": not a milm model (identifier 'G\\x0aUF' at byte 8, expected 'MILM')");
}

TEST_F(ArtifactTest, Versions) {
  f->spec.formatMajor = 2;
  f->spec.formatMinor = 0;
  write();
  EXPECT_EQ(load(path), path + ": format version 2.0 is newer than this runtime (1.x)");
  f->spec.formatMajor = 0;
  f->spec.formatMinor = 3;
  write();
  EXPECT_EQ(load(path), path + ": format version 0.3 is older than this runtime reads (1.x)");
  f->spec.formatMajor = 1;
  f->spec.formatMinor = 7; // newer minor: only added fields, still loads
  write();
  EXPECT_EQ(load(path), "");
}

TEST_F(ArtifactTest, CorruptHeader) {
  write();
  std::string b = bytes();
  std::string c = b;
  memset(&c[4], 0xff, 4); // root offset points nowhere
  fake::writeFileBytes(path, c);
  EXPECT_EQ(load(path), path + ": corrupt header: no format version");
  // Make a tensor name's length absurd.
  c = b;
  const std::string name = "blk.0.ffn_up_exps.weight";
  size_t at = c.find(name);
  ASSERT_NE(at, std::string::npos);
  memset(&c[at - 4], 0x7f, 4); // the string's length
  fake::writeFileBytes(path, c);
  EXPECT_EQ(load(path), path + ": corrupt header: FlatBuffers verification failed");
}

TEST_F(ArtifactTest, RandomDamageNeverCrashes) {
  // Flipped bytes in the header and random truncations: open() either succeeds
  // (the damage hit something it does not check, such as a token's text) or
  // says what is wrong in one line; it never crashes.
  write();
  const std::string b = bytes();
  uint32_t header = 0;
  memcpy(&header, b.data(), 4);
  std::mt19937 rng(7);
  int failures = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::string c = b;
    if (trial % 4 == 3) {
      c.resize(rng() % b.size());
    } else {
      for (int k = 0; k < 1 + trial % 3; ++k)
        c[rng() % (header + 4)] ^= char(1 + rng() % 255);
    }
    fake::writeFileBytes(path, c);
    Artifact a;
    std::string err;
    if (a.open(path.c_str(), &err)) {
      a.checkAgainst(desc, &err);
      a.verifyChecksums(nullptr, &err);
      if (a.tokenizer().valid())
        a.tokenizer().encode("Once upon a time", true);
    } else {
      ++failures;
      EXPECT_EQ(err.rfind(path + ": ", 0), 0u) << err;
      EXPECT_EQ(err.find('\n'), std::string::npos) << err;
    }
  }
  EXPECT_GT(failures, 100);
}

TEST_F(ArtifactTest, MismatchWithTheBinary) {
  write();
  desc.target = "aarch64-unknown-linux-gnu";
  if (std::string(kHostTriple) == desc.target)
    desc.target = "x86_64-unknown-linux-gnu";
  EXPECT_EQ(load(path), path + ": built for " + kHostTriple + ", this binary is " + desc.target);
  desc.target = kHostTriple;
  desc.model_hash = 1;
  EXPECT_EQ(load(path), path + ": model hash 0x6d696c6d66616b65 does not match this binary's "
                               "0x0000000000000001 (compiled from another model, or by another "
                               "milmc version)");
  desc.model_hash = fake::kHash;
  desc.vocab_size = 321;
  EXPECT_EQ(load(path), path + ": vocab_size 320 does not match this binary's 321");
  desc.vocab_size = fake::kVocab;
  desc.weights_bytes += 64;
  EXPECT_EQ(load(path), path + ": weight section has 420096 bytes, this binary's model reads "
                               "420160");
  desc.weights_bytes -= 64;
  desc.abi_version = 99;
  EXPECT_EQ(load(path), path + ": this binary's model code has ABI version 99, the runtime "
                               "expects " + std::to_string(MILM_MODEL_ABI_VERSION));
  desc.abi_version = MILM_MODEL_ABI_VERSION;
  EXPECT_EQ(load(path), "");
}

TEST_F(ArtifactTest, NotAFile) {
  EXPECT_EQ(load(dir + "/none.milm"), dir + "/none.milm: cannot open: No such file or directory");
  EXPECT_EQ(load(dir), dir + ": not a regular file");
}

TEST_F(ArtifactTest, UnsupportedTokenizerIsLazy) {
  f->spec.tokenizer.model = "bert";
  write();
  Artifact a;
  std::string err;
  ASSERT_TRUE(a.open(path.c_str(), &err)) << err;
  EXPECT_FALSE(a.tokenizer().valid());
  EXPECT_EQ(a.tokenizerError(),
            path + ": tokenizer: unsupported model 'bert' (supported: llama, gpt2)");
}

/// A header built by hand, for tensor tables the writer would refuse.
std::string rawArtifact(uint64_t tOffset, uint64_t tSize, uint32_t format,
                        std::vector<int64_t> shape, uint64_t sectionSize, uint16_t minor = 1,
                        uint8_t kind = fb::ChecksumKind_Milm64) {
  flatbuffers::FlatBufferBuilder fbb;
  auto name = fbb.CreateString("w");
  auto sh = fbb.CreateVector(shape);
  std::vector<flatbuffers::Offset<fb::Tensor>> ts = {
      fb::CreateTensor(fbb, name, format, sh, tOffset, tSize, 0)};
  auto tv = fbb.CreateVector(ts);
  auto target = fbb.CreateString(kHostTriple);
  auto cfg = fb::CreateModelConfig(fbb);
  auto tok = fb::CreateTokenizer(fbb);
  fb::FormatVersion v(1, minor);
  auto m = fb::CreateModel(fbb, &v, 0, target, 0, 0, cfg, tok, fb::ChecksumKind(kind), 65536,
                           sectionSize, 65536, tv);
  fb::FinishSizePrefixedModelBuffer(fbb, m);
  std::string out(reinterpret_cast<const char *>(fbb.GetBufferPointer()), fbb.GetSize());
  const uint64_t sum = rt::milm64(out.data(), out.size());
  out += "MILMHSUM";
  for (int i = 0; i < 8; ++i)
    out += char(uint8_t(sum >> (8 * i)));
  out.resize(65536 + sectionSize, '\0');
  return out;
}

/// Writes `content` to `path` and opens it: "" or open()'s error.
std::string openError(const std::string &path, const std::string &content) {
  fake::writeFileBytes(path, content);
  Artifact a;
  std::string e;
  return a.open(path.c_str(), &e) ? std::string() : e;
}

TEST_F(ArtifactTest, OldFormatAndUnknownChecksumKind) {
  auto err = [&](const std::string &content) { return openError(path, content); };
  EXPECT_EQ(err(rawArtifact(0, 64, 0, {16}, 128)), "");
  EXPECT_EQ(err(rawArtifact(0, 64, 0, {16}, 128, /*minor=*/0)),
            path + ": format version 1.0 has no header checksum (written by an older milmc): "
                   "compile the model again");
  EXPECT_EQ(err(rawArtifact(0, 64, 0, {16}, 128, 1, /*kind=*/7)),
            path + ": corrupt header: unknown checksum kind 7 (this runtime verifies milm64)");
  EXPECT_EQ(err(rawArtifact(0, 64, 0, {16}, 128, 1, fb::ChecksumKind_None)),
            path + ": corrupt header: the tensors have no checksums (checksum kind none)");
}

TEST_F(ArtifactTest, BadTensorTables) {
  auto err = [&](const std::string &content) { return openError(path, content); };
  EXPECT_EQ(err(rawArtifact(0, 64, 0, {16}, 128)), "");
  EXPECT_EQ(err(rawArtifact(32, 64, 0, {16}, 128)),
            path + ": tensor 'w': offset 32 in the weight section is not 64-byte aligned");
  EXPECT_EQ(err(rawArtifact(64, 128, 0, {32}, 128)),
            path + ": tensor 'w': bytes [64, 192) extend past the weight section (128 bytes)");
  EXPECT_EQ(err(rawArtifact(0, 64, 0, {17}, 128)),
            path + ": tensor 'w': size 64 does not match f32 [17] (68 bytes)");
  EXPECT_EQ(err(rawArtifact(0, 18, 2, {2, 16}, 128)),
            path + ": tensor 'w': shape [2, 16] does not fit storage format q4_0");
  EXPECT_EQ(err(rawArtifact(0, 36, 2, {2, 32}, 128)), "");
  EXPECT_EQ(err(rawArtifact(0, 36, 4, {2, 32}, 128)),
            path + ": tensor 'w': unknown storage format 4");
  EXPECT_EQ(err(rawArtifact(0, 100, 1000, {7}, 128)),
            path + ": tensor 'w': unknown storage format 1000");
  // q4_0x8 (0x102): q4_0's bytes, rows interleaved by 8.
  EXPECT_EQ(err(rawArtifact(0, 144, 0x102, {8, 32}, 256)), "");
  EXPECT_EQ(err(rawArtifact(0, 128, 0x102, {8, 32}, 256)),
            path + ": tensor 'w': size 128 does not match q4_0x8 [8, 32] (144 bytes)");
  // q8_0x8 (0x108): q8_0's bytes, rows interleaved by 8.
  EXPECT_EQ(err(rawArtifact(0, 272, 0x108, {8, 32}, 384)), "");
  EXPECT_EQ(err(rawArtifact(0, 256, 0x108, {8, 32}, 384)),
            path + ": tensor 'w': size 256 does not match q8_0x8 [8, 32] (272 bytes)");
}

TEST(RuntimeFormats, AgreeWithTheCompiler) {
  size_t count = 0;
  const StorageFormatInfo *all = allStorageFormats(count);
  for (size_t i = 0; i < count; ++i) {
    uint64_t elems = 0, bytes = 0;
    ASSERT_TRUE(rt::ggmlFormatBlock(uint32_t(all[i].format), &elems, &bytes)) << all[i].name;
    EXPECT_EQ(elems, all[i].blockElems) << all[i].name;
    EXPECT_EQ(bytes, all[i].blockBytes) << all[i].name;
  }
  for (uint32_t t = 0; t < 256; ++t) {
    uint64_t e, b;
    EXPECT_EQ(rt::ggmlFormatBlock(t, &e, &b), lookupStorageFormat(t) != nullptr) << t;
  }
  // Packed layouts: their base format's blocks.
  uint64_t e = 0, b = 0;
  for (const PackedLayoutInfo &p : kPackedLayouts) {
    ASSERT_TRUE(rt::ggmlFormatBlock(p.code, &e, &b)) << p.name;
    EXPECT_EQ(e, info(p.base).blockElems) << p.name;
    EXPECT_EQ(b, info(p.base).blockBytes) << p.name;
    EXPECT_EQ(p.code, (p.rowGroup == 32 ? 0x200u : 0x100u) + uint32_t(p.base)) << p.name;
    EXPECT_TRUE(p.rowGroup == 8 || p.rowGroup == 32) << p.name;
    EXPECT_EQ(lookupPackedLayout(p.code), &p) << p.name;
    EXPECT_EQ(packedLayoutFor(p.base, p.rowGroup), &p) << p.name;
    EXPECT_EQ(packedLayoutNamed(p.name), &p) << p.name;
  }
  EXPECT_FALSE(rt::ggmlFormatBlock(0x101, &e, &b));
  EXPECT_EQ(lookupPackedLayout(0x101), nullptr);
  EXPECT_EQ(packedLayoutFor(StorageFormat::Q4_1), nullptr);
  EXPECT_EQ(packedLayoutFor(StorageFormat::Q4_K, 32), nullptr);
  ASSERT_NE(packedLayoutFor(StorageFormat::Q8_0, 32), nullptr);
  EXPECT_EQ(packedLayoutFor(StorageFormat::Q8_0, 32)->name, "q8_0x32");
  EXPECT_EQ(packedLayoutFor(StorageFormat::Q8_0, 32)->code, kPackedQ8_0_X32.code);
  ASSERT_NE(packedLayoutFor(StorageFormat::Q8_0, 8), nullptr);
  EXPECT_EQ(packedLayoutFor(StorageFormat::Q8_0, 8)->name, "q8_0x8");
  EXPECT_EQ(packedLayoutNamed("q8_0x16"), nullptr);
}

} // namespace
