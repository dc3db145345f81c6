//===- LowerToCPU.cpp - milm IR -> upstream dialects for the CPU ----------===//
//
// The model's @forward function becomes
//   func.func @milm_forward(!llvm.ptr ex, memref<Wxi8> weights, memref<Kxi8> kv,
//                           memref<Axi8> arena, memref<Mxi32> tokens,
//                           memref<Mxi32> positions, i64 T, i32 all_logits,
//                           !llvm.ptr logits) -> i32
// with every size a constant, so that func-to-llvm's bare-pointer convention
// gives the C signature of runtime/include/milm/model_abi.h.
//
// Every activation tensor is a memref.view of the arena sized for max_tokens
// rows (regions are reused once a value is dead); the first T rows are a
// memref.subview. Every weight gets a 64-byte aligned place in the artifact's
// weight section. Elementwise ops (add, swiglu, copies) become
// linalg.generic/linalg.copy on those views, rms_norm a loop over the rows
// with its two passes in vector<8xf32> (scf.for, vector.load/store); the heavy ops
// (quantized products, attention, rope, embedding lookup, MoE) become func.call
// into the op layer of codegen/cpu/ops, whose bitcode is linked in later so the
// calls inline. T and the positions are checked with scf/arith first; nothing is
// written when they are out of range.
//
// buildCPUToLLVMPipeline then lowers linalg -> scf loops -> cf, vector and
// everything else to the LLVM dialect with upstream passes.
//
//===----------------------------------------------------------------------===//
#include "codegen/cpu/LowerToCPU.h"
#include "codegen/cpu/OpLayer.h"

#include "dialects/milm/MilmDialect.h"
#include "common/milm/StorageFormat.h"
#include "codegen/ukernels/include/milm_ukernels.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

using namespace mlir;
namespace mm = mlir::milm;

