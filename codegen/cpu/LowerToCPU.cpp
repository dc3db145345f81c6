//===- LowerToCPU.cpp - milm-convert-to-cpu and the CPU pipelines ---------===//
//
// The model's @forward function becomes
//   func.func @milm_forward(!llvm.ptr ex, memref<Wxi8> weights, memref<Kxi8> kv,
//                           memref<Axi8> arena, memref<Mxi32> tokens,
//                           memref<Mxi32> positions, i64 T, i32 all_logits,
//                           !llvm.ptr logits) -> i32
// with every size a constant (from milm-cpu-plan-buffers' plan), so that
// func-to-llvm's bare-pointer convention gives the C signature of
// runtime/include/milm/model_abi.h. T and the positions are checked with
// scf/arith first; nothing is written when they are out of range.
//
// This file builds that frame, moves @forward's ops into it and converts them
// with the patterns of MilmToCPU/ (a dialect conversion: each f32 activation
// becomes the max_tokens-row memref.view of the arena the plan gave it; a
// milm.weight is resolved at its uses, an address in the weight section).
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
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
namespace mm = mlir::milm;

namespace milm {

#define GEN_PASS_DEF_CONVERTTOCPU
#include "codegen/cpu/Passes.h.inc"

namespace cpu {

FailureOr<mm::ModelOp> onlyModel(ModuleOp module, StringRef pass) {
  SmallVector<mm::ModelOp> models(module.getOps<mm::ModelOp>());
  if (models.size() != 1)
    return module.emitError() << pass << " needs exactly one milm.model, found " << models.size();
  return models.front();
}

FailureOr<func::FuncOp> forwardOf(mm::ModelOp model) {
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
  auto cache = llvm::cast<mm::KVCacheType>(forward.getArgument(2).getType());
  if (!cache.getElement().isF16())
    return forward.emitOpError() << "the CPU runtime keeps the KV cache in f16, not "
                                 << cache.getElement();
  return forward;
}

const PackedLayoutInfo *packedLayoutOf(mm::WeightOp w) {
  auto layout = w->getAttrOfType<StringAttr>(kLayoutAttr);
  const PackedLayoutInfo *p = layout ? packedLayoutNamed(layout.getValue()) : nullptr;
  return p && static_cast<uint32_t>(p->base) == static_cast<uint32_t>(w.getType().getFormat())
             ? p
             : nullptr;
}

int64_t kernelFormatCode(mm::WeightOp w) {
  const PackedLayoutInfo *p = packedLayoutOf(w);
  return p ? p->code : static_cast<int64_t>(w.getType().getFormat());
}

Value Emitter::buffer(Value result) {
  int64_t off = result.getDefiningOp()->getAttrOfType<IntegerAttr>(kArenaOffsetAttr).getInt();
  int64_t features = llvm::cast<RankedTensorType>(result.getType()).getDimSize(1);
  return view(f.arena, idx(off), MemRefType::get({f.maxTokens, features}, b.getF32Type()));
}

Value Emitter::rows(Value buffer) {
  int64_t features = llvm::cast<MemRefType>(buffer.getType()).getDimSize(1);
  SmallVector<OpFoldResult> offsets{b.getIndexAttr(0), b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes{f.Tidx, b.getIndexAttr(features)};
  SmallVector<OpFoldResult> strides{b.getIndexAttr(1), b.getIndexAttr(1)};
  return memref::SubViewOp::create(b, loc, buffer, offsets, sizes, strides);
}

uint64_t Emitter::weightOffset(Value weight) {
  auto w = weight.getDefiningOp<mm::WeightOp>();
  return static_cast<uint64_t>(w->getAttrOfType<IntegerAttr>(kSectionOffsetAttr).getInt());
}

Value Emitter::weightBytes(Value weight) {
  auto w = weight.getDefiningOp<mm::WeightOp>();
  return bytesAt(f.weights, weightOffset(weight), w.getType().getSizeInBytes());
}

Value Emitter::formatOf(Value weight) {
  return i32(kernelFormatCode(weight.getDefiningOp<mm::WeightOp>()));
}

func::FuncOp Emitter::declare(Operation *at, StringRef name, TypeRange args) {
  auto module = at->getParentOfType<ModuleOp>();
  if (auto fn = module.lookupSymbol<func::FuncOp>(name))
    return fn;
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(module.getBody());
  auto fn = func::FuncOp::create(b, loc, name, b.getFunctionType(args, {}));
  fn.setPrivate();
  return fn;
}

LogicalResult Emitter::callOp(Operation *op, const OpSpec &spec,
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
      return cannotCompile(op, "argument '" + name + "' of " + spec.symbol + " is of a type " +
                                   "the op layer does not take");
    kinds.push_back({name, k});
  }
  SmallVector<unsigned> order;
  std::string why = orderOpArgs(spec, kinds, order);
  if (!why.empty())
    return cannotCompile(op, why);
  SmallVector<Value> ordered;
  SmallVector<Type> types;
  for (unsigned i : order) {
    ordered.push_back(args.begin()[i].second);
    types.push_back(ordered.back().getType());
  }
  // The op layer's own (module's) block: the call goes where the builder is.
  func::CallOp::create(b, loc, declare(op, spec.symbol, types), ordered);
  return success();
}

void Emitter::elementwise(ValueRange ins, Value out,
                          function_ref<Value(OpBuilder &, Location, ValueRange)> fn) {
  SmallVector<AffineMap> maps(ins.size() + 1, b.getMultiDimIdentityMap(2));
  SmallVector<utils::IteratorType> iters(2, utils::IteratorType::parallel);
  linalg::GenericOp::create(b, loc, TypeRange{}, ins, ValueRange{out}, maps, iters,
                            [&](OpBuilder &nb, Location nl, ValueRange a) {
                              linalg::YieldOp::create(nb, nl, fn(nb, nl, a));
                            });
}

} // namespace cpu

namespace {

using namespace cpu;

int64_t planValue(DictionaryAttr plan, StringRef key) {
  auto v = plan ? plan.getAs<IntegerAttr>(key) : IntegerAttr();
  return v ? v.getInt() : -1;
}

struct ConvertToCPU : impl::ConvertToCPUBase<ConvertToCPU> {
  using ConvertToCPUBase::ConvertToCPUBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    FailureOr<mm::ModelOp> model = onlyModel(module, getArgument());
    if (failed(model))
      return signalPassFailure();
    FailureOr<func::FuncOp> forward = forwardOf(*model);
    if (failed(forward) || failed(convert(module, *model, *forward)))
      return signalPassFailure();
    // exp (swiglu) as a polynomial in arith ops, which LLVM vectorises with the
    // loop around it; llvm.exp would become one libm call per element.
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(
        patterns, [](StringRef name) { return name == "exp" || name == "math.exp"; });
    // No folding or constant CSE: the IR stays in op order, one constant next
    // to each use, as the FileCheck tests read it.
    GreedyRewriteConfig config;
    config.enableFolding(false).enableConstantCSE(false).setRegionSimplificationLevel(
        GreedySimplifyRegionLevel::Disabled);
    if (failed(applyPatternsGreedily(module, std::move(patterns), config)))
      signalPassFailure();
  }

