// The weight store that passes write created weights to (passes/WeightStore.h):
// entries 64-byte aligned after a 64-byte header, kept across reopening and
// read back through the milm.weight ops that reference them; foreign, stale
// and special files refused untouched; write failures reported as one line.
#include "passes/WeightStore.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <sys/resource.h>

using namespace milm;
namespace mm = mlir::milm;

namespace {

struct WeightStoreTest : ::testing::Test {
  WeightStoreTest() {
    ctx.loadDialect<mm::MilmDialect>();
    llvm::SmallString<128> d;
    EXPECT_FALSE(llvm::sys::fs::createUniqueDirectory("milm-weight-store-test", d));
    dir = std::string(d);
    path = dir + "/w.milmstore";
  }
  ~WeightStoreTest() override { llvm::sys::fs::remove_directories(dir); }

  mm::WeightType type(llvm::ArrayRef<int64_t> shape, mm::WeightFormat f) {
    return mm::WeightType::get(&ctx, shape, f);
  }
  static std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i)
      v[i] = uint8_t(seed + i * 7);
    return v;
  }
  std::string fileBytes(const std::string &p) {
    auto buf = llvm::MemoryBuffer::getFile(p);
    EXPECT_TRUE(bool(buf)) << p;
    return buf ? (*buf)->getBuffer().str() : std::string();
  }
  void writeFile(const std::string &p, llvm::StringRef bytes) {
    std::error_code ec;
    llvm::raw_fd_ostream os(p, ec);
    ASSERT_FALSE(ec);
    os << bytes;
  }
  std::string openError(const std::string &p) {
    auto store = WeightStore::open(p);
    if (store)
      return "opened";
    return llvm::toString(store.takeError());
  }

  mlir::MLIRContext ctx;
  std::string dir, path;
};

TEST_F(WeightStoreTest, AppendsAlignedEntriesKeptAcrossReopening) {
  auto q8 = type({4, 32}, mm::WeightFormat::q8_0); // 4 rows of one 34-byte block
  auto f32 = type({3}, mm::WeightFormat::f32);     // 12 bytes
  std::vector<uint8_t> a = pattern(136, 1), b = pattern(12, 2), c = pattern(136, 3);
  {
    auto store = WeightStore::open(path);
    ASSERT_TRUE(bool(store)) << llvm::toString(store.takeError());
    EXPECT_EQ((*store)->path(), path);
    auto ra = (*store)->append(q8, a);
    ASSERT_TRUE(bool(ra)) << llvm::toString(ra.takeError());
    EXPECT_EQ(ra->file, path);
    EXPECT_EQ(ra->offset, 64u);
    EXPECT_EQ(ra->type, q8);
    auto rb = (*store)->append(f32, b);
    ASSERT_TRUE(bool(rb)) << llvm::toString(rb.takeError());
    EXPECT_EQ(rb->offset, 256u); // 64 + 136 = 200, up to 256
    EXPECT_EQ((*store)->end(), 320u);
  }
  // Reopened, the store appends after what is there and keeps it.
  {
    auto store = WeightStore::open(path);
    ASSERT_TRUE(bool(store)) << llvm::toString(store.takeError());
    EXPECT_EQ((*store)->end(), 320u);
    auto rc = (*store)->append(q8, c);
    ASSERT_TRUE(bool(rc)) << llvm::toString(rc.takeError());
    EXPECT_EQ(rc->offset, 320u);
  }
  std::string bytes = fileBytes(path);
  ASSERT_EQ(bytes.size(), 320u + 136u);
  EXPECT_EQ(bytes.substr(0, 8), "MILMSTOR");
  EXPECT_EQ(bytes.substr(8, 8), std::string("\x01\0\0\0\x40\0\0\0", 8)); // version 1, 64
  EXPECT_EQ(bytes.substr(16, 48), std::string(48, '\0'));
  EXPECT_EQ(bytes.substr(64, 136), std::string(a.begin(), a.end()));
  EXPECT_EQ(bytes.substr(256, 12), std::string(b.begin(), b.end()));
  EXPECT_EQ(bytes.substr(320, 136), std::string(c.begin(), c.end()));
}