namespace milm {
namespace {

constexpr uint64_t kAlign = 64;
uint64_t alignUp(uint64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

/// Bytes of one token's 8-bit activations for weight format `f` and K inputs
/// (milm_uk_act_row_bytes): 0 for the float formats.
uint64_t actRowBytes(mm::WeightFormat f, int64_t K) {
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

private:
  LogicalResult lowerModel(mm::ModelOp model);
  LogicalResult lowerOp(Operation *op);
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

func::FuncOp Lowering::declare(StringRef name, TypeRange results, TypeRange args) {
  if (auto f = module.lookupSymbol<func::FuncOp>(name))
    return f;
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(module.getBody());
  auto f = func::FuncOp::create(b, loc, name, b.getFunctionType(args, results));
  f.setPrivate();
  return f;
}

LogicalResult Lowering::callOp(Operation *op, const OpSpec &spec,
                               std::initializer_list<std::pair<StringRef, Value>> args) {
  SmallVector<std::pair<StringRef, OpArgKind>> kinds;
  for (const auto &[name, v] : args) {
    Type t = v.getType();
    OpArgKind k;
    if (llvm::isa<LLVM::LLVMPointerType>(t))
      k = OpArgKind::PTR;
    else if (t.isInteger(64))
      k = OpArgKind::I64;
    else if (t.isInteger(32))
      k = OpArgKind::I32;
    else if (t.isF32())
      k = OpArgKind::F32;
    else
      return op->emitOpError() << "cannot be compiled for the CPU: argument '" << name << "' of "
                               << spec.symbol << " is of type " << t
                               << ", which the op layer does not take";
    kinds.push_back({name, k});
  }
  SmallVector<unsigned> order;
  std::string why = orderOpArgs(spec, kinds, order);
  if (!why.empty())
    return op->emitOpError() << "cannot be compiled for the CPU: " << why;
  SmallVector<Value> ordered;
  for (unsigned i : order)
    ordered.push_back(args.begin()[i].second);
  call(spec.symbol, {}, ordered);
  return success();
}

Value Lowering::bufferOf(Value v) {
  auto it = buffers.find(v);
  if (it != buffers.end())
    return it->second.view;
  uint64_t off = arenaAlloc.allocate(bufferBytes(v));
  auto type = MemRefType::get({maxTokens, features(v)}, b.getF32Type());
  Value view = this->view(arena, idx(static_cast<int64_t>(off)), type);
  buffers[v] = {off, view};
  return view;
}

LogicalResult Lowering::run() {
  SmallVector<mm::ModelOp> models(module.getOps<mm::ModelOp>());
  if (models.size() != 1)
    return module.emitError() << "milm-lower-to-cpu needs exactly one milm.model, found "
                              << models.size();
  return lowerModel(models.front());
}

LogicalResult Lowering::lowerModel(mm::ModelOp model) {
  config = model.getConfig();
  auto forward = model.lookupSymbol<func::FuncOp>("forward");
  if (!forward)
    return model.emitOpError() << "has no @forward function to compile";
  if (forward.getNumArguments() != 3 || forward.getNumResults() != 1 ||
      !llvm::isa<mm::KVCacheType>(forward.getArgument(2).getType()))
    return forward.emitOpError()
           << "must be (tokens, positions, !milm.kv_cache) -> logits to be compiled";
  for (int i = 0; i < 2; ++i) {
    auto t = llvm::dyn_cast<RankedTensorType>(forward.getArgument(i).getType());
    if (!t || !t.getElementType().isInteger(32))
      return forward.emitOpError() << "argument " << i << " must be a tensor of i32 token ids";
  }
  if (!forward.getBody().hasOneBlock())
    return forward.emitOpError() << "must have a single block to be compiled";
  cacheType = llvm::cast<mm::KVCacheType>(forward.getArgument(2).getType());
  if (!cacheType.getElement().isF16())
    return forward.emitOpError() << "the CPU runtime keeps the KV cache in f16, not "
                                 << cacheType.getElement();

  Block &body = forward.getBody().front();
  tokensTensor = body.getArgument(0);
  positionsTensor = body.getArgument(1);
  cacheTensor = body.getArgument(2);
  for (Operation &op : body) {
    for (Value operand : op.getOperands())
      lastUse[operand] = &op;
    if (auto e = llvm::dyn_cast<mm::EmbeddingOp>(op))
      if (auto w = e.getTable().getDefiningOp<mm::WeightOp>())
        rowRead.insert(w.getName());
  }

  // The weight section and the arena get their sizes once every op is lowered.
  Type i8 = b.getI8Type(), i32Ty = b.getI32Type(), i64Ty = b.getI64Type();
  auto bytes = [&](int64_t n) { return MemRefType::get({n}, i8); };
  int64_t kvBytes = cacheType.getLayers() * static_cast<int64_t>(kvLayerBytes());
  auto ids = MemRefType::get({maxTokens}, i32Ty);
  SmallVector<Type> argTypes{ptrTy, bytes(1), bytes(kvBytes), bytes(1), ids, ids,
                             i64Ty, i32Ty, ptrTy};
  b.setInsertionPointToEnd(module.getBody());
  fn = func::FuncOp::create(b, loc, "milm_forward", b.getFunctionType(argTypes, {i32Ty}));
  Block *entry = fn.addEntryBlock();
  ex = entry->getArgument(0);
  weights = entry->getArgument(1);
  kv = entry->getArgument(2);
  arena = entry->getArgument(3);
  tokensArg = entry->getArgument(4);
  positionsArg = entry->getArgument(5);
  T = entry->getArgument(6);
  allLogits = entry->getArgument(7);
  logitsArg = entry->getArgument(8);

  // 1 <= T <= max_tokens (else 1), then every position in [0, capacity) (else
  // 2); only then is anything written.
  b.setInsertionPointToStart(entry);
  Value tooFew = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, T, i64(1));
  Value tooMany = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, T, i64(maxTokens));
  Value tOk = arith::XOrIOp::create(
      b, loc, arith::OrIOp::create(b, loc, tooFew, tooMany),
      arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
  auto checkT = scf::IfOp::create(b, loc, TypeRange{i32Ty}, tOk, /*withElseRegion=*/true);
  b.setInsertionPointToStart(checkT.elseBlock());
  scf::YieldOp::create(b, loc, i32(1));

  b.setInsertionPointToStart(checkT.thenBlock());
  Tidx = arith::IndexCastOp::create(b, loc, b.getIndexType(), T);
  Value capacity = i32(cacheType.getCapacity());
  auto scan = scf::ForOp::create(
      b, loc, idx(0), Tidx, idx(1), ValueRange{arith::ConstantOp::create(b, loc, b.getBoolAttr(false))},
      [&](OpBuilder &nb, Location nl, Value i, ValueRange acc) {
        Value p = memref::LoadOp::create(nb, nl, positionsArg, ValueRange{i});
        Value zero = arith::ConstantOp::create(nb, nl, nb.getI32IntegerAttr(0));
        Value neg = arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::slt, p, zero);
        Value over = arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::sge, p, capacity);
        Value bad = arith::OrIOp::create(nb, nl, neg, over);
        scf::YieldOp::create(nb, nl, ValueRange{arith::OrIOp::create(nb, nl, acc[0], bad)});
      });
  auto checkPos =
      scf::IfOp::create(b, loc, TypeRange{i32Ty}, scan.getResult(0), /*withElseRegion=*/true);
  b.setInsertionPointToEnd(checkT.thenBlock());
  scf::YieldOp::create(b, loc, checkPos.getResults());
  b.setInsertionPointToStart(checkPos.thenBlock());
  scf::YieldOp::create(b, loc, i32(2));
  b.setInsertionPointToEnd(entry);
  func::ReturnOp::create(b, loc, checkT.getResults());