  LogicalResult convert(ModuleOp module, mm::ModelOp model, func::FuncOp forward) {
    auto plan = model->getAttrOfType<DictionaryAttr>(kPlanAttr);
    Frame f;
    f.maxTokens = planValue(plan, "max_tokens");
    int64_t arenaBytes = planValue(plan, "arena_bytes"), weightsBytes = planValue(plan, "weights_bytes");
    int64_t xqOffset = planValue(plan, "xq_offset"), moeOffset = planValue(plan, "moe_offset");
    if (f.maxTokens < 1 || arenaBytes < 0 || weightsBytes < 0 || xqOffset < 0 || moeOffset < 0)
      return model.emitOpError() << "has no complete " << kPlanAttr
                                 << " (max_tokens, arena_bytes, weights_bytes, xq_offset, "
                                    "moe_offset): run milm-cpu-plan-buffers first";
    f.xqOffset = static_cast<uint64_t>(xqOffset);
    f.moeOffset = static_cast<uint64_t>(moeOffset);
    f.cacheType = llvm::cast<mm::KVCacheType>(forward.getArgument(2).getType());
    Block &body = forward.getBody().front();
    f.tokensTensor = body.getArgument(0);
    f.positionsTensor = body.getArgument(1);
    f.cacheTensor = body.getArgument(2);

    // The patterns, and each op's check before anything is rewritten.
    MLIRContext *ctx = &getContext();
    TypeConverter converter;
    converter.addConversion([](Type t) { return t; });
    converter.addConversion([&](RankedTensorType t) -> Type {
      if (t.getRank() == 2 && t.getElementType().isF32())
        return MemRefType::get({f.maxTokens, t.getDimSize(1)}, t.getElementType());
      return t;
    });
    RewritePatternSet patternSet(ctx);
    CPUPatterns patterns{patternSet, converter, f, {}};
#define MILM_POPULATE(Name) populate##Name##Lowering(patterns);
    MILM_CPU_OP_LOWERINGS(MILM_POPULATE)
#undef MILM_POPULATE
    Operation *terminator = body.getTerminator();
    auto ret = llvm::dyn_cast<func::ReturnOp>(terminator);
    if (!ret || ret.getNumOperands() != 1 || !ret.getOperand(0).getDefiningOp<mm::LogitsOp>())
      return cannotCompile(terminator, "@forward must return the result of its milm.logits");
    for (Operation &op : body) {
      if (&op == terminator || isa<mm::WeightOp>(op))
        continue;
      auto it = patterns.checks.find(op.getName().getStringRef());
      if (it == patterns.checks.end())
        return cannotCompile(&op, isa<mm::MoERouteOp, mm::MoECombineOp>(op)
                                      ? "an unfused mixture of experts: run milm-fuse-moe "
                                        "first (milmc compile does), the CPU kernels take one "
                                        "milm.moe"
                                      : "no CPU lowering for this op");
      if (op.getNumResults() == 1 && llvm::isa<RankedTensorType>(op.getResult(0).getType()) &&
          !isa<mm::LogitsOp>(op) && !op.hasAttr(kArenaOffsetAttr))
        return op.emitOpError() << "has no " << kArenaOffsetAttr
                                << ": run milm-cpu-plan-buffers first";
      if (failed(it->second->check(&op)))
        return failure();
    }
    for (mm::WeightOp w : body.getOps<mm::WeightOp>()) {
      if (!w->getAttrOfType<IntegerAttr>(kSectionOffsetAttr))
        return w.emitOpError() << "has no " << kSectionOffsetAttr
                               << ": run milm-cpu-plan-buffers first";
      if (auto layout = w->getAttrOfType<StringAttr>(kLayoutAttr); layout && !packedLayoutOf(w))
        return cannotCompile(w, "its " + Twine(kLayoutAttr) + " '" + layout.getValue() +
                                    "' is not the packed layout of its format");
    }

    // @milm_forward(ex, weights, kv, arena, tokens, positions, T, all_logits,
    // logits) -> i32, every size a constant.
    OpBuilder b(ctx);
    Location loc = UnknownLoc::get(ctx);
    Emitter e(b, loc, f);
    Type i8 = b.getI8Type(), i32 = b.getI32Type(), i64 = b.getI64Type(), ptr = e.ptrType();
    auto bytes = [&](int64_t n) { return MemRefType::get({n}, i8); };
    int64_t kvBytes = static_cast<int64_t>(f.cacheType.totalBytes());
    auto ids = MemRefType::get({f.maxTokens}, i32);
    SmallVector<Type> argTypes{ptr, bytes(std::max<int64_t>(weightsBytes, 1)), bytes(kvBytes),
                               bytes(arenaBytes), ids, ids, i64, i32, ptr};
    b.setInsertionPointToEnd(module.getBody());
    auto fn = func::FuncOp::create(b, loc, "milm_forward", b.getFunctionType(argTypes, {i32}));
    Block *entry = fn.addEntryBlock();
    f.ex = entry->getArgument(0);
    f.weights = entry->getArgument(1);
    f.kv = entry->getArgument(2);
    f.arena = entry->getArgument(3);
    f.tokens = entry->getArgument(4);
    f.positions = entry->getArgument(5);
    f.T = entry->getArgument(6);
    f.allLogits = entry->getArgument(7);
    f.logits = entry->getArgument(8);

    // 1 <= T <= max_tokens (else 1), then every position in [0, capacity) (else
    // 2); only then is anything written.
    b.setInsertionPointToStart(entry);
    Value tooFew = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, f.T, e.i64(1));
    Value tooMany =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, f.T, e.i64(f.maxTokens));
    Value tOk = arith::XOrIOp::create(b, loc, arith::OrIOp::create(b, loc, tooFew, tooMany),
                                      arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
    auto checkT = scf::IfOp::create(b, loc, TypeRange{i32}, tOk, /*withElseRegion=*/true);
    b.setInsertionPointToStart(checkT.elseBlock());
    scf::YieldOp::create(b, loc, e.i32(1));

    b.setInsertionPointToStart(checkT.thenBlock());
    f.Tidx = arith::IndexCastOp::create(b, loc, b.getIndexType(), f.T);
    Value capacity = e.i32(f.cacheType.getCapacity());
    Value positions = f.positions;
    auto scan = scf::ForOp::create(
        b, loc, e.idx(0), f.Tidx, e.idx(1),
        ValueRange{arith::ConstantOp::create(b, loc, b.getBoolAttr(false))},
        [&](OpBuilder &nb, Location nl, Value i, ValueRange acc) {
          Value p = memref::LoadOp::create(nb, nl, positions, ValueRange{i});
          Value zero = arith::ConstantOp::create(nb, nl, nb.getI32IntegerAttr(0));
          Value neg = arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::slt, p, zero);
          Value over = arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::sge, p, capacity);
          Value bad = arith::OrIOp::create(nb, nl, neg, over);
          scf::YieldOp::create(nb, nl, ValueRange{arith::OrIOp::create(nb, nl, acc[0], bad)});
        });
    auto checkPos =
        scf::IfOp::create(b, loc, TypeRange{i32}, scan.getResult(0), /*withElseRegion=*/true);
    b.setInsertionPointToEnd(checkT.thenBlock());
    scf::YieldOp::create(b, loc, checkPos.getResults());
    b.setInsertionPointToStart(checkPos.thenBlock());
    scf::YieldOp::create(b, loc, e.i32(2));
    b.setInsertionPointToEnd(entry);
    func::ReturnOp::create(b, loc, checkT.getResults());

    // The model goes into the "positions are fine" branch, @forward's
    // arguments standing for milm_forward's until the patterns replace their
    // users; it returns 0 where @forward returned the logits.
    Block *inner = checkPos.elseBlock();
    b.setInsertionPointToStart(inner);
    Value cast[3];
    Value from[3] = {f.tokens, f.positions, f.kv};
    for (int i = 0; i < 3; ++i) {
      cast[i] = UnrealizedConversionCastOp::create(b, loc, body.getArgument(i).getType(), from[i])
                    .getResult(0);
      body.getArgument(i).replaceAllUsesWith(cast[i]);
    }
    f.tokensTensor = cast[0];
    f.positionsTensor = cast[1];
    f.cacheTensor = cast[2];
    inner->getOperations().splice(inner->end(), body.getOperations());
    b.setInsertionPoint(ret);
    Location retLoc = ret.getLoc();
    scf::YieldOp::create(b, retLoc, ValueRange{arith::ConstantOp::create(
                                        b, retLoc, b.getI32IntegerAttr(0))});
    ret.erase();

    // What the driver needs to write the artifact, from the weights as planned.
    SmallVector<Attribute> weightAttrs = describeWeights(b, *inner);

    ConversionTarget target(*ctx);
    target.addIllegalDialect<mm::MilmDialect>();
    target.addLegalOp<mm::WeightOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(fn, target, std::move(patternSet))))
      return fn.emitOpError() << "the CPU lowering left ops unconverted (a bug in milm)";
    // Weights were resolved at their uses, @forward's arguments by the frame's.
    for (Operation &op : llvm::make_early_inc_range(llvm::reverse(*inner)))
      if ((isa<mm::WeightOp>(op) || isa<UnrealizedConversionCastOp>(op)) && op.use_empty())
        op.erase();

    module->setAttr(kWeightsAttr, b.getArrayAttr(weightAttrs));
    auto i64Attr = [&](int64_t v) { return b.getI64IntegerAttr(v); };
    module->setAttr(kLoweredAttr,
                    b.getDictionaryAttr({
                        b.getNamedAttr("model_name", model.getSymNameAttr()),
                        b.getNamedAttr("config", model.getConfig()),
                        b.getNamedAttr("max_tokens", i64Attr(f.maxTokens)),
                        b.getNamedAttr("kv_capacity", i64Attr(f.cacheType.getCapacity())),
                        b.getNamedAttr("arena_bytes", i64Attr(arenaBytes)),
                        b.getNamedAttr("weights_bytes", i64Attr(weightsBytes)),
                    }));
    model.erase();
    return success();
  }

  /// One dictionary per distinct weight, in section order: name, format (the
  /// kernels' code), shape, offset and size in the section, and where its
  /// bytes come from (file + offset, or part_files + part_offsets).
  static SmallVector<Attribute> describeWeights(OpBuilder &b, Block &block) {
    SmallVector<Attribute> out;
    llvm::StringSet<> seen;
    for (mm::WeightOp w : block.getOps<mm::WeightOp>()) {
      if (!seen.insert(w.getName()).second)
        continue;
      mm::WeightType t = w.getType();
      SmallVector<NamedAttribute> fields{
          b.getNamedAttr("name", w.getNameAttr()),
          b.getNamedAttr("format", b.getI64IntegerAttr(kernelFormatCode(w))),
          b.getNamedAttr("shape", b.getDenseI64ArrayAttr(t.getShape())),
          b.getNamedAttr("offset", w->getAttr(kSectionOffsetAttr)),
          b.getNamedAttr("size", b.getI64IntegerAttr(static_cast<int64_t>(t.getSizeInBytes())))};
      if (w.getFileAttr()) {
        fields.push_back(b.getNamedAttr("file", w.getFileAttr()));
        fields.push_back(b.getNamedAttr("source_offset", w.getOffsetAttr()));
      } else if (w.getPartFilesAttr()) {
        fields.push_back(b.getNamedAttr("part_files", w.getPartFilesAttr()));
        fields.push_back(b.getNamedAttr("part_offsets", w.getPartOffsetsAttr()));
      }
      out.push_back(b.getDictionaryAttr(fields));
    }
    return out;
  }
};

