//===- OpLayerTest.cpp - The op layer's ABI, as the lowering sees it ------===//
#include "codegen/cpu/OpLayer.h"

#include "gtest/gtest.h"

#include <string>
#include <type_traits>
#include <vector>

using namespace milm;

namespace {

std::vector<std::string> names(const OpSpec &op) {
  std::vector<std::string> out;
  for (const OpParam &p : op.params)
    out.push_back(p.name);
  return out;
}

using Args = std::vector<std::pair<llvm::StringRef, OpArgKind>>;

Args linearArgs() {
  return {{"ex", OpArgKind::PTR},        {"format", OpArgKind::I32}, {"w", OpArgKind::PTR},
          {"bias", OpArgKind::PTR},      {"x", OpArgKind::PTR},      {"T", OpArgKind::I64},
          {"K", OpArgKind::I64},         {"N", OpArgKind::I64},      {"y", OpArgKind::PTR},
          {"xq_scratch", OpArgKind::PTR}, {"xq_ready", OpArgKind::I32}, {"side", OpArgKind::PTR},
          {"cols", OpArgKind::PTR},       {"k", OpArgKind::I64}};
}

} // namespace

// The tables are the C prototypes' parameters, in order: the same list makes both.
TEST(OpLayerTest, TablesFollowThePrototypes) {
  EXPECT_STREQ(kOp_linear.symbol, "milm_op_linear");
  EXPECT_EQ(names(kOp_linear), (std::vector<std::string>{"ex", "format", "w", "bias", "x", "T",
                                                         "K", "N", "y", "xq_scratch",
                                                         "xq_ready", "side", "cols", "k"}));
  static_assert(std::is_same_v<decltype(milm_op_linear),
                               void(milm_exec *, uint32_t, const void *, const float *,
                                    const float *, int64_t, int64_t, int64_t, float *, void *,
                                    int32_t, const uint16_t *, const int32_t *, int64_t)>);
  static_assert(std::is_same_v<decltype(milm_op_rope),
                               void(float *, int64_t, int64_t, int64_t, const int32_t *, int32_t,
                                    int32_t, float, int32_t, float, int32_t)>);
  EXPECT_EQ(kOp_embedding.params.size(), 6u);
  EXPECT_EQ(kOp_logits.params.size(), 10u);
  EXPECT_EQ(kOp_rope.params.size(), 11u);
  EXPECT_EQ(kOp_attention.params.size(), 13u);
  EXPECT_EQ(kOp_moe.params.size(), 19u);
  EXPECT_EQ(kOp_rope.params[7].kind, OpArgKind::F32);
  EXPECT_STREQ(kOp_rope.params[7].name, "base");
}

// Arguments come by name in any order and leave in the C order.
TEST(OpLayerTest, NamedArgumentsAreOrdered) {
  Args args = linearArgs();
  std::swap(args[6], args[7]); // N given before K
  std::swap(args[0], args[10]);
  llvm::SmallVector<unsigned> order;
  ASSERT_EQ(orderOpArgs(kOp_linear, args, order), "");
  ASSERT_EQ(order.size(), 14u);
  for (size_t i = 0; i < order.size(); ++i)
    EXPECT_STREQ(args[order[i]].first.str().c_str(), kOp_linear.params[i].name);
  EXPECT_EQ(args[order[6]].first, "K");
  EXPECT_EQ(args[order[7]].first, "N");
}

TEST(OpLayerTest, MistakesAreRefused) {
  llvm::SmallVector<unsigned> order;
  Args missing = linearArgs();
  missing.erase(missing.begin() + 7);
  EXPECT_EQ(orderOpArgs(kOp_linear, missing, order), "milm_op_linear: parameter 'N' not given");

  Args unknown = linearArgs();
  unknown[7].first = "M";
  EXPECT_EQ(orderOpArgs(kOp_linear, unknown, order), "milm_op_linear has no parameter 'M'");

  Args twice = linearArgs();
  twice.push_back({"K", OpArgKind::I64});
  EXPECT_EQ(orderOpArgs(kOp_linear, twice, order),
            "milm_op_linear: parameter 'K' given twice");

  Args kind = linearArgs();
  kind[6].second = OpArgKind::I32; // K as i32
  EXPECT_EQ(orderOpArgs(kOp_linear, kind, order),
            "milm_op_linear: parameter 'K' takes i64, given i32");
}
