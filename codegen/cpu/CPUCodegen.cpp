//===- CPUCodegen.cpp - lowered milm module -> object file ----------------===//
#include "codegen/cpu/CPUCodegen.h"
#include "codegen/cpu/LowerToCPU.h"
#include "dialects/milm/MilmDialect.h"
#include "runtime/include/milm/cpu_features.h"
#include "runtime/include/milm/model_abi.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/Bitcode/BitcodeReader.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/GlobalAlias.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/Linker/Linker.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/Timer.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/Transforms/IPO/Internalize.h"

#include <chrono>

namespace milm {
namespace {
llvm::Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}
double seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}
} // namespace

llvm::Error finishCPUTarget(CPUTarget &t) {
  // The microkernel flavour follows what the CPU can do.
  std::string lookupError;
  const llvm::Target *tgt = llvm::TargetRegistry::lookupTarget(llvm::Triple(t.triple), lookupError);
  if (!tgt)
    return err("target " + t.triple + ": " + lookupError);
  std::unique_ptr<llvm::MCSubtargetInfo> sti(
      tgt->createMCSubtargetInfo(llvm::Triple(t.triple), t.cpu, t.features));
  if (!sti || !sti->isCPUStringValid(t.cpu))
    return err("--cpu '" + t.cpu + "' is not a CPU LLVM knows for " + t.triple);
  auto has = [&](llvm::StringRef f) { return sti->checkFeatures("+" + f.str()); };
  if (t.arch == "x86_64") {
    const bool avx2 = has("avx2") && has("fma") && has("f16c");
    const bool avx512 = avx2 && has("avx512f") && has("avx512bw") && has("avx512vl") &&
                        has("avx512dq") && has("avx512vnni");
    t.ukernels = avx512 ? "x86_64-avx512" : avx2 ? "x86_64-avx2" : "x86_64-generic";
  } else {
    t.ukernels = has("i8mm") && has("dotprod")   ? "aarch64-i8mm"
                 : has("dotprod")                ? "aarch64-dotprod"
                                                 : "aarch64-generic";
  }
  // What the runtime checks before it runs the code.
  auto record = [&](const char *name) {
    if (has(name))
      t.requiredFeatures += (t.requiredFeatures.empty() ? "" : ",") + std::string(name);
  };
#define MILM_RECORD_X86(name, ...) record(name);
#define MILM_RECORD_AARCH64(name, ...) record(name);
  if (t.arch == "x86_64") {
    MILM_X86_CPU_FEATURES(MILM_RECORD_X86)
  } else {
    MILM_AARCH64_CPU_FEATURES(MILM_RECORD_AARCH64)
  }
#undef MILM_RECORD_X86
#undef MILM_RECORD_AARCH64
  return llvm::Error::success();
}

llvm::Expected<LoweredModelInfo> readLoweredModelInfo(mlir::ModuleOp module) {
  auto lowered = module->getAttrOfType<mlir::DictionaryAttr>(kLoweredAttr);
  auto weights = module->getAttrOfType<mlir::ArrayAttr>(kWeightsAttr);
  if (!lowered || !weights)
    return err("the module was not lowered with --milm-lower-to-cpu");
  LoweredModelInfo info;
  auto i64 = [&](mlir::DictionaryAttr d, llvm::StringRef k) -> int64_t {
    auto a = d.getAs<mlir::IntegerAttr>(k);
    return a ? a.getInt() : 0;
  };
  info.modelName = lowered.getAs<mlir::StringAttr>("model_name").getValue().str();
  info.maxTokens = i64(lowered, "max_tokens");
  info.kvCapacity = i64(lowered, "kv_capacity");
  info.arenaBytes = i64(lowered, "arena_bytes");
  info.weightsBytes = i64(lowered, "weights_bytes");
  auto cfg = lowered.getAs<mlir::milm::ModelConfigAttr>("config");
  info.vocab = cfg.getVocabSize();
  info.hidden = cfg.getHiddenSize();
  info.layers = cfg.getNumLayers();
  info.heads = cfg.getNumHeads();
  info.kvHeads = cfg.getNumKvHeads();
  info.layerKvHeads.assign(cfg.getLayerKvHeads().begin(), cfg.getLayerKvHeads().end());
  info.headDim = cfg.getHeadDim();

  for (mlir::Attribute a : weights) {
    auto d = llvm::cast<mlir::DictionaryAttr>(a);
    LoweredWeight w;
    w.name = d.getAs<mlir::StringAttr>("name").getValue().str();
    w.format = static_cast<uint32_t>(i64(d, "format"));
    {
      llvm::ArrayRef<int64_t> shape = d.getAs<mlir::DenseI64ArrayAttr>("shape").asArrayRef();
      w.shape.assign(shape.begin(), shape.end());
    }
    w.offset = i64(d, "offset");
    w.size = i64(d, "size");
    if (auto f = d.getAs<mlir::StringAttr>("file")) {
      w.file = f.getValue().str();
      w.sourceOffset = i64(d, "source_offset");
    } else if (auto pf = d.getAs<mlir::ArrayAttr>("part_files")) {
      for (mlir::Attribute s : pf)
        w.partFiles.push_back(llvm::cast<mlir::StringAttr>(s).getValue().str());
      llvm::ArrayRef<int64_t> offs = d.getAs<mlir::DenseI64ArrayAttr>("part_offsets").asArrayRef();
      w.partOffsets.assign(offs.begin(), offs.end());
    } else {
      return err("weight '" + w.name + "' has no source: the IR does not say where its bytes are");
    }
    info.weights.push_back(std::move(w));
  }
  return info;
}

