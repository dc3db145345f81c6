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
#include "codegen/cpu/Lowering.h"
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
namespace cpu {


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


LogicalResult Lowering::lowerOp(Operation *op) {
  loc = op->getLoc();
  if (auto w = llvm::dyn_cast<mm::WeightOp>(op))
    return lowerWeight(w);
  if (auto e = llvm::dyn_cast<mm::EmbeddingOp>(op))
    return lowerEmbedding(e);
  if (auto n = llvm::dyn_cast<mm::RMSNormOp>(op))
    return lowerRMSNorm(n);
  if (auto l = llvm::dyn_cast<mm::LinearOp>(op))
    return lowerLinear(l);
  if (auto r = llvm::dyn_cast<mm::RopeOp>(op))
    return lowerRope(r);
  if (auto a = llvm::dyn_cast<mm::AttentionOp>(op))
    return lowerAttention(a);
  if (auto s = llvm::dyn_cast<mm::SwiGLUOp>(op))
    return lowerSwiGLU(s);
  if (auto s = llvm::dyn_cast<mm::AddOp>(op))
    return lowerAdd(s);
  if (auto m = llvm::dyn_cast<mm::MoEOp>(op))
    return lowerMoE(m);
  if (auto l = llvm::dyn_cast<mm::LogitsOp>(op))
    return lowerLogits(l);
  if (auto r = llvm::dyn_cast<func::ReturnOp>(op))
    return lowerReturn(r);
  return fail(op, "no CPU lowering for this op");
}

} // namespace cpu

namespace {

using cpu::Lowering;

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