  // The model itself, in the "positions are fine" branch.
  b.setInsertionPointToStart(checkPos.elseBlock());
  for (Operation &op : llvm::make_early_inc_range(body)) {
    if (failed(lowerOp(&op)))
      return failure();
    // Regions of values whose last use was this op go back to the arena.
    for (Value operand : op.getOperands())
      if (lastUse.lookup(operand) == &op) {
        auto it = buffers.find(operand);
        if (it != buffers.end() && operand != resultTensor)
          arenaAlloc.release(it->second.offset, bufferBytes(operand));
      }
  }

  // Shared scratch regions go after the activations.
  uint64_t xqOffset = alignUp(arenaAlloc.size());
  uint64_t moeOffset = alignUp(xqOffset + xqBytes);
  uint64_t arenaBytes = alignUp(moeOffset + moeScratchBytes);
  for (arith::ConstantOp c : xqOffsetConsts)
    c.setValueAttr(b.getIndexAttr(static_cast<int64_t>(xqOffset)));
  for (arith::ConstantOp c : moeOffsetConsts)
    c.setValueAttr(b.getIndexAttr(static_cast<int64_t>(moeOffset)));
  argTypes[1] = bytes(static_cast<int64_t>(std::max<uint64_t>(weightsTop, 1)));
  argTypes[3] = bytes(static_cast<int64_t>(arenaBytes));
  weights.setType(argTypes[1]);
  arena.setType(argTypes[3]);
  fn.setFunctionType(b.getFunctionType(argTypes, {i32Ty}));

