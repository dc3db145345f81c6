//===- Lowering.h - The CPU lowering's state, shared by its op lowerings -*- C++ -*-===//
//
// --milm-lower-to-cpu (LowerToCPU.cpp) lowers a milm.model's @forward into
// milm_forward: LowerToCPU.cpp builds the function (the ABI wrapper, the
// argument checks, arena and weight-section planning) and dispatches each op
// to its lowering, one file per op under MilmToCPU/ (Linear.cpp lowers
// milm.linear, and so on). They share the state of class Lowering below: the
// builder, the arena's regions, the weight section, the activations' buffers,
// the op layer's calls (callOp, by parameter name: OpLayer.h).
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
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <initializer_list>

namespace milm {
namespace cpu {

using namespace mlir;
namespace mm = mlir::milm;

inline constexpr uint64_t kAlign = 64;
inline uint64_t alignUp(uint64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

/// Bytes of one token's 8-bit activations for weight format `f` and K inputs
/// (milm_uk_act_row_bytes): 0 for the float formats.
inline uint64_t actRowBytes(mm::WeightFormat f, int64_t K) {
  // WeightFormat's numbers are the table's (MilmDialect.cpp checks it).
  return activationRowBytes(static_cast<StorageFormat>(f), static_cast<uint64_t>(K));
}

/// First-fit allocator of arena regions with reuse of freed regions.
class Arena {
public:
  uint64_t allocate(uint64_t size) {
    size = alignUp(size);
    for (auto it = free.begin(); it != free.end(); ++it)
      if (it->second >= size) {
        uint64_t off = it->first;
        if (it->second > size)
          it->second -= size, it->first += size;
        else
          free.erase(it);
        return off;
      }
    uint64_t off = top;
    top += size;
    return off;
  }
  void release(uint64_t off, uint64_t size) { free.push_back({off, alignUp(size)}); }
  uint64_t size() const { return top; }

private:
  std::vector<std::pair<uint64_t, uint64_t>> free;
  uint64_t top = 0;
};

struct WeightInfo {
  mm::WeightOp op;
  uint64_t offset, size;
  /// The format code the kernels read: the ggml_type, or a packed layout's
  /// (kPackedLayouts, common/milm/StorageFormat.h) when the weight is
  /// repacked for the target.
  int64_t code;
};

/// An activation's arena region and the max_tokens-row view of it.
struct Buffer {
  uint64_t offset;
  Value view;
};

class Lowering {
public:
  Lowering(ModuleOp module, int64_t maxTokens, bool repack)
      : module(module), ctx(module.getContext()), b(ctx), maxTokens(maxTokens),
        repack(repack) {}
  LogicalResult run();

  // The state below is shared by the op lowerings (MilmToCPU/*.cpp), which
  // are members so that they read as one piece of the lowering each.
  LogicalResult lowerModel(mm::ModelOp model);
  /// Dispatches `op` to its lowering below.
  LogicalResult lowerOp(Operation *op);
  /// "cannot be compiled for the CPU: MSG" at `op`.
  InFlightDiagnostic fail(Operation *op, const Twine &msg) {
    return op->emitOpError() << "cannot be compiled for the CPU: " << msg;
  }

  // One lowering per milm op, each in codegen/cpu/MilmToCPU/<Op>.cpp.
  LogicalResult lowerWeight(mm::WeightOp op);
  LogicalResult lowerEmbedding(mm::EmbeddingOp op);
  LogicalResult lowerLinear(mm::LinearOp op);
  LogicalResult lowerRope(mm::RopeOp op);
  LogicalResult lowerAttention(mm::AttentionOp op);
  LogicalResult lowerSwiGLU(mm::SwiGLUOp op);
  LogicalResult lowerAdd(mm::AddOp op);
  LogicalResult lowerMoE(mm::MoEOp op);
  LogicalResult lowerLogits(mm::LogitsOp op);
  LogicalResult lowerReturn(func::ReturnOp op);
  func::FuncOp declare(StringRef name, TypeRange results, TypeRange args);
  /// Calls op-layer function `spec` (OpLayer.h) with its arguments by name,
  /// in any order; a missing, unknown or repeated name or a value of another
  /// kind than milm_ops.h says is an error at `op`.
  LogicalResult callOp(Operation *op, const OpSpec &spec,
                       std::initializer_list<std::pair<StringRef, Value>> args);
  Value call(StringRef name, TypeRange results, ValueRange args) {
    SmallVector<Type> types;
    for (Value v : args)
      types.push_back(v.getType());
    auto c = func::CallOp::create(b, loc, declare(name, results, types), args);
    return c.getNumResults() ? c.getResult(0) : Value();
  }
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value i64(int64_t v) { return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(v)); }
  Value i32(int64_t v) { return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v)); }
  Value f32(double v) { return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v)); }
  Value null() { return LLVM::ZeroOp::create(b, loc, ptrTy); }
  /// The address of a memref's first element, for the op layer's C signature.
  Value ptrOf(Value memref) {
    Value i = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, memref);
    i = arith::IndexCastOp::create(b, loc, b.getI64Type(), i);
    return LLVM::IntToPtrOp::create(b, loc, ptrTy, i);
  }
  /// `type` viewed at byte `off` of the i8 memref `base`.
  Value view(Value base, Value off, MemRefType type) {
    return memref::ViewOp::create(b, loc, type, base, off, ValueRange{});
  }
  Value bytesAt(Value base, uint64_t off, uint64_t size) {
    return view(base, idx(static_cast<int64_t>(off)),
                MemRefType::get({static_cast<int64_t>(size)}, b.getI8Type()));
  }
  /// Pointer into a shared scratch region whose arena offset is known only once
  /// every op is lowered: the offset constant is recorded in `patch` and set then.
  Value scratchPtr(SmallVectorImpl<arith::ConstantOp> &patch) {
    auto off = arith::ConstantOp::create(b, loc, b.getIndexAttr(0));
    patch.push_back(off);
    return ptrOf(view(arena, off, MemRefType::get({1}, b.getI8Type())));
  }
  /// The max_tokens-row view of an activation, allocating its region on first use.
  Value bufferOf(Value v);
  /// Its first T rows.
  Value rows(Value v) {
    Value full = bufferOf(v);
    SmallVector<OpFoldResult> offsets{b.getIndexAttr(0), b.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes{Tidx, b.getIndexAttr(features(v))};
    SmallVector<OpFoldResult> strides{b.getIndexAttr(1), b.getIndexAttr(1)};
    return memref::SubViewOp::create(b, loc, full, offsets, sizes, strides);
  }
  Value bufPtr(Value v) { return ptrOf(bufferOf(v)); }
  Value weightPtr(Value v) { return ptrOf(bytesAt(weights, weightOf[v].offset, weightOf[v].size)); }
  mm::WeightType wtype(Value v) { return llvm::cast<mm::WeightType>(v.getType()); }
  int64_t features(Value v) { return llvm::cast<RankedTensorType>(v.getType()).getDimSize(1); }
  /// One layer's K and V caches (f16): the attention op's slice of `kv`.
  uint64_t kvLayerBytes() const {
    return 2ull * cacheType.getCapacity() * cacheType.getKvHeads() * cacheType.getHeadDim() * 2;
  }
  uint64_t bufferBytes(Value v) { return static_cast<uint64_t>(maxTokens) * features(v) * 4; }
  void needXQ(mm::WeightFormat f, int64_t K) {
    xqBytes = std::max(xqBytes, static_cast<uint64_t>(maxTokens) * actRowBytes(f, K));
  }
  /// out[t, i] = fn(ins[t, i]...) over the first T rows, as a linalg.generic.
  void elementwise(ValueRange ins, Value out,
                   function_ref<Value(OpBuilder &, Location, ValueRange)> fn) {
    SmallVector<AffineMap> maps(ins.size() + 1, b.getMultiDimIdentityMap(2));
    SmallVector<utils::IteratorType> iters(2, utils::IteratorType::parallel);
    linalg::GenericOp::create(b, loc, TypeRange{}, ins, ValueRange{out}, maps, iters,
                              [&](OpBuilder &nb, Location nl, ValueRange args) {
                                linalg::YieldOp::create(nb, nl, fn(nb, nl, args));
                              });
  }
  LogicalResult lowerRMSNorm(mm::RMSNormOp n);

  ModuleOp module;
  MLIRContext *ctx;
  OpBuilder b;
  Location loc = UnknownLoc::get(ctx);
  int64_t maxTokens;
  bool repack;
  Type ptrTy = LLVM::LLVMPointerType::get(ctx);
  /// Weights read row by row (embedding tables): never repacked.
  llvm::StringSet<> rowRead;
  /// The format code to pass for weight `v` (see WeightInfo::code).
  Value fmtOf(Value v) { return i32(weightOf[v].code); }

  // State while lowering @forward.
  func::FuncOp fn;
  Value ex, weights, kv, arena, tokensArg, positionsArg, T, Tidx, allLogits, logitsArg;
  Value tokensTensor, positionsTensor, cacheTensor, resultTensor;
  llvm::DenseMap<Value, Buffer> buffers;
  llvm::DenseMap<Value, WeightInfo> weightOf;
  llvm::StringMap<WeightInfo> weightByName;
  std::vector<WeightInfo> weightList;
  llvm::DenseMap<Value, Operation *> lastUse;
  Arena arenaAlloc;
  uint64_t weightsTop = 0, xqBytes = 0, moeScratchBytes = 0;
  // Placeholders patched once the arena's final size is known.
  SmallVector<arith::ConstantOp> xqOffsetConsts, moeOffsetConsts;
  /// What the xq scratch holds after the last call that wrote it: the input
  /// quantized by the last milm_op_linear (null after other users of the
  /// scratch), for that many bytes per token. A linear of the same input with
  /// the same activation row (q/k/v, gate/up) passes xq_ready = 1.
  Value xqInput;
  uint64_t xqRowBytes = 0;
  mm::ModelConfigAttr config;
  mm::KVCacheType cacheType;
};


} // namespace cpu
} // namespace milm

#endif