TEST_F(WeightStoreTest, OpsReferenceStoredBytesLikeModelFiles) {
  // A stacked weight (the safetensors importer's Mixtral experts) becomes one
  // stored weight; readWeightBytes reads both forms.
  std::string parts = dir + "/parts.bin";
  std::vector<uint8_t> e0 = pattern(8, 10), e1 = pattern(8, 20);
  std::string file(100, 'x');
  file.replace(10, 8, std::string(e0.begin(), e0.end()));
  file.replace(50, 8, std::string(e1.begin(), e1.end()));
  writeFile(parts, file);

  mlir::OpBuilder b(&ctx);
  auto module = mlir::ModuleOp::create(b.getUnknownLoc());
  b.setInsertionPointToEnd(module.getBody());
  auto t = type({2, 4}, mm::WeightFormat::f16);
  auto op = mm::WeightOp::create(b, b.getUnknownLoc(), t, b.getStringAttr("experts"),
                                 mlir::StringAttr(), mlir::IntegerAttr(),
                                 b.getStrArrayAttr({parts, parts}),
                                 b.getDenseI64ArrayAttr({10, 50}));
  auto before = readWeightBytes(op);
  ASSERT_TRUE(bool(before)) << llvm::toString(before.takeError());
  std::vector<uint8_t> want = e0;
  want.insert(want.end(), e1.begin(), e1.end());
  EXPECT_EQ(*before, want);

  auto store = WeightStore::open(path);
  ASSERT_TRUE(bool(store)) << llvm::toString(store.takeError());
  auto ref = (*store)->append(t, *before);
  ASSERT_TRUE(bool(ref)) << llvm::toString(ref.takeError());
  setWeightReference(op, *ref);
  EXPECT_EQ(op.getFile(), std::optional<llvm::StringRef>(path));
  EXPECT_EQ(op.getOffset(), std::optional<uint64_t>(64));
  EXPECT_FALSE(op.getPartFiles());
  EXPECT_FALSE(op.getPartOffsets());
  EXPECT_TRUE(mlir::succeeded(mlir::verify(op)));
  auto after = readWeightBytes(op);
  ASSERT_TRUE(bool(after)) << llvm::toString(after.takeError());
  EXPECT_EQ(*after, want);

  // A reference past the end of its file is an error naming both.
  op.setOffsetAttr(b.getI64IntegerAttr(200));
  auto past = readWeightBytes(op);
  ASSERT_FALSE(bool(past));
  EXPECT_EQ(llvm::toString(past.takeError()),
            path + ": weight 'experts': bytes [200, 216) extend past the end of the file (80 bytes)");
  module->erase();
}

TEST_F(WeightStoreTest, RefusesForeignStaleAndSpecialFilesUntouched) {
  std::string gguf = std::string("GGUF\x03\0\0\0", 8) + std::string(120, '\x07');
  writeFile(path, gguf);
  EXPECT_EQ(openError(path),
            path + ": not a milm weight store (no MILMSTOR header); refusing to append to it");
  EXPECT_EQ(fileBytes(path), gguf);

  writeFile(path, "short");
  EXPECT_EQ(openError(path), path + ": not a milm weight store (5 bytes, shorter than its header)");
  EXPECT_EQ(fileBytes(path), "short");

  std::string v2 = std::string("MILMSTOR\x02\0\0\0\x40\0\0\0", 16) + std::string(48, '\0');
  writeFile(path, v2);
  EXPECT_EQ(openError(path), path + ": a weight store of version 2 with 64-byte entries; this "
                                    "milm writes version 1 with 64-byte entries (delete it)");
  EXPECT_EQ(fileBytes(path), v2);

  EXPECT_EQ(openError("/dev/null"), "/dev/null: cannot use as a weight store: not a regular file");
  EXPECT_EQ(openError(dir), dir + ": cannot open the weight store: Is a directory");
  EXPECT_EQ(openError(dir + "/missing/w.milmstore"),
            dir + "/missing/w.milmstore: cannot open the weight store: No such file or directory");
  EXPECT_EQ(openError("/proc/w.milmstore").rfind("/proc/w.milmstore: cannot open the weight store: ", 0),
            0u);

  // An empty file (as mktemp leaves) becomes a store.
  writeFile(path, "");
  EXPECT_EQ(openError(path), "opened");
  EXPECT_EQ(fileBytes(path).substr(0, 8), "MILMSTOR");
}

TEST_F(WeightStoreTest, RefusesBytesThatAreNotTheWeightsSize) {
  auto store = WeightStore::open(path);
  ASSERT_TRUE(bool(store)) << llvm::toString(store.takeError());
  auto r = (*store)->append(type({2, 32}, mm::WeightFormat::q4_0), pattern(35, 0));
  ASSERT_FALSE(bool(r));
  EXPECT_EQ(llvm::toString(r.takeError()),
            path + ": cannot store 35 bytes as !milm.weight<2x32xq4_0>, which takes 36");
  EXPECT_EQ((*store)->end(), 64u);
}

// A write that fails part-way (here the file size limit, as `ulimit -f` sets
// it, with SIGXFSZ ignored as milmc does) is one error line; the next entry
// goes past the partial bytes. In a child process, since the limit is the
// process's; the child (a fresh run of this test) has its own folder.
TEST_F(WeightStoreTest, WriteFailureIsOneErrorLine) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto child = [&]() -> int {
    signal(SIGXFSZ, SIG_IGN);
    auto store = WeightStore::open(path);
    if (!store)
      return 2;
    rlimit lim;
    getrlimit(RLIMIT_FSIZE, &lim);
    rlimit small = lim;
    small.rlim_cur = 4096;
    setrlimit(RLIMIT_FSIZE, &small);
    auto r = (*store)->append(type({8192}, mm::WeightFormat::f16), pattern(16384, 0));
    if (r)
      return 3;
    llvm::errs() << llvm::toString(r.takeError()) << "\n";
    setrlimit(RLIMIT_FSIZE, &lim);
    auto next = (*store)->append(type({4}, mm::WeightFormat::f32), pattern(16, 0));
    return next && next->offset == 64 + 16384 ? 0 : 4;
  };
  EXPECT_EXIT(
      {
        int code = child();
        llvm::sys::fs::remove_directories(dir);
        std::exit(code);
      },
      ::testing::ExitedWithCode(0),
      "milm-weight-store-test-[0-9a-f]+/w\\.milmstore: cannot write the weight store at byte "
      "4096: File too large");
}

} // namespace