  // What the driver needs to write the artifact and the model descriptor.
  SmallVector<Attribute> weightAttrs;
  for (WeightInfo w : weightList) {
    mm::WeightType t = llvm::cast<mm::WeightType>(w.op.getType());
    SmallVector<NamedAttribute> fields{
        b.getNamedAttr("name", w.op.getNameAttr()),
        b.getNamedAttr("format", b.getI64IntegerAttr(w.code)),
        b.getNamedAttr("shape", b.getDenseI64ArrayAttr(t.getShape())),
        b.getNamedAttr("offset", b.getI64IntegerAttr(static_cast<int64_t>(w.offset))),
        b.getNamedAttr("size", b.getI64IntegerAttr(static_cast<int64_t>(w.size)))};
    if (w.op.getFileAttr()) {
      fields.push_back(b.getNamedAttr("file", w.op.getFileAttr()));
      fields.push_back(b.getNamedAttr("source_offset", w.op.getOffsetAttr()));
    } else if (w.op.getPartFilesAttr()) {
      fields.push_back(b.getNamedAttr("part_files", w.op.getPartFilesAttr()));
      fields.push_back(b.getNamedAttr("part_offsets", w.op.getPartOffsetsAttr()));
    }
    weightAttrs.push_back(b.getDictionaryAttr(fields));
  }
  module->setAttr(kWeightsAttr, b.getArrayAttr(weightAttrs));
  module->setAttr(
      kLoweredAttr,
      b.getDictionaryAttr({
          b.getNamedAttr("model_name", model.getSymNameAttr()),
          b.getNamedAttr("config", config),
          b.getNamedAttr("max_tokens", b.getI64IntegerAttr(maxTokens)),
          b.getNamedAttr("kv_capacity", b.getI64IntegerAttr(cacheType.getCapacity())),
          b.getNamedAttr("arena_bytes", b.getI64IntegerAttr(static_cast<int64_t>(arenaBytes))),
          b.getNamedAttr("weights_bytes", b.getI64IntegerAttr(static_cast<int64_t>(weightsTop))),
      }));
  model.erase();
  return success();
}

/// y = x * w / sqrt(mean(x^2) + eps) per row, as loops over the rows.
LogicalResult Lowering::lowerRMSNorm(mm::RMSNormOp n) {
  // Per row t < T: the sum of squares in 8 lanes (a vector<8xf32> carried by
  // the scf.for, summed across lanes at the end), then y = x * rsqrt(mean +
  // eps) * w, 8 values at a time; scalar loops for a tail of N % 8. Every
  // value lives in registers (a linalg reduction into an arena column made the
  // sum a load-add-store chain: no vectors, no reassociation), and each row is
  // computed the same whatever T is (prefill == decode).
  int64_t N = features(n.getInput());
  const int64_t VL = 8, N8 = N / VL * VL;
  Value x = bufferOf(n.getInput()), y = bufferOf(n.getResult());
  Value w = view(weights, idx(static_cast<int64_t>(weightOf[n.getWeight()].offset)),
                 MemRefType::get({N}, b.getF32Type()));
  VectorType vt = VectorType::get({VL}, b.getF32Type());
  Value invN = f32(1.0 / static_cast<double>(N));
  Value eps = f32(n.getEps().convertToDouble());
  Value zero = f32(0.0);
  Value zeroV = vector::BroadcastOp::create(b, loc, vt, zero);
  auto rowLoop = scf::ForOp::create(b, loc, idx(0), Tidx, idx(1));
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(rowLoop.getBody());
    Value t = rowLoop.getInductionVar();
    auto sumV = scf::ForOp::create(
        b, loc, idx(0), idx(N8), idx(VL), ValueRange{zeroV},
        [&](OpBuilder &nb, Location nl, Value i, ValueRange acc) {
          Value v = vector::LoadOp::create(nb, nl, vt, x, ValueRange{t, i});
          Value a = math::FmaOp::create(nb, nl, v, v, acc[0]);
          scf::YieldOp::create(nb, nl, ValueRange{a});
        });
    Value sum = vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, sumV.getResult(0));
    if (N8 < N) {
      auto tail = scf::ForOp::create(
          b, loc, idx(N8), idx(N), idx(1), ValueRange{sum},
          [&](OpBuilder &nb, Location nl, Value i, ValueRange acc) {
            Value v = memref::LoadOp::create(nb, nl, x, ValueRange{t, i});
            scf::YieldOp::create(nb, nl, ValueRange{math::FmaOp::create(nb, nl, v, v, acc[0])});
          });
      sum = tail.getResult(0);
    }
    Value mean = arith::MulFOp::create(b, loc, sum, invN);
    Value inv = math::RsqrtOp::create(b, loc, arith::AddFOp::create(b, loc, mean, eps));
    Value invV = vector::BroadcastOp::create(b, loc, vt, inv);
    scf::ForOp::create(b, loc, idx(0), idx(N8), idx(VL), ValueRange{},
                       [&](OpBuilder &nb, Location nl, Value i, ValueRange) {
                         Value v = vector::LoadOp::create(nb, nl, vt, x, ValueRange{t, i});
                         Value wv = vector::LoadOp::create(nb, nl, vt, w, ValueRange{i});
                         Value r = arith::MulFOp::create(
                             nb, nl, arith::MulFOp::create(nb, nl, v, invV), wv);
                         vector::StoreOp::create(nb, nl, r, y, ValueRange{t, i});
                         scf::YieldOp::create(nb, nl);
                       });
    if (N8 < N)
      scf::ForOp::create(b, loc, idx(N8), idx(N), idx(1), ValueRange{},
                         [&](OpBuilder &nb, Location nl, Value i, ValueRange) {
                           Value v = memref::LoadOp::create(nb, nl, x, ValueRange{t, i});
                           Value wv = memref::LoadOp::create(nb, nl, w, ValueRange{i});
                           Value r = arith::MulFOp::create(
                               nb, nl, arith::MulFOp::create(nb, nl, v, inv), wv);
                           memref::StoreOp::create(nb, nl, r, y, ValueRange{t, i});
                           scf::YieldOp::create(nb, nl);
                         });
  }
  return success();
}