struct CPUPipelineOptions : PassPipelineOptions<CPUPipelineOptions> {
  Option<int64_t> maxTokens{*this, "max-tokens",
                            llvm::cl::desc("Most tokens one milm_forward call evaluates"),
                            llvm::cl::init(64)};
  Option<bool> repack{*this, "repack",
                      llvm::cl::desc("Read product weights in their format's packed layout "
                                     "(StorageFormat.h's kPackedLayouts: q4_0x8, q8_0x8, "
                                     "q4_kx8, q6_kx8; for kernels that have them)"),
                      llvm::cl::init(false)};
  Option<int64_t> rowGroup{*this, "row-group",
                           llvm::cl::desc("Rows a packed layout groups: 8 (x86-64: q4_0x8 "
                                          "...) or 32 (Hexagon HVX: q4_0x32, q8_0x32)"),
                           llvm::cl::init(8)};
};

} // namespace

void buildLowerToCPUPipeline(OpPassManager &pm, int64_t maxTokens, bool repack,
                             int64_t rowGroup) {
  CPUSelectLayoutsOptions layouts;
  layouts.repack = repack;
  layouts.rowGroup = rowGroup;
  pm.addPass(createCPUSelectLayouts(layouts));
  CPUPlanBuffersOptions plan;
  plan.maxTokens = maxTokens;
  pm.addPass(createCPUPlanBuffers(plan));
  pm.addPass(createConvertToCPU());
}

