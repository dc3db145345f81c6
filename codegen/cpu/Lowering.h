//===- Lowering.h - What the CPU lowering's passes and patterns share -*- C++ -*-===//
//
// The CPU lowering is three passes (Passes.td): milm-cpu-select-layouts and
// milm-cpu-plan-buffers annotate the milm IR with the attributes named below;
// milm-convert-to-cpu (LowerToCPU.cpp) builds @milm_forward's frame (the ABI
// wrapper and its checks) and converts each op with its pattern, one file per
// op under MilmToCPU/ (Linear.cpp lowers milm.linear, and so on). A pattern
// derives from CPUOpLowering<Op>: `checkOp` refuses what the CPU cannot
// compile before anything is rewritten, `lower` emits the op's code through
// an Emitter (constants, views of the arena and weight section, op-layer
// calls by parameter name: OpLayer.h).
//
//===----------------------------------------------------------------------===//
#ifndef MILM_CODEGEN_CPU_LOWERING_H
#define MILM_CODEGEN_CPU_LOWERING_H

#include "codegen/cpu/OpLayer.h"
#include "common/milm/StorageFormat.h"
#include "dialects/milm/MilmDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Transforms/DialectConversion.h"
#include "llvm/ADT/StringMap.h"

#include <initializer_list>
#include <memory>

namespace milm {
namespace cpu {

using namespace mlir;
namespace mm = mlir::milm;

inline constexpr uint64_t kAlign = 64;
inline uint64_t alignUp(uint64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// The annotations of milm-cpu-select-layouts and milm-cpu-plan-buffers.
/// On a milm.weight: the packed layout's name ("q4_0x8") its bytes are read in.
inline constexpr const char *kLayoutAttr = "milm.layout";
/// On a milm.weight: its byte offset in the weight section.
inline constexpr const char *kSectionOffsetAttr = "milm.section_offset";
/// On an op defining an f32 activation: its region's byte offset in the arena.
inline constexpr const char *kArenaOffsetAttr = "milm.arena_offset";
/// On a milm.rope: it rotates its input's region in place.
inline constexpr const char *kInPlaceAttr = "milm.in_place";
/// On a milm.linear: the scratch already holds its input's 8-bit activations.
inline constexpr const char *kXQReadyAttr = "milm.xq_ready";
/// On the milm.model: {max_tokens, arena_bytes, weights_bytes, xq_offset,
/// moe_offset}.
inline constexpr const char *kPlanAttr = "milm.cpu_plan";

/// Bytes of one token's 8-bit activations for weight format `f` and K inputs
/// (milm_uk_act_row_bytes): 0 for the float formats.
inline uint64_t actRowBytes(mm::WeightFormat f, int64_t K) {
  // WeightFormat's numbers are the table's (MilmDialect.cpp checks it).
  return activationRowBytes(static_cast<StorageFormat>(f), static_cast<uint64_t>(K));
}

/// The model's @forward, checked to be what the CPU lowering compiles:
/// (tokens, positions, !milm.kv_cache<... f16>) -> logits in one block.
FailureOr<func::FuncOp> forwardOf(mm::ModelOp model);
/// The module's one milm.model.
FailureOr<mm::ModelOp> onlyModel(ModuleOp module, StringRef pass);

/// The packed layout `w`'s milm.layout names, when it is its format's; else
/// nullptr (no layout chosen, or a name that is not this format's layout).
const PackedLayoutInfo *packedLayoutOf(mm::WeightOp w);
/// The format code the kernels get for weight `w`: its ggml_type, or its
/// packed layout's (>= 0x100) when milm-cpu-select-layouts chose one.
int64_t kernelFormatCode(mm::WeightOp w);


/// milm_op_moe's scratch bytes for `maxTokens` tokens: logits [T, E], ids and
/// weights [T, k], gathered inputs [T, D], gate/up [T, F] x 2, outputs [T, D],
/// per-slot results [T, k, D], (token, slot) pairs [T] x 2.
inline uint64_t moeScratchBytes(uint64_t T, uint64_t E, uint64_t k, uint64_t D, uint64_t F) {
  return 4ull * (T * E + 2 * T * k + T * D + 2 * T * F + T * D + T * k * D + 2 * T);
}

/// @milm_forward as built so far: its arguments, T as an index, the plan.
struct Frame {
  int64_t maxTokens = 0;
  mm::KVCacheType cacheType;
  Value ex, weights, kv, arena, tokens, positions, T, Tidx, allLogits, logits;
  /// @forward's own arguments, which the ops must read (checked before).
  Value tokensTensor, positionsTensor, cacheTensor;
  uint64_t xqOffset = 0, moeOffset = 0;
};

/// Emits one op's code at the rewriter's insertion point.
class Emitter {
public:
  Emitter(OpBuilder &b, Location loc, const Frame &f) : b(b), loc(loc), f(f) {}

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value i64(int64_t v) { return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(v)); }
  Value i32(int64_t v) { return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v)); }
  Value f32(double v) { return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v)); }
  Value null() { return LLVM::ZeroOp::create(b, loc, ptrType()); }
  Type ptrType() { return LLVM::LLVMPointerType::get(b.getContext()); }
  /// The address of a memref's first element, for the op layer's C signature.
  Value ptrOf(Value memref) {
    Value i = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, memref);
    i = arith::IndexCastOp::create(b, loc, b.getI64Type(), i);
    return LLVM::IntToPtrOp::create(b, loc, ptrType(), i);
  }
  /// `type` viewed at byte `off` of the i8 memref `base`.
  Value view(Value base, Value off, MemRefType type) {
    return memref::ViewOp::create(b, loc, type, base, off, ValueRange{});
  }
  Value bytesAt(Value base, uint64_t off, uint64_t size) {
    return view(base, idx(static_cast<int64_t>(off)),
                MemRefType::get({static_cast<int64_t>(size)}, b.getI8Type()));
  }
  /// The max_tokens-row buffer of `result`, at the arena offset planned for its op.
  Value buffer(Value result);
  /// The first T rows of a max_tokens-row buffer.
  Value rows(Value buffer);
  /// A weight's bytes in the weight section, where milm-cpu-plan-buffers put it.
  Value weightBytes(Value weight);
  Value weightPtr(Value weight) { return ptrOf(weightBytes(weight)); }
  uint64_t weightOffset(Value weight);
  /// The format code to pass for `weight` (kernelFormatCode).
  Value formatOf(Value weight);
  /// The shared scratch regions after the activations.
  Value xqScratch() { return ptrOf(view(f.arena, idx(static_cast<int64_t>(f.xqOffset)), byte())); }
  Value moeScratch() { return ptrOf(view(f.arena, idx(static_cast<int64_t>(f.moeOffset)), byte())); }

  /// Calls op-layer function `spec` (OpLayer.h) with its arguments by name,
  /// in any order; a missing, unknown or repeated name or a value of another
  /// kind than milm_ops.h says is an error at `op`.
  LogicalResult callOp(Operation *op, const OpSpec &spec,
                       std::initializer_list<std::pair<StringRef, Value>> args);
  /// out[t, i] = fn(ins[t, i]...) over the first T rows, as a linalg.generic.
  void elementwise(ValueRange ins, Value out,
                   function_ref<Value(OpBuilder &, Location, ValueRange)> fn);

  OpBuilder &b;
  Location loc;
  const Frame &f;