LogicalResult Lowering::lowerOp(Operation *op) {
  loc = op->getLoc();
  auto fail = [&](const Twine &msg) {
    return op->emitOpError() << "cannot be compiled for the CPU: " << msg;
  };

  if (auto w = llvm::dyn_cast<mm::WeightOp>(op)) {
    mm::WeightType t = w.getType();
    auto it = weightByName.find(w.getName());
    if (it != weightByName.end()) {
      if (it->second.op.getType() != t)
        return fail("weight '" + w.getName() + "' is referenced with two types");
      weightOf[w.getResult()] = it->second;
      return success();
    }
    // Products read the packed layout of their format (8 interleaved rows:
    // q4_0x8, q8_0x8, ...) when the target's kernels have one; the driver
    // repacks the bytes (milm_uk_repack_<layout>). Weights read by rows
    // (embedding tables) keep GGUF's layout.
    int64_t code = static_cast<int64_t>(t.getFormat());
    int64_t rows = t.getShape().size() >= 2 ? t.getShape()[t.getShape().size() - 2] : 0;
    const PackedLayoutInfo *packed =
        repack ? packedLayoutFor(static_cast<StorageFormat>(code)) : nullptr;
    if (packed && rows > 0 && rows % packed->rowGroup == 0 && !rowRead.contains(w.getName()))
      code = packed->code;
    WeightInfo info{w, alignUp(weightsTop), t.getSizeInBytes(), code};
    weightsTop = info.offset + info.size;
    weightByName[w.getName()] = info;
    weightOf[w.getResult()] = info;
    weightList.push_back(info);
    return success();
  }
  if (auto e = llvm::dyn_cast<mm::EmbeddingOp>(op)) {
    if (e.getTokens() != tokensTensor)
      return fail("the token ids must be @forward's first argument");
    mm::WeightType t = wtype(e.getTable());
    return callOp(op, kOp_embedding,
                  {{"format", fmtOf(e.getTable())},
                   {"table", weightPtr(e.getTable())},
                   {"dim", i64(t.getShape()[1])},
                   {"tokens", ptrOf(tokensArg)},
                   {"T", T},
                   {"out", bufPtr(e.getResult())}});
  }
  if (auto n = llvm::dyn_cast<mm::RMSNormOp>(op)) {
    if (wtype(n.getWeight()).getFormat() != mm::WeightFormat::f32)
      return fail("norm weights must be f32");
    return lowerRMSNorm(n);
  }
  if (auto l = llvm::dyn_cast<mm::LinearOp>(op)) {
    mm::WeightType t = wtype(l.getWeight());
    Value bias = null();
    if (Value bv = l.getBias()) {
      if (wtype(bv).getFormat() != mm::WeightFormat::f32)
        return fail("biases must be f32");
      bias = weightPtr(bv);
    }
    int64_t K = t.getShape()[1], N = t.getShape()[0];
    needXQ(t.getFormat(), K);
    Value xq = scratchPtr(xqOffsetConsts);
    // The same input, quantized the same way, by the previous linear: its
    // 8-bit activations are still in the scratch (SSA values are immutable and
    // the input is live here, so its buffer holds the same numbers).
    uint64_t rowBytes = actRowBytes(t.getFormat(), K);
    bool ready = rowBytes != 0 && l.getInput() == xqInput && rowBytes == xqRowBytes;
    xqInput = rowBytes != 0 ? l.getInput() : Value();
    xqRowBytes = rowBytes;
    return callOp(op, kOp_linear,
                  {{"ex", ex},
                   {"format", fmtOf(l.getWeight())},
                   {"w", weightPtr(l.getWeight())},
                   {"bias", bias},
                   {"x", bufPtr(l.getInput())},
                   {"T", T},
                   {"K", i64(K)},
                   {"N", i64(N)},
                   {"y", bufPtr(l.getResult())},
                   {"xq_scratch", xq},
                   {"xq_ready", i32(ready ? 1 : 0)}});
  }
  if (auto r = llvm::dyn_cast<mm::RopeOp>(op)) {
    if (r.getPositions() != positionsTensor)
      return fail("positions must be @forward's second argument");
    // In place when rope is the input's only user, else on a copy.
    Value in = r.getInput();
    if (auto it = buffers.find(in); in.hasOneUse() && it != buffers.end()) {
      // A copy first: inserting the result may grow the map and move `in`'s
      // entry (`buffers[res] = buffers[in]` read it after the move, now and
      // then: an intermittent crash of milmc compile).
      Buffer shared = it->second;
      buffers[r.getResult()] = shared;
      lastUse.erase(in); // the region lives on as the result's
    } else {
      linalg::CopyOp::create(b, loc, rows(in), rows(r.getResult()));
    }
    int64_t hd = r.getHeadDim();
    int64_t rotary = r.getRotaryDim().value_or(hd);
    int64_t scaling = static_cast<int64_t>(r.getScaling());
    double factor = r.getFactor() ? r.getFactor()->convertToDouble() : 1.0;
    return callOp(op, kOp_rope,
                  {{"x", bufPtr(r.getResult())},
                   {"T", T},
                   {"heads", i64(features(in) / hd)},
                   {"head_dim", i64(hd)},
                   {"pos", ptrOf(positionsArg)},
                   {"pairing", i32(r.getPairing() == mm::RopePairing::neox ? 1 : 0)},
                   {"rotary_dim", i32(rotary)},
                   {"base", f32(r.getBase().convertToDouble())},
                   {"scaling", i32(scaling)},
                   {"factor", f32(factor)},
                   {"orig_ctx", i32(r.getOriginalContext().value_or(0))}});
  }
  if (auto a = llvm::dyn_cast<mm::AttentionOp>(op)) {
    if (a.getTreeMask())
      return fail("tree attention masks are not supported by the CPU runtime yet");
    if (a.getCache() != cacheTensor || a.getPositions() != positionsTensor)
      return fail("the cache and positions must be @forward's arguments");
    int64_t H = a.getNumHeads(), KV = a.getNumKvHeads(), HD = a.getHeadDim();
    int64_t cap = cacheType.getCapacity();
    uint64_t layerBytes = kvLayerBytes();
    double scale = a.getScale() ? a.getScale()->convertToDouble() : 1.0 / std::sqrt(double(HD));
    return callOp(op, kOp_attention,
                  {{"ex", ex},
                   {"q", bufPtr(a.getQ())},
                   {"k", bufPtr(a.getK())},
                   {"v", bufPtr(a.getV())},
                   {"kv_layer", ptrOf(bytesAt(kv, layerBytes * a.getLayer(), layerBytes))},
                   {"capacity", i64(cap)},
                   {"pos", ptrOf(positionsArg)},
                   {"T", T},
                   {"H", i64(H)},
                   {"KV", i64(KV)},
                   {"HD", i64(HD)},
                   {"scale", f32(scale)},
                   {"out", bufPtr(a.getResult())}});
  }
  if (auto s = llvm::dyn_cast<mm::SwiGLUOp>(op)) {
    // silu(g) * u = g / (1 + exp(-g)) * u
    elementwise({rows(s.getGate()), rows(s.getUp())}, rows(s.getResult()),
                [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                  Value one = arith::ConstantOp::create(nb, nl, nb.getF32FloatAttr(1.0f));
                  Value e = math::ExpOp::create(nb, nl, arith::NegFOp::create(nb, nl, a[0]));
                  Value silu = arith::DivFOp::create(nb, nl, a[0],
                                                     arith::AddFOp::create(nb, nl, one, e));
                  return arith::MulFOp::create(nb, nl, silu, a[1]);
                });
    return success();
  }
  if (auto s = llvm::dyn_cast<mm::AddOp>(op)) {
    elementwise({rows(s.getLhs()), rows(s.getRhs())}, rows(s.getResult()),
                [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                  return arith::AddFOp::create(nb, nl, a[0], a[1]);
                });
    return success();
  }
  if (auto m = llvm::dyn_cast<mm::MoEOp>(op)) {
    mm::WeightType r = wtype(m.getRouter()), g = wtype(m.getGateExps()),
                   u = wtype(m.getUpExps()), d = wtype(m.getDownExps());
    int64_t E = r.getShape()[0], D = r.getShape()[1], F = g.getShape()[1], k = m.getTopK();
    // The kernels' routing modes carry the dialect's names and numbers;
    // softmax_topk_norm renormalises softmax(all)'s top k, which is exactly
    // the softmax of the top-k logits: topk_softmax.
    static_assert(int(mm::MoEWeighting::topk_softmax) == MILM_UK_MOE_TOPK_SOFTMAX &&
                      int(mm::MoEWeighting::softmax_topk) == MILM_UK_MOE_SOFTMAX_TOPK,
                  "milm_uk_moe_mode must number the routing modes as MoEWeighting does");
    int32_t mode = MILM_UK_MOE_TOPK_SOFTMAX;
    switch (m.getWeighting()) {
    case mm::MoEWeighting::topk_softmax:
    case mm::MoEWeighting::softmax_topk_norm: mode = MILM_UK_MOE_TOPK_SOFTMAX; break;
    case mm::MoEWeighting::softmax_topk: mode = MILM_UK_MOE_SOFTMAX_TOPK; break;
    }
    needXQ(r.getFormat(), D);
    needXQ(g.getFormat(), D);
    needXQ(u.getFormat(), D);
    needXQ(d.getFormat(), F);
    // milm_op_moe's scratch: logits [T, E], ids and weights [T, k], gathered
    // inputs [T, D], gate/up [T, F] x 2, outputs [T, D], per-slot results
    // [T, k, D], (token, slot) pairs [T] x 2.
    uint64_t T64 = static_cast<uint64_t>(maxTokens);
    uint64_t scratch =
        4ull * (T64 * E + 2 * T64 * k + T64 * D + 2 * T64 * F + T64 * D + T64 * k * D + 2 * T64);
    moeScratchBytes = std::max(moeScratchBytes, scratch);
    Value xq = scratchPtr(xqOffsetConsts);
    xqInput = Value();
    Value sc = scratchPtr(moeOffsetConsts);
    return callOp(op, kOp_moe,
                  {{"ex", ex},
                   {"x", bufPtr(m.getInput())},
                   {"T", T},
                   {"D", i64(D)},
                   {"F", i64(F)},
                   {"E", i64(E)},
                   {"top_k", i64(k)},
                   {"mode", i32(mode)},
                   {"router_format", fmtOf(m.getRouter())},
                   {"router", weightPtr(m.getRouter())},
                   {"gate_format", fmtOf(m.getGateExps())},
                   {"gate", weightPtr(m.getGateExps())},
                   {"up_format", fmtOf(m.getUpExps())},
                   {"up", weightPtr(m.getUpExps())},
                   {"down_format", fmtOf(m.getDownExps())},
                   {"down", weightPtr(m.getDownExps())},
                   {"y", bufPtr(m.getResult())},
                   {"scratch", sc},
                   {"xq_scratch", xq}});
  }
  if (auto l = llvm::dyn_cast<mm::LogitsOp>(op)) {
    mm::WeightType t = wtype(l.getWeight());
    int64_t K = t.getShape()[1], N = t.getShape()[0];
    needXQ(t.getFormat(), K);
    Value xq = scratchPtr(xqOffsetConsts);
    xqInput = Value();
    resultTensor = l.getResult();
    return callOp(op, kOp_logits,
                  {{"ex", ex},
                   {"format", fmtOf(l.getWeight())},
                   {"w", weightPtr(l.getWeight())},
                   {"x", bufPtr(l.getInput())},
                   {"T", T},
                   {"K", i64(K)},
                   {"N", i64(N)},
                   {"y", logitsArg},
                   {"all_rows", allLogits},
                   {"xq_scratch", xq}});
  }
  if (auto r = llvm::dyn_cast<func::ReturnOp>(op)) {
    if (r.getNumOperands() != 1 || r.getOperand(0) != resultTensor || !resultTensor)
      return fail("@forward must return the result of its milm.logits");
    scf::YieldOp::create(b, loc, i32(0));
    return success();
  }
  return fail("no CPU lowering for this op");
}