void buildCPUToLLVMPipeline(OpPassManager &pm, int64_t maxTokens, bool repack,
                            int64_t rowGroup) {
  buildLowerToCPUPipeline(pm, maxTokens, repack, rowGroup);
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

namespace generated {
#define GEN_PASS_REGISTRATION
#include "codegen/cpu/Passes.h.inc"
} // namespace generated

void registerMilmCodegenPasses() {
  generated::registerMilmCPUPasses();
  PassPipelineRegistration<CPUPipelineOptions>(
      "milm-lower-to-cpu",
      "milm-cpu-select-layouts, milm-cpu-plan-buffers and milm-convert-to-cpu: the milm.model "
      "as @milm_forward in linalg/scf/arith/memref, calling the CPU op layer for the heavy ops",
      [](OpPassManager &pm, const CPUPipelineOptions &o) {
        buildLowerToCPUPipeline(pm, o.maxTokens, o.repack, o.rowGroup);
      });
  PassPipelineRegistration<CPUPipelineOptions>(
      "milm-cpu-to-llvm",
      "milm-lower-to-cpu, then linalg -> scf -> cf and every dialect to LLVM (what milmc "
      "compile runs before translating to LLVM IR)",
      [](OpPassManager &pm, const CPUPipelineOptions &o) {
        buildCPUToLLVMPipeline(pm, o.maxTokens, o.repack, o.rowGroup);
      });
}

} // namespace milm