void CPULoweredTarget::buildLoweringPipeline(mlir::OpPassManager &pm, int64_t maxTokens,
                                             bool repack) const {
  buildCPUToLLVMPipeline(pm, maxTokens, repack, packedRowGroup());
}

llvm::Expected<LoweredModelInfo> CPULoweredTarget::loweredInfo(mlir::ModuleOp module) const {
  return readLoweredModelInfo(module);
}

llvm::Error CPULoweredTarget::emitObject(mlir::ModuleOp module, const LoweredModelInfo &info,
                                         const ResolvedTarget &t, llvm::StringRef bitcodeDir,
                                         llvm::StringRef objectPath,
                                         CodegenTimings *timings) const {
  return emitCPUObject(module, info, t, bitcodeDir, objectPath, timings);
}

llvm::Error emitCPUObject(mlir::ModuleOp module, const LoweredModelInfo &info,
                          const CPUTarget &target, llvm::StringRef bitcodeDir,
                          llvm::StringRef objectPath, CodegenTimings *timings) {
  CodegenTimings local;
  CodegenTimings &tm = timings ? *timings : local;
  auto t0 = std::chrono::steady_clock::now();

  mlir::registerBuiltinDialectTranslation(*module.getContext());
  mlir::registerLLVMDialectTranslation(*module.getContext());
  llvm::LLVMContext llctx;
  std::unique_ptr<llvm::Module> mod = mlir::translateModuleToLLVMIR(module, llctx, "model");
  if (!mod)
    return err("translating the lowered model to LLVM IR failed");
  llvm::Triple triple(target.triple);
  mod->setTargetTriple(triple);

  // The descriptor the runtime checks the artifact against.
  {
    llvm::Type *i32 = llvm::Type::getInt32Ty(llctx), *i64 = llvm::Type::getInt64Ty(llctx);
    llvm::Type *ptr = llvm::PointerType::get(llctx, 0);
    auto *descTy = llvm::StructType::get(
        llctx, {i32, i32, i64, ptr, ptr, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, ptr, ptr});
    auto str = [&](llvm::StringRef s, const char *name) -> llvm::Constant * {
      auto *init = llvm::ConstantDataArray::getString(llctx, s);
      auto *g = new llvm::GlobalVariable(*mod, init->getType(), true,
                                         llvm::GlobalValue::PrivateLinkage, init, name);
      return g;
    };
    auto c32 = [&](uint64_t v) { return llvm::ConstantInt::get(i32, v); };
    auto c64 = [&](uint64_t v) { return llvm::ConstantInt::get(i64, v); };
    llvm::Constant *layerKv = llvm::ConstantPointerNull::get(llvm::PointerType::get(llctx, 0));
    if (!info.layerKvHeads.empty()) {
      std::vector<uint64_t> v(info.layerKvHeads.begin(), info.layerKvHeads.end());
      auto *arr = llvm::ConstantDataArray::get(llctx, v);
      layerKv = new llvm::GlobalVariable(*mod, arr->getType(), true,
                                         llvm::GlobalValue::PrivateLinkage, arr,
                                         "milm.layer_kv_heads");
    }
    auto *init = llvm::ConstantStruct::get(
        descTy, {c32(MILM_MODEL_ABI_VERSION), c32(MILM_MODEL_FLAG_TREE_ATTENTION), c64(info.modelHash),
                 str(info.modelName, "milm.model_name"), str(target.triple, "milm.target"),
                 c64(info.vocab), c64(info.hidden),
                 c64(info.layers), c64(info.heads), c64(info.kvHeads), c64(info.headDim),
                 c64(info.kvCapacity), c64(info.maxTokens), c64(info.arenaBytes),
                 c64(info.weightsBytes),
                 str(target.requiredFeatures, "milm.cpu_features"), layerKv});
    new llvm::GlobalVariable(*mod, descTy, true, llvm::GlobalValue::ExternalLinkage, init,
                             info.symbolPrefix + "model_descriptor");
  }
  // The lowering names the entry point milm_forward; a draft model's gets its
  // own prefix so that both link into one executable.
  const std::string forwardName = info.symbolPrefix + "forward";
  const std::string descriptorName = info.symbolPrefix + "model_descriptor";
  if (forwardName != "milm_forward") {
    llvm::Function *fwd = mod->getFunction("milm_forward");
    if (!fwd)
      return err("the lowered model has no milm_forward");
    fwd->setName(forwardName);
  }
  tm.translate = seconds(t0);

  // Link the op layer and the microkernels; only what the model calls is kept.
  t0 = std::chrono::steady_clock::now();
  for (std::string name : {"milm_ops-" + target.arch + ".bc", target.ukernels + ".bc"}) {
    std::string path = (bitcodeDir + "/" + name).str();
    auto buf = llvm::MemoryBuffer::getFile(path);
    if (!buf)
      return err(path + ": " + buf.getError().message() +
                 " (the op layer and microkernel bitcode are built with milm)");
    auto lib = llvm::parseBitcodeFile((*buf)->getMemBufferRef(), llctx);
    if (!lib)
      return err(path + ": " + llvm::toString(lib.takeError()));
    (*lib)->setTargetTriple(triple);
    (*lib)->setDataLayout(mod->getDataLayout());
    if (llvm::Linker::linkModules(*mod, std::move(*lib), llvm::Linker::LinkOnlyNeeded))
      return err("linking " + path + " into the model failed");
  }
  tm.link = seconds(t0);

  std::string lookupError;
  const llvm::Target *tgt = llvm::TargetRegistry::lookupTarget(triple, lookupError);
  if (!tgt)
    return err(target.triple + ": " + lookupError);
  llvm::TargetOptions opts;
  std::unique_ptr<llvm::TargetMachine> machine(tgt->createTargetMachine(
      triple, target.cpu, target.features, opts, llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
  mod->setDataLayout(machine->createDataLayout());

  // One set of target attributes for every function, so the kernels inline
  // into the op layer and the op layer into milm_forward.
  for (llvm::Function &f : *mod) {
    if (f.isDeclaration())
      continue;
    f.addFnAttr("target-cpu", target.cpu);
    if (!target.features.empty())
      f.addFnAttr("target-features", target.features);
    else
      f.removeFnAttr("target-features");
    f.removeFnAttr(llvm::Attribute::OptimizeNone);
    f.removeFnAttr(llvm::Attribute::NoInline);
  }
  // Everything but the ABI symbols becomes internal.
  // Weak aliases under the default names (LoweredModelInfo::aliasPrefix).
  std::string aliasForward, aliasDescriptor;
  if (!info.aliasPrefix.empty() && info.aliasPrefix != info.symbolPrefix) {
    aliasForward = info.aliasPrefix + "forward";
    aliasDescriptor = info.aliasPrefix + "model_descriptor";
    for (auto [alias, target] : {std::pair{aliasForward, forwardName},
                                 std::pair{aliasDescriptor, descriptorName}}) {
      llvm::GlobalValue *gv = mod->getNamedValue(target);
      if (!gv)
        return err("the lowered model has no " + target);
      llvm::GlobalAlias::create(gv->getValueType(), 0, llvm::GlobalValue::WeakAnyLinkage, alias,
                                gv, mod.get());
    }
  }
  llvm::internalizeModule(*mod, [&](const llvm::GlobalValue &gv) {
    llvm::StringRef n = gv.getName();
    return n == forwardName || n == descriptorName ||
           (!aliasForward.empty() && (n == aliasForward || n == aliasDescriptor));
  });
  if (llvm::verifyModule(*mod, &llvm::errs()))
    return err("the linked model module does not verify");

  t0 = std::chrono::steady_clock::now();
  {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(machine.get());
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
    mpm.run(*mod, mam);
  }
  tm.optimize = seconds(t0);

  t0 = std::chrono::steady_clock::now();
  std::error_code ec;
  llvm::ToolOutputFile out(objectPath, ec, llvm::sys::fs::OF_None);
  if (ec)
    return err(objectPath + ": " + ec.message());
  llvm::legacy::PassManager pm;
  if (machine->addPassesToEmitFile(pm, out.os(), nullptr, llvm::CodeGenFileType::ObjectFile))
    return err(target.triple + ": the target cannot emit object files");
  pm.run(*mod);
  out.os().flush();
  if (out.os().has_error()) {
    std::string msg = out.os().error().message();
    out.os().clear_error(); // reported here, not as a fatal error when the stream closes
    return err(objectPath + ": cannot write: " + msg);
  }
  out.keep();
  tm.emit = seconds(t0);
  return llvm::Error::success();
}

} // namespace milm