struct LowerToCPUPass : PassWrapper<LowerToCPUPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(LowerToCPUPass)
  LowerToCPUPass() = default;
  LowerToCPUPass(const LowerToCPUPass &other) : PassWrapper(other) {}
  LowerToCPUPass(int64_t maxTokens, bool repack) {
    this->maxTokens = maxTokens;
    this->repack = repack;
  }
  StringRef getArgument() const final { return "milm-lower-to-cpu"; }
  StringRef getDescription() const final {
    return "Lower a milm.model to @milm_forward in linalg/scf/arith/memref, calling the CPU op "
           "layer for the heavy ops";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<arith::ArithDialect, func::FuncDialect, linalg::LinalgDialect,
                    math::MathDialect, memref::MemRefDialect, scf::SCFDialect,
                    vector::VectorDialect, LLVM::LLVMDialect>();
  }
  void runOnOperation() override {
    if (maxTokens < 1) {
      getOperation().emitError() << "max-tokens must be at least 1";
      return signalPassFailure();
    }
    if (failed(Lowering(getOperation(), maxTokens, repack).run()))
      return signalPassFailure();
    // exp (swiglu) as a polynomial in arith ops, which LLVM vectorises with the
    // loop around it; llvm.exp would become one libm call per element.
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns,
                                                [](StringRef name) { return name == "exp" || name == "math.exp"; });
    // No folding or constant CSE: the IR stays in op order, one constant next
    // to each use, as the FileCheck tests read it.
    GreedyRewriteConfig config;
    config.enableFolding(false).enableConstantCSE(false).setRegionSimplificationLevel(
        GreedySimplifyRegionLevel::Disabled);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns), config)))
      signalPassFailure();
  }
  Option<int64_t> maxTokens{*this, "max-tokens",
                            llvm::cl::desc("Most tokens one milm_forward call evaluates"),
                            llvm::cl::init(64)};
  Option<bool> repack{*this, "repack",
                      llvm::cl::desc("Read product weights in their format's packed layout "
                                     "(StorageFormat.h's kPackedLayouts: q4_0x8, q8_0x8, "
                                     "q4_kx8, q6_kx8; for kernels that have them)"),
                      llvm::cl::init(false)};
};

