// C++-level checks of the milm dialect: weight sizes per storage format, and
// building a model op with the builder API and verifying it.
#include "dialects/milm/MilmDialect.h"
#include "common/milm/StorageFormat.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/AsmParser/AsmParser.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::milm;

namespace {
struct DialectTest : ::testing::Test {
  DialectTest() { ctx.loadDialect<MilmDialect, func::FuncDialect>(); }
  MLIRContext ctx;
};

// Every case of the ODS enum is a format of the one table (the table's
// formats are all cases: MilmDialect.cpp checks that at compile time).
TEST_F(DialectTest, WeightFormatsAreTheTable) {
  unsigned cases = 0;
  for (uint32_t v = 0; v <= getMaxEnumValForWeightFormat(); ++v) {
    std::optional<WeightFormat> f = symbolizeWeightFormat(v);
    if (!f)
      continue;
    ++cases;
    const ::milm::StorageFormatInfo *info = ::milm::lookupStorageFormat(v);
    ASSERT_NE(info, nullptr) << "WeightFormat " << stringifyWeightFormat(*f).str();
    EXPECT_EQ(info->name, stringifyWeightFormat(*f).str());
    EXPECT_EQ(getFormatBlockSize(*f), int64_t(info->blockElems));
    EXPECT_EQ(getFormatBlockBytes(*f), int64_t(info->blockBytes));
  }
  EXPECT_EQ(cases, sizeof(::milm::kStorageFormats) / sizeof(::milm::kStorageFormats[0]));
}

TEST_F(DialectTest, WeightSizesFollowGGUFBlockLayouts) {
  struct Case {
    WeightFormat f;
    uint64_t bytesFor256x512;
  } cases[] = {
      {WeightFormat::f32, 256ull * 512 * 4}, {WeightFormat::f16, 256ull * 512 * 2},
      {WeightFormat::bf16, 256ull * 512 * 2}, {WeightFormat::q8_0, 256ull * 16 * 34},
      {WeightFormat::q4_0, 256ull * 16 * 18}, {WeightFormat::q4_1, 256ull * 16 * 20},
      {WeightFormat::q5_0, 256ull * 16 * 22}, {WeightFormat::q5_1, 256ull * 16 * 24},
      {WeightFormat::q4_k, 256ull * 2 * 144}, {WeightFormat::q5_k, 256ull * 2 * 176},
      {WeightFormat::q6_k, 256ull * 2 * 210},
  };
  for (const Case &c : cases) {
    auto t = WeightType::get(&ctx, {256, 512}, c.f);
    EXPECT_EQ(t.getSizeInBytes(), c.bytesFor256x512) << stringifyWeightFormat(c.f).str();
    EXPECT_EQ(t.getNumElements(), 256 * 512);
  }
}

TEST_F(DialectTest, WeightTypeRejectsPartialBlocks) {
  std::string diag;
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
    diag = d.str();
    return success();
  });
  auto t = WeightType::getChecked([&] { return emitError(UnknownLoc::get(&ctx)); },
                                  &ctx, ArrayRef<int64_t>{64, 96}, WeightFormat::q4_k);
  EXPECT_FALSE(t);
  EXPECT_EQ(diag, "innermost dimension 96 of a q4_k weight is not a multiple of its block size 256");
}

TEST_F(DialectTest, TypesPrintAndParseBack) {
  Type w = WeightType::get(&ctx, {4, 512, 256}, WeightFormat::q6_k);
  std::string s;
  llvm::raw_string_ostream(s) << w;
  EXPECT_EQ(s, "!milm.weight<4x512x256xq6_k>");
  EXPECT_EQ(parseType(s, &ctx), w);
  Type c = KVCacheType::get(&ctx, 2, 2, 32, 512, Float16Type::get(&ctx), {});
  s.clear();
  llvm::raw_string_ostream(s) << c;
  EXPECT_EQ(s, "!milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>");
  EXPECT_EQ(parseType(s, &ctx), c);
}

TEST_F(DialectTest, BuiltModelVerifiesAndCatchesMismatchedKVHeads) {
  OpBuilder b(&ctx);
  Location loc = b.getUnknownLoc();
  auto module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module.getBody());
  auto cfg = ModelConfigAttr::get(&ctx, "llama", 512, 512, 256, 1, 8, 2, 32, 512, 0, 0,
                                  1, 2, false, "", "", "", {}, {}, {});
  auto model = ModelOp::create(b, loc, "m", cfg);
  model.getBody().emplaceBlock();
  b.setInsertionPointToStart(&model.getBody().front());
  auto act = [&](int64_t n) { return RankedTensorType::get({ShapedType::kDynamic, n}, b.getF32Type()); };
  auto ids = RankedTensorType::get({ShapedType::kDynamic}, b.getI32Type());
  auto cache = KVCacheType::get(&ctx, 1, 2, 32, 512, b.getF16Type(), {});
  auto fn = func::FuncOp::create(b, loc, "forward",
                                 b.getFunctionType({act(256), act(64), cache, ids}, {act(256)}));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  auto attn = AttentionOp::create(b, loc, act(256), entry->getArgument(0), entry->getArgument(1),
                                  entry->getArgument(1), entry->getArgument(2),
                                  entry->getArgument(3), Value(), 0, 8, 2, 32,
                                  AttentionMask::causal, FloatAttr());
  func::ReturnOp::create(b, loc, attn.getResult());
  EXPECT_TRUE(succeeded(verify(module)));

  std::string diag;
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
    diag = d.str();
    return success();
  });
  model.setConfigAttr(ModelConfigAttr::get(&ctx, "llama", 512, 512, 256, 1, 8, 4, 32, 512, 0,
                                           0, 1, 2, false, "", "", "", {}, {}, {}));
  EXPECT_TRUE(failed(verify(module)));
  EXPECT_EQ(diag, "'milm.attention' op has 8 heads, 2 kv heads of dimension 32 but the model "
                  "config says 8, 4 and 32");
  module->erase();
}
} // namespace