private:
  MemRefType byte() { return MemRefType::get({1}, b.getI8Type()); }
  func::FuncOp declare(Operation *at, StringRef name, TypeRange args);
};

/// The milm.outlier_columns that milm_op_linear does together with `op`'s
/// product (the op layer's side/cols/k): the only user of the product,
/// reading the same input. Null when there is none.
inline mm::OutlierColumnsOp fusedOutlierColumns(mm::LinearOp op) {
  if (!op.getResult().hasOneUse())
    return nullptr;
  auto oc = llvm::dyn_cast<mm::OutlierColumnsOp>(*op.getResult().getUsers().begin());
  if (!oc || oc.getPartial() != op.getResult() || oc.getInput() != op.getInput())
    return nullptr;
  return oc;
}

/// The address of `op`'s column indices: a private constant i32 global of
/// the module (one per op), read with memref.get_global.
Value outlierColumnsTable(mm::OutlierColumnsOp op, Emitter &e, ConversionPatternRewriter &rw);

/// "cannot be compiled for the CPU: MSG" at `op`.
inline InFlightDiagnostic cannotCompile(Operation *op, const Twine &msg) {
  return op->emitOpError() << "cannot be compiled for the CPU: " << msg;
}

/// What milm-convert-to-cpu asks of every op's pattern before rewriting.
class OpCheck {
public:
  virtual ~OpCheck() = default;
  virtual LogicalResult check(Operation *op) const = 0;
};

/// One op's CPU lowering (a conversion pattern for OpTy).
template <typename OpTy>
class CPUOpLowering : public OpConversionPattern<OpTy>, public OpCheck {
public:
  using Adaptor = typename OpConversionPattern<OpTy>::OpAdaptor;
  CPUOpLowering(const TypeConverter &converter, MLIRContext *ctx, const Frame &frame)
      : OpConversionPattern<OpTy>(converter, ctx), frame(frame) {}

  LogicalResult check(Operation *op) const final { return checkOp(llvm::cast<OpTy>(op)); }
  /// Refuses, with an error at the op, what the CPU cannot compile; runs
  /// before any op is rewritten.
  virtual LogicalResult checkOp(OpTy) const { return success(); }
  /// Emits the op's code with `e` and replaces (or erases) it with `rw`.
  /// The adaptor's activations are their max_tokens-row buffers.
  virtual LogicalResult lower(OpTy op, Adaptor a, Emitter &e,
                              ConversionPatternRewriter &rw) const = 0;

  LogicalResult matchAndRewrite(OpTy op, Adaptor a,
                                ConversionPatternRewriter &rw) const final {
    Emitter e(rw, op.getLoc(), frame);
    return lower(op, a, e, rw);
  }

protected:
  const Frame &frame;
};

/// The patterns being collected, and each one's check by op name.
struct CPUPatterns {
  RewritePatternSet &set;
  const TypeConverter &converter;
  const Frame &frame;
  llvm::StringMap<const OpCheck *> checks;

  template <typename Pattern> void add() {
    auto p = std::make_unique<Pattern>(converter, set.getContext(), frame);
    checks[p->getRootKind()->getStringRef()] = p.get();
    set.add(std::move(p));
  }
};

// One function per file of MilmToCPU/, adding that file's patterns.
#define MILM_CPU_OP_LOWERINGS(X)                                                             \
  X(Embedding) X(RMSNorm) X(Linear) X(Rope) X(Hadamard) X(OutlierColumns) X(Attention)       \
      X(Elementwise) X(MoE)                                                                 \
      X(Logits)
#define MILM_DECLARE(Name) void populate##Name##Lowering(CPUPatterns &patterns);
MILM_CPU_OP_LOWERINGS(MILM_DECLARE)
#undef MILM_DECLARE

} // namespace cpu
} // namespace milm

#endif