struct CPUPipelineOptions : PassPipelineOptions<CPUPipelineOptions> {
  Option<int64_t> maxTokens{*this, "max-tokens",
                            llvm::cl::desc("Most tokens one milm_forward call evaluates"),
                            llvm::cl::init(64)};
  Option<bool> repack{*this, "repack",
                      llvm::cl::desc("Read product weights in their format's packed layout"),
                      llvm::cl::init(false)};
};

} // namespace

std::unique_ptr<Pass> createLowerToCPUPass(int64_t maxTokens, bool repack) {
  return std::make_unique<LowerToCPUPass>(maxTokens, repack);
}

void buildCPUToLLVMPipeline(OpPassManager &pm, int64_t maxTokens, bool repack) {
  pm.addPass(createLowerToCPUPass(maxTokens, repack));
  pm.addPass(createConvertLinalgToLoopsPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  ConvertFuncToLLVMPassOptions funcOptions;
  funcOptions.useBarePtrCallConv = true; // static memrefs -> plain pointers: the C ABI
  pm.addPass(createConvertFuncToLLVMPass(funcOptions));
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void registerMilmCodegenPasses() {
  PassRegistration<LowerToCPUPass>();
  PassPipelineRegistration<CPUPipelineOptions>(
      "milm-cpu-to-llvm",
      "milm-lower-to-cpu, then linalg -> scf -> cf and every dialect to LLVM (what milmc "
      "compile runs before translating to LLVM IR)",
      [](OpPassManager &pm, const CPUPipelineOptions &o) {
        buildCPUToLLVMPipeline(pm, o.maxTokens, o.repack);
      });
}

} // namespace milm
