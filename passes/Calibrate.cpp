//===- Calibrate.cpp - milm-calibrate: what every product reads ------------===//
//
// Passes.td has the contract. Runs the model with the interpreter
// (passes/Interpreter.h) over windows of the calibration tokens and writes
// the statistics of every product's input (passes/Calibration.h). The IR is
// not changed.
//
//===----------------------------------------------------------------------===//
#include "passes/Calibration.h"
#include "passes/Interpreter.h"
#include "passes/Passes.h"
#include "passes/WeightStore.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"

#include <map>

namespace milm {

#define GEN_PASS_DEF_CALIBRATE
#include "passes/Passes.h.inc"

namespace {

namespace mm = mlir::milm;

struct CalibratePass : impl::CalibrateBase<CalibratePass> {
  using Base::Base;

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    auto fail = [&](const llvm::Twine &msg) {
      mlir::emitError(module.getLoc()) << getArgument() << ": " << msg;
      signalPassFailure();
    };
    if (tokens.empty() || stats.empty())
      return fail("needs tokens=FILE (token ids) and stats=PATH (where the statistics go)");
    llvm::Expected<std::vector<int32_t>> ids = readTokenIds(tokens);
    if (!ids)
      return fail(llvm::toString(ids.takeError()));
    llvm::Expected<std::unique_ptr<ModelInterpreter>> interp = ModelInterpreter::create(module);
    if (!interp)
      return fail(llvm::toString(interp.takeError()));
    ModelInterpreter &I = **interp;
    const int64_t W = window > 0 ? int64_t(window) : std::min<int64_t>(I.contextLength(), 512);
    if (W < 2 || W > I.contextLength())
      return fail("window " + llvm::Twine(W) + " is not within 2.." +
                  llvm::Twine(I.contextLength()) + " (the model's context)");
    // Windows as llama-perplexity cuts them: W tokens each, the first
    // replaced by BOS when the vocabulary has one.
    const bool bos = I.bosToken() >= 0;
    const int64_t step = bos ? W - 1 : W;
    std::vector<std::vector<int32_t>> windows;
    for (size_t at = 0; at < ids->size(); at += size_t(step)) {
      std::vector<int32_t> w;
      if (bos)
        w.push_back(int32_t(I.bosToken()));
      for (size_t i = at; i < std::min(ids->size(), at + size_t(step)); ++i)
        w.push_back((*ids)[i]);
      if (w.size() >= 2)
        windows.push_back(std::move(w));
      if (maxWindows > 0 && int64_t(windows.size()) >= int64_t(maxWindows))
        break;
    }
    if (windows.empty())
      return fail(tokens + ": fewer than 2 tokens to calibrate on");

    CalibrationStats st;
    // Sites in the order the model first reads them.
    std::map<std::pair<std::string, int64_t>, size_t> index;
    const unsigned nThreads = threads;
    auto observe = [&](const ProductInput &p) {
      auto key = std::make_pair(p.weights.front(), p.expert);
      auto [it, fresh] = index.try_emplace(key, st.sites.size());
      if (fresh) {
        CalibrationSite s;
        s.weights.assign(p.weights.begin(), p.weights.end());
        s.expert = p.expert;
        s.K = p.cols;
        if (matrices)
          s.matrix.assign(size_t(p.cols * p.cols), 0.0);
        st.sites.push_back(std::move(s));
      }
      st.sites[it->second].add(p.values, p.rows, nThreads);
    };
    for (size_t w = 0; w < windows.size(); ++w) {
      llvm::Expected<std::vector<double>> logits = I.forward(windows[w], observe, nThreads);
      if (!logits)
        return fail(llvm::toString(logits.takeError()));
      st.tokens += windows[w].size();
      if (progress && (w + 1) % std::max<size_t>(1, windows.size() / 10) == 0)
        llvm::errs() << getArgument() << ": window " << (w + 1) << " of " << windows.size() << "\n";
    }
    st.windows = windows.size();
    // Fingerprints of the weights as they are now.
    llvm::StringMap<mm::WeightOp> weightOps;
    module.walk([&](mm::WeightOp op) { weightOps.try_emplace(op.getName(), op); });
    llvm::StringMap<uint64_t> fps;
    for (CalibrationSite &s : st.sites)
      for (const std::string &name : s.weights) {
        auto it = fps.find(name);
        if (it == fps.end()) {
          llvm::Expected<std::vector<uint8_t>> bytes = readWeightBytes(weightOps.lookup(name));
          if (!bytes)
            return fail(llvm::toString(bytes.takeError()));
          it = fps.try_emplace(name, fingerprint(*bytes)).first;
        }
        s.fingerprints.push_back(it->second);
      }
    if (llvm::Error e = st.write(stats))
      return fail(llvm::toString(std::move(e)));
    mlir::emitRemark(module.getLoc())
        << getArgument() << ": " << st.tokens << " tokens in " << st.windows << " windows of up to "
        << W << ", " << st.sites.size() << " product inputs"
        << (matrices ? " with their second-moment matrices" : "") << " -> " << stats;
    markAllAnalysesPreserved();
  }
};

} // namespace

} // namespace milm
