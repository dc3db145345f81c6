//===- LowerToCPU.cpp - milm IR -> LLVM dialect calling the CPU op layer --===//
//
// The model's @forward function becomes
//   i32 milm_forward(ptr ex, ptr weights, ptr kv, ptr arena, ptr tokens,
//                    ptr positions, i64 T, i32 all_logits, ptr logits)
// Every activation tensor gets a region of the arena sized for max_tokens rows
// (regions are reused once a value is dead); every weight gets a 64-byte
// aligned place in the artifact's weight section; each milm op becomes one
// call into codegen/cpu/ops/milm_ops.c, whose bitcode is linked in later so
// the calls inline.
//
//===----------------------------------------------------------------------===//
#include "codegen/cpu/LowerToCPU.h"

#include "dialects/milm/MilmDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;
namespace mm = mlir::milm;

namespace milm {
namespace {

constexpr uint64_t kAlign = 64;
uint64_t alignUp(uint64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

/// Bytes of one token's 8-bit activations for weight format `f` and K inputs
/// (milm_uk_act_row_bytes): 0 for the float formats.
uint64_t actRowBytes(mm::WeightFormat f, int64_t K) {
  switch (f) {
  case mm::WeightFormat::f32:
  case mm::WeightFormat::f16:
  case mm::WeightFormat::bf16:
    return 0;
  case mm::WeightFormat::q4_k:
  case mm::WeightFormat::q5_k:
  case mm::WeightFormat::q6_k:
    return static_cast<uint64_t>(K / 256) * 292;
  default:
    return static_cast<uint64_t>(K / 32) * 40;
  }
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
};

class Lowering {
public:
  Lowering(ModuleOp module, int64_t maxTokens)
      : module(module), ctx(module.getContext()), b(ctx), maxTokens(maxTokens) {}
  LogicalResult run();

private:
  LogicalResult lowerModel(mm::ModelOp model);
  LogicalResult lowerOp(Operation *op);
  LLVM::LLVMFuncOp declare(StringRef name, Type result, ArrayRef<Type> args);
  void call(StringRef name, Type result, ValueRange args) {
    SmallVector<Type> types;
    for (Value v : args)
      types.push_back(v.getType());
    LLVM::CallOp::create(b, loc, declare(name, result, types), args);
  }
  Value i64(int64_t v) { return LLVM::ConstantOp::create(b, loc, b.getI64Type(), v); }
  Value i32(int64_t v) { return LLVM::ConstantOp::create(b, loc, b.getI32Type(), v); }
  Value f32(double v) {
    return LLVM::ConstantOp::create(b, loc, b.getF32Type(), b.getF32FloatAttr(v));
  }
  Value null() { return LLVM::ZeroOp::create(b, loc, ptrTy); }
  Value offsetPtr(Value base, uint64_t off) {
    if (off == 0)
      return base;
    // GEP's inline constant indices hold only 29-bit values (offsets of
    // several hundred MB do not fit), so the offset is an i64 operand.
    return LLVM::GEPOp::create(b, loc, ptrTy, b.getI8Type(), base,
                               ValueRange{i64(static_cast<int64_t>(off))});
  }
  /// Pointer into a shared scratch region whose arena offset is known only once
  /// every op is lowered: the offset constant is recorded in `patch` and set then.
  Value scratchPtr(SmallVectorImpl<LLVM::ConstantOp> &patch) {
    auto off = LLVM::ConstantOp::create(b, loc, b.getI64Type(), int64_t(0));
    patch.push_back(off);
    return LLVM::GEPOp::create(b, loc, ptrTy, b.getI8Type(), arena, ValueRange{off});
  }
  /// Pointer to the arena region of an activation, allocating it on first use.
  Value bufferOf(Value v);
  Value weightPtr(Value v) { return offsetPtr(weights, weightOf[v].offset); }
  mm::WeightType wtype(Value v) { return llvm::cast<mm::WeightType>(v.getType()); }
  int64_t features(Value v) { return llvm::cast<RankedTensorType>(v.getType()).getDimSize(1); }
  Value elems(Value v) {
    return LLVM::MulOp::create(b, loc, b.getI64Type(), ValueRange{T, i64(features(v))});
  }
  uint64_t bufferBytes(Value v) { return static_cast<uint64_t>(maxTokens) * features(v) * 4; }
  void needXQ(mm::WeightFormat f, int64_t K) {
    xqBytes = std::max(xqBytes, static_cast<uint64_t>(maxTokens) * actRowBytes(f, K));
  }

  ModuleOp module;
  MLIRContext *ctx;
  OpBuilder b;
  Location loc = UnknownLoc::get(ctx);
  int64_t maxTokens;
  Type ptrTy = LLVM::LLVMPointerType::get(ctx);

  // State while lowering @forward.
  Value ex, weights, kv, arena, tokensArg, positionsArg, T, allLogits, logitsArg;
  Value tokensTensor, positionsTensor, cacheTensor, resultTensor;
  llvm::DenseMap<Value, uint64_t> bufferOffset;
  llvm::DenseMap<Value, WeightInfo> weightOf;
  llvm::StringMap<WeightInfo> weightByName;
  std::vector<WeightInfo> weightList;
  llvm::DenseMap<Value, Operation *> lastUse;
  Arena arenaAlloc;
  uint64_t weightsTop = 0, xqBytes = 0, moeScratchBytes = 0;
  // Placeholders patched once the arena's final size is known.
  SmallVector<LLVM::ConstantOp> xqOffsetConsts, moeOffsetConsts;
  mm::ModelConfigAttr config;
  mm::KVCacheType cacheType;
};

LLVM::LLVMFuncOp Lowering::declare(StringRef name, Type result, ArrayRef<Type> args) {
  if (auto f = module.lookupSymbol<LLVM::LLVMFuncOp>(name))
    return f;
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(module.getBody());
  return LLVM::LLVMFuncOp::create(b, loc, name, LLVM::LLVMFunctionType::get(result, args));
}

Value Lowering::bufferOf(Value v) {
  auto it = bufferOffset.find(v);
  uint64_t off;
  if (it != bufferOffset.end()) {
    off = it->second;
  } else {
    off = arenaAlloc.allocate(bufferBytes(v));
    bufferOffset[v] = off;
  }
  return offsetPtr(arena, off);
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
  for (Operation &op : body)
    for (Value operand : op.getOperands())
      lastUse[operand] = &op;

  b.setInsertionPointToEnd(module.getBody());
  Type i32Ty = b.getI32Type(), i64Ty = b.getI64Type();
  auto fnTy = LLVM::LLVMFunctionType::get(
      i32Ty, {ptrTy, ptrTy, ptrTy, ptrTy, ptrTy, ptrTy, i64Ty, i32Ty, ptrTy});
  auto fn = LLVM::LLVMFuncOp::create(b, loc, "milm_forward", fnTy);
  Block *entry = fn.addEntryBlock(b);
  Block *bad = fn.addBlock();
  Block *badPos = fn.addBlock();
  Block *checkPos = fn.addBlock();
  Block *work = fn.addBlock();
  ex = entry->getArgument(0);
  weights = entry->getArgument(1);
  kv = entry->getArgument(2);
  arena = entry->getArgument(3);
  tokensArg = entry->getArgument(4);
  positionsArg = entry->getArgument(5);
  T = entry->getArgument(6);
  allLogits = entry->getArgument(7);
  logitsArg = entry->getArgument(8);

  // 1 <= T <= max_tokens, then every position < capacity; else nothing is written.
  b.setInsertionPointToStart(entry);
  Value tooFew = LLVM::ICmpOp::create(b, loc, LLVM::ICmpPredicate::slt, T, i64(1));
  Value tooMany = LLVM::ICmpOp::create(b, loc, LLVM::ICmpPredicate::sgt, T, i64(maxTokens));
  Value outOfRange = LLVM::OrOp::create(b, loc, tooFew, tooMany);
  LLVM::CondBrOp::create(b, loc, outOfRange, bad, checkPos);
  b.setInsertionPointToStart(bad);
  LLVM::ReturnOp::create(b, loc, i32(1));
  b.setInsertionPointToStart(badPos);
  LLVM::ReturnOp::create(b, loc, i32(2));
  b.setInsertionPointToStart(checkPos);
  auto check = LLVM::CallOp::create(
      b, loc, declare("milm_op_check_positions", i32Ty, {ptrTy, i64Ty, i64Ty}),
      ValueRange{positionsArg, T, i64(cacheType.getCapacity())});
  Value posBad =
      LLVM::ICmpOp::create(b, loc, LLVM::ICmpPredicate::ne, check.getResult(), i32(0));
  LLVM::CondBrOp::create(b, loc, posBad, badPos, work);
  b.setInsertionPointToStart(work);

  for (Operation &op : llvm::make_early_inc_range(body)) {
    if (failed(lowerOp(&op)))
      return failure();
    // Regions of values whose last use was this op go back to the arena.
    for (Value operand : op.getOperands())
      if (lastUse.lookup(operand) == &op) {
        auto it = bufferOffset.find(operand);
        if (it != bufferOffset.end() && operand != resultTensor)
          arenaAlloc.release(it->second, bufferBytes(operand));
      }
  }

  // Shared scratch regions go after the activations.
  uint64_t xqOffset = alignUp(arenaAlloc.size());
  uint64_t moeOffset = alignUp(xqOffset + xqBytes);
  uint64_t arenaBytes = alignUp(moeOffset + moeScratchBytes);
  for (LLVM::ConstantOp c : xqOffsetConsts)
    c.setValueAttr(b.getI64IntegerAttr(static_cast<int64_t>(xqOffset)));
  for (LLVM::ConstantOp c : moeOffsetConsts)
    c.setValueAttr(b.getI64IntegerAttr(static_cast<int64_t>(moeOffset)));

  // What the driver needs to write the artifact and the model descriptor.
  SmallVector<Attribute> weightAttrs;
  for (WeightInfo w : weightList) {
    mm::WeightType t = llvm::cast<mm::WeightType>(w.op.getType());
    SmallVector<NamedAttribute> fields{
        b.getNamedAttr("name", w.op.getNameAttr()),
        b.getNamedAttr("format", b.getI64IntegerAttr(static_cast<int64_t>(t.getFormat()))),
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

LogicalResult Lowering::lowerOp(Operation *op) {
  loc = op->getLoc();
  Type voidTy = LLVM::LLVMVoidType::get(ctx);
  auto fail = [&](const Twine &msg) { return op->emitOpError() << "cannot be compiled for the CPU: " << msg; };

  if (auto w = llvm::dyn_cast<mm::WeightOp>(op)) {
    mm::WeightType t = w.getType();
    auto it = weightByName.find(w.getName());
    if (it != weightByName.end()) {
      if (it->second.op.getType() != t)
        return fail("weight '" + w.getName() + "' is referenced with two types");
      weightOf[w.getResult()] = it->second;
      return success();
    }
    WeightInfo info{w, alignUp(weightsTop), t.getSizeInBytes()};
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
    call("milm_op_embedding", voidTy,
         {i32(static_cast<int64_t>(t.getFormat())), weightPtr(e.getTable()), i64(t.getShape()[1]),
          tokensArg, T, bufferOf(e.getResult())});
    return success();
  }
  if (auto n = llvm::dyn_cast<mm::RMSNormOp>(op)) {
    if (wtype(n.getWeight()).getFormat() != mm::WeightFormat::f32)
      return fail("norm weights must be f32");
    call("milm_op_rms_norm", voidTy,
         {bufferOf(n.getInput()), weightPtr(n.getWeight()), bufferOf(n.getResult()), T,
          i64(features(n.getInput())), f32(n.getEps().convertToDouble())});
    return success();
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
    call("milm_op_linear", voidTy,
         {ex, i32(static_cast<int64_t>(t.getFormat())), weightPtr(l.getWeight()), bias,
          bufferOf(l.getInput()), T, i64(K), i64(N), bufferOf(l.getResult()), xq});
    return success();
  }
  if (auto r = llvm::dyn_cast<mm::RopeOp>(op)) {
    if (r.getPositions() != positionsTensor)
      return fail("positions must be @forward's second argument");
    // In place when rope is the input's only user, else on a copy.
    Value in = r.getInput();
    if (in.hasOneUse() && bufferOffset.count(in)) {
      bufferOffset[r.getResult()] = bufferOffset[in];
      lastUse.erase(in); // the region lives on as the result's
    } else {
      call("milm_op_copy", voidTy, {bufferOf(in), bufferOf(r.getResult()), elems(in)});
    }
    int64_t hd = r.getHeadDim();
    int64_t rotary = r.getRotaryDim().value_or(hd);
    int64_t scaling = static_cast<int64_t>(r.getScaling());
    double factor = r.getFactor() ? r.getFactor()->convertToDouble() : 1.0;
    call("milm_op_rope", voidTy,
         {bufferOf(r.getResult()), T, i64(features(in) / hd), i64(hd), positionsArg,
          i32(r.getPairing() == mm::RopePairing::neox ? 1 : 0), i32(rotary),
          f32(r.getBase().convertToDouble()), i32(scaling), f32(factor),
          i32(r.getOriginalContext().value_or(0))});
    return success();
  }
  if (auto a = llvm::dyn_cast<mm::AttentionOp>(op)) {
    if (a.getTreeMask())
      return fail("tree attention masks are not supported by the CPU runtime yet");
    if (a.getCache() != cacheTensor || a.getPositions() != positionsTensor)
      return fail("the cache and positions must be @forward's arguments");
    int64_t H = a.getNumHeads(), KV = a.getNumKvHeads(), HD = a.getHeadDim();
    int64_t cap = cacheType.getCapacity();
    uint64_t layerBytes = 2ull * cap * KV * HD * 2; // k and v, f16
    double scale = a.getScale() ? a.getScale()->convertToDouble() : 1.0 / std::sqrt(double(HD));
    call("milm_op_attention", voidTy,
         {ex, bufferOf(a.getQ()), bufferOf(a.getK()), bufferOf(a.getV()),
          offsetPtr(kv, layerBytes * a.getLayer()), i64(cap), positionsArg, T, i64(H), i64(KV),
          i64(HD), f32(scale), bufferOf(a.getResult())});
    return success();
  }
  if (auto s = llvm::dyn_cast<mm::SwiGLUOp>(op)) {
    call("milm_op_swiglu", voidTy,
         {bufferOf(s.getGate()), bufferOf(s.getUp()), bufferOf(s.getResult()), elems(s.getGate())});
    return success();
  }
  if (auto s = llvm::dyn_cast<mm::AddOp>(op)) {
    call("milm_op_add", voidTy,
         {bufferOf(s.getLhs()), bufferOf(s.getRhs()), bufferOf(s.getResult()), elems(s.getLhs())});
    return success();
  }
  if (auto m = llvm::dyn_cast<mm::MoEOp>(op)) {
    mm::WeightType r = wtype(m.getRouter()), g = wtype(m.getGateExps()),
                   u = wtype(m.getUpExps()), d = wtype(m.getDownExps());
    int64_t E = r.getShape()[0], D = r.getShape()[1], F = g.getShape()[1], k = m.getTopK();
    int32_t mode;
    switch (m.getWeighting()) {
    case mm::MoEWeighting::topk_softmax: mode = 0; break;
    case mm::MoEWeighting::softmax_topk: mode = 1; break;
    default: return fail("weighting 'softmax_topk_norm' is not supported by the CPU runtime yet");
    }
    needXQ(r.getFormat(), D);
    needXQ(g.getFormat(), D);
    needXQ(u.getFormat(), D);
    needXQ(d.getFormat(), F);
    uint64_t scratch = 4ull * (maxTokens * E + 2 * maxTokens * k + 2 * F + D);
    moeScratchBytes = std::max(moeScratchBytes, scratch);
    Value xq = scratchPtr(xqOffsetConsts);
    Value sc = scratchPtr(moeOffsetConsts);
    call("milm_op_moe", voidTy,
         {ex, bufferOf(m.getInput()), T, i64(D), i64(F), i64(E), i64(k), i32(mode),
          i32(static_cast<int64_t>(r.getFormat())), weightPtr(m.getRouter()),
          i32(static_cast<int64_t>(g.getFormat())), weightPtr(m.getGateExps()),
          i32(static_cast<int64_t>(u.getFormat())), weightPtr(m.getUpExps()),
          i32(static_cast<int64_t>(d.getFormat())), weightPtr(m.getDownExps()),
          bufferOf(m.getResult()), sc, xq});
    return success();
  }
  if (auto l = llvm::dyn_cast<mm::LogitsOp>(op)) {
    mm::WeightType t = wtype(l.getWeight());
    int64_t K = t.getShape()[1], N = t.getShape()[0];
    needXQ(t.getFormat(), K);
    Value xq = scratchPtr(xqOffsetConsts);
    resultTensor = l.getResult();
    call("milm_op_logits", voidTy,
         {ex, i32(static_cast<int64_t>(t.getFormat())), weightPtr(l.getWeight()),
          bufferOf(l.getInput()), T, i64(K), i64(N), logitsArg, allLogits, xq});
    return success();
  }
  if (auto r = llvm::dyn_cast<func::ReturnOp>(op)) {
    if (r.getNumOperands() != 1 || r.getOperand(0) != resultTensor || !resultTensor)
      return fail("@forward must return the result of its milm.logits");
    LLVM::ReturnOp::create(b, loc, i32(0));
    return success();
  }
  return fail("no CPU lowering for this op");
}

struct LowerToCPUPass : PassWrapper<LowerToCPUPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(LowerToCPUPass)
  LowerToCPUPass() = default;
  LowerToCPUPass(const LowerToCPUPass &other) : PassWrapper(other) {}
  explicit LowerToCPUPass(int64_t maxTokens) { this->maxTokens = maxTokens; }
  StringRef getArgument() const final { return "milm-lower-to-cpu"; }
  StringRef getDescription() const final {
    return "Lower a milm.model to milm_forward in the LLVM dialect, calling the CPU op layer";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<LLVM::LLVMDialect>();
  }
  void runOnOperation() override {
    if (maxTokens < 1) {
      getOperation().emitError() << "max-tokens must be at least 1";
      return signalPassFailure();
    }
    if (failed(Lowering(getOperation(), maxTokens).run()))
      signalPassFailure();
  }
  Option<int64_t> maxTokens{*this, "max-tokens",
                            llvm::cl::desc("Most tokens one milm_forward call evaluates"),
                            llvm::cl::init(64)};
};

} // namespace

std::unique_ptr<Pass> createLowerToCPUPass(int64_t maxTokens) {
  return std::make_unique<LowerToCPUPass>(maxTokens);
}

void registerMilmCodegenPasses() { PassRegistration<LowerToCPUPass>(); }

} // namespace milm
