//===- PruneTransact.cpp - milm-prune-transact: structured pruning -------===//
//
// Passes.td says what the pass does. In short: find each layer's attention
// (q's product, its rotary embedding, o's product) and dense FFN (gate, up,
// SwiGLU, down) from the dataflow, rank query heads and FFN channels by the
// calibration statistics of o's and down's inputs, check the whole plan, and
// only then cut the weights (rows as bytes, columns re-encoded), refit o and
// down when asked, and give the ops and the model config their new sizes.
//
//===----------------------------------------------------------------------===//
#include "passes/Calibration.h"
#include "passes/Cholesky.h"
#include "passes/Parallel.h"
#include "passes/Passes.h"
#include "passes/WeightStore.h"

#include "common/milm/Quantize.h"
#include "common/milm/StorageFormat.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <optional>
#include <vector>

namespace milm {

#define GEN_PASS_DEF_PRUNETRANSACT
#include "passes/Passes.h.inc"

namespace {

namespace mm = mlir::milm;
using mlir::Value;

mm::WeightOp weightOf(mm::LinearOp l) { return l.getWeight().getDefiningOp<mm::WeightOp>(); }
mm::WeightOp biasOf(mm::LinearOp l) {
  return l.getBias() ? l.getBias().getDefiningOp<mm::WeightOp>() : mm::WeightOp();
}

/// One layer's attention: q = [rope](linear(x)), o = linear(attention(...)).
struct AttentionPlan {
  mm::AttentionOp attn;
  mm::LinearOp q, k, v, o;
  mm::RopeOp rope, kRope; ///< may be null
  std::vector<int64_t> keep;   ///< query heads kept, ascending
  std::vector<int64_t> keepKv; ///< KV heads kept, ascending (empty: all)
};

/// The milm.linear that produces `x`, through one milm.rope when there is
/// one; null unless each reads only the next.
mm::LinearOp projectionOf(Value x, mm::RopeOp &rope) {
  rope = {};
  if (auto r = x.getDefiningOp<mm::RopeOp>(); r && x.hasOneUse()) {
    rope = r;
    x = r.getInput();
  }
  auto l = x.getDefiningOp<mm::LinearOp>();
  if (!l || !x.hasOneUse() || !weightOf(l) || (l.getBias() && !biasOf(l)))
    return {};
  return l;
}

/// One dense FFN: down(swiglu(gate(x), up(x))).
struct FfnPlan {
  int64_t layer = -1;
  mm::SwiGLUOp swiglu;
  mm::LinearOp gate, up, down;
  std::vector<int64_t> keep; ///< channels kept, ascending
};

/// The `keep` largest of `importance` (ties: the lower index), ascending.
std::vector<int64_t> topIndices(const std::vector<double> &importance, int64_t keep) {
  std::vector<int64_t> idx(importance.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(),
                   [&](int64_t a, int64_t b) { return importance[size_t(a)] > importance[size_t(b)]; });
  idx.resize(size_t(keep));
  std::sort(idx.begin(), idx.end());
  return idx;
}

mlir::RankedTensorType withWidth(Value v, int64_t width) {
  auto t = llvm::cast<mlir::RankedTensorType>(v.getType());
  return mlir::RankedTensorType::get({t.getDimSize(0), width}, t.getElementType());
}

struct PruneTransactPass : impl::PruneTransactBase<PruneTransactPass> {
  using Base::Base;

  std::shared_ptr<WeightStore> store;
  int64_t reencoded = 0; ///< weights a block format rounded again

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    store.reset();
    reencoded = 0;
    auto fail = [&](mlir::Location loc, const llvm::Twine &msg) {
      mlir::emitError(loc) << getArgument() << ": " << msg;
      signalPassFailure();
    };
    if (!(heads >= 0 && heads < 1) || !(ffn >= 0 && ffn < 1) || !(kvHeads >= 0 && kvHeads < 1))
      return fail(module.getLoc(), "heads, kv-heads and ffn are fractions to remove, in [0, 1)");
    if ((heads > 0 && !keepHeads.empty()) || (ffn > 0 && !keepFfn.empty()) ||
        (kvHeads > 0 && !keepKvHeads.empty()))
      return fail(module.getLoc(), "give a fraction or counts to keep, not both");
    const bool pruneKv = kvHeads > 0 || !keepKvHeads.empty();
    const bool pruneHeads = heads > 0 || !keepHeads.empty() || pruneKv;
    const bool pruneFfn = ffn > 0 || !keepFfn.empty();
    if (!pruneHeads && !pruneFfn)
      return; // nothing to prune: the module is left exactly as it is

    mm::ModelOp model;
    module.walk([&](mm::ModelOp m) { model = m; });
    if (!model)
      return fail(module.getLoc(), "no milm.model in the module");
    mm::ModelConfigAttr cfg = model.getConfig();
    const int64_t L = cfg.getNumLayers();
    auto perLayer = [&](const auto &v, const char *what)
        -> std::optional<std::vector<int64_t>> {
      if (v.empty())
        return std::vector<int64_t>();
      if (v.size() != 1 && int64_t(v.size()) != L) {
        fail(module.getLoc(), llvm::Twine(what) + " has " + llvm::Twine(v.size()) +
                                  " entries: give one for every layer or one per layer (" +
                                  llvm::Twine(L) + ")");
        return std::nullopt;
      }
      std::vector<int64_t> out(static_cast<size_t>(L));
      for (int64_t l = 0; l < L; ++l)
        out[size_t(l)] = v.size() == 1 ? v[0] : v[size_t(l)];
      return out;
    };
    std::optional<std::vector<int64_t>> keepH = perLayer(keepHeads, "keep-heads");
    std::optional<std::vector<int64_t>> keepF = perLayer(keepFfn, "keep-ffn");
    std::optional<std::vector<int64_t>> keepKV = perLayer(keepKvHeads, "keep-kv-heads");
    if (!keepH || !keepF || !keepKV)
      return;
    if (calibration.empty())
      return fail(module.getLoc(), "pruning ranks heads and channels by calibration statistics: "
                                   "give calibration=STATS (milmc calibrate)");
    if (weightStore.empty())
      return fail(module.getLoc(), "no weight store given (weight-store=PATH)");
    llvm::Expected<CalibrationStats> stats = CalibrationStats::read(calibration);
    if (!stats)
      return fail(module.getLoc(), llvm::toString(stats.takeError()));

    // The plan, checked before anything changes.
    std::vector<AttentionPlan> attns;
    std::vector<FfnPlan> ffns;
    bool bad = false;
    auto soleUser = [](Value v) -> mlir::Operation * {
      return v.hasOneUse() ? *v.getUsers().begin() : nullptr;
    };
    model.walk([&](mlir::Operation *op) {
      if (bad)
        return;
      if (auto a = llvm::dyn_cast<mm::AttentionOp>(op); a && pruneHeads) {
        AttentionPlan p;
        p.attn = a;
        p.q = projectionOf(a.getQ(), p.rope);
        mm::RopeOp vRope;
        if (pruneKv) {
          p.k = projectionOf(a.getK(), p.kRope);
          p.v = projectionOf(a.getV(), vRope);
        }
        p.o = llvm::dyn_cast_or_null<mm::LinearOp>(soleUser(a.getResult()));
        if (!p.q || (pruneKv && (!p.k || !p.v || vRope))) {
          a.emitOpError() << getArgument()
                          << ": its " << (!p.q ? "q" : "k or v")
                          << " is not one milm.linear (through one milm.rope) of a "
                             "milm.weight that nothing else reads";
          bad = true;
        } else if (!p.o || p.o.getInput() != a.getResult() || !weightOf(p.o)) {
          a.emitOpError() << getArgument()
                          << ": its result is not read by exactly one milm.linear (o_proj)";
          bad = true;
        }
        attns.push_back(p);
      } else if (auto s = llvm::dyn_cast<mm::SwiGLUOp>(op); s && pruneFfn) {
        FfnPlan p;
        p.swiglu = s;
        p.gate = s.getGate().getDefiningOp<mm::LinearOp>();
        p.up = s.getUp().getDefiningOp<mm::LinearOp>();
        p.down = llvm::dyn_cast_or_null<mm::LinearOp>(soleUser(s.getResult()));
        if (!p.gate || !p.up || !s.getGate().hasOneUse() || !s.getUp().hasOneUse() ||
            !weightOf(p.gate) || !weightOf(p.up) || p.gate.getBias() || p.up.getBias() ||
            !p.down || !weightOf(p.down)) {
          s.emitOpError() << getArgument()
                          << ": not a dense FFN this pass prunes (gate and up: milm.linear "
                             "products that only it reads; its result read by one milm.linear)";
          bad = true;
        }
        llvm::StringRef name = weightOf(p.down) ? weightOf(p.down).getName() : "";
        int64_t layer = -1;
        if (name.consume_front("blk.") && !name.consumeInteger(10, layer) && layer < L)
          p.layer = layer;
        else if (!bad) {
          s.emitOpError() << getArgument() << ": cannot tell the layer of down weight '"
                          << weightOf(p.down).getName() << "' (blk.N.*)";
          bad = true;
        }
        ffns.push_back(p);
      }
    });
    if (bad)
      return signalPassFailure();
    if (pruneFfn && model.getConfig().getNumExperts() > 0)
      return fail(model.getLoc(), "the FFN channels of MoE experts are not pruned (dense FFNs only)");

    // Importances and the kept sets.
    auto siteFor = [&](mm::LinearOp l) -> const CalibrationSite * {
      mm::WeightOp w = weightOf(l);
      const CalibrationSite *site = stats->find(w.getName());
      if (!site) {
        fail(w.getLoc(), "no calibration statistics for '" + w.getName() +
                             "' (taken on another model?)");
        return nullptr;
      }
      llvm::Expected<std::vector<uint8_t>> bytes = readWeightBytes(w);
      if (!bytes) {
        fail(w.getLoc(), llvm::toString(bytes.takeError()));
        return nullptr;
      }
      if (CalibrationStats::fingerprintOf(*site, w.getName()) != fingerprint(*bytes)) {
        fail(w.getLoc(), "the calibration statistics were taken on other values of '" +
                             w.getName() + "' (another model, or after a pass that rewrote "
                             "it): calibrate the model being pruned");
        return nullptr;
      }
      if (reconstruct && site->matrix.empty()) {
        fail(w.getLoc(), "reconstruct needs the inputs' second moments: calibrate with "
                         "--matrices (milmc calibrate) or matrices=1");
        return nullptr;
      }
      // A least-squares fit of K inputs from fewer than 2K rows overfits the
      // calibration text (measured: it makes the KL worse than no refit).
      if (reconstruct && site->rows < 2 * uint64_t(site->K)) {
        fail(w.getLoc(), "reconstruct fits '" + w.getName() + "' (" + llvm::Twine(site->K) +
                             " inputs) on " + llvm::Twine(site->rows) +
                             " calibration rows; it needs at least " +
                             llvm::Twine(2 * site->K) + ": calibrate on more text");
        return nullptr;
      }
      return site;
    };
    std::vector<int64_t> layerHeads(static_cast<size_t>(L)), layerFfn(static_cast<size_t>(L)),
        layerKv(static_cast<size_t>(L));
    for (int64_t l = 0; l < L; ++l)
      layerHeads[size_t(l)] = cfg.headsAt(l), layerFfn[size_t(l)] = cfg.ffnAt(l),
      layerKv[size_t(l)] = cfg.kvHeadsAt(l);
    std::map<mlir::Operation *, const CalibrationSite *> sites;
    for (AttentionPlan &p : attns) {
      const int64_t H = int64_t(p.attn.getNumHeads()), KV = int64_t(p.attn.getNumKvHeads()),
                    hd = int64_t(p.attn.getHeadDim()), G = H / KV;
      const int64_t layer = int64_t(p.attn.getLayer());
      // KV groups kept (a KV head with its query heads), then query heads
      // kept evenly in each.
      int64_t groups = KV - int64_t(std::llround(kvHeads * double(KV)));
      if (!keepKV->empty()) {
        groups = (*keepKV)[size_t(layer)];
        if (groups < 1 || groups > KV)
          return fail(p.attn.getLoc(), "layer " + llvm::Twine(layer) + ": cannot keep " +
                                           llvm::Twine(groups) + " of " + llvm::Twine(KV) +
                                           " KV heads");
      }
      groups = std::max<int64_t>(1, groups);
      int64_t perGroup = G - int64_t(std::llround(heads * double(G)));
      if (!keepH->empty()) {
        const int64_t want = (*keepH)[size_t(layer)];
        if (want < groups || want > groups * G || want % groups != 0)
          return fail(p.attn.getLoc(), "layer " + llvm::Twine(layer) + ": cannot keep " +
                                           llvm::Twine(want) + " of " + llvm::Twine(H) +
                                           " query heads evenly in " + llvm::Twine(groups) +
                                           " KV groups (a multiple of " + llvm::Twine(groups) +
                                           " from " + llvm::Twine(groups) + " to " +
                                           llvm::Twine(groups * G) + ")");
        perGroup = want / groups;
      }
      perGroup = std::max<int64_t>(1, perGroup);
      if (perGroup == G && groups == KV)
        continue;
      const CalibrationSite *site = siteFor(p.o);
      if (!site)
        return;
      sites[p.o] = site;
      // Each query head's output energy over the calibration tokens; a KV
      // group's is the sum of its heads'.
      std::vector<double> energy(size_t(H), 0.0), groupEnergy(size_t(KV), 0.0);
      for (int64_t h = 0; h < H; ++h) {
        for (int64_t c = 0; c < hd; ++c)
          energy[size_t(h)] += site->sumSq[size_t(h * hd + c)];
        groupEnergy[size_t(h / G)] += energy[size_t(h)];
      }
      const std::vector<int64_t> keptGroups = topIndices(groupEnergy, groups);
      if (groups != KV)
        p.keepKv = keptGroups;
      for (int64_t g : keptGroups) {
        std::vector<double> e(energy.begin() + g * G, energy.begin() + (g + 1) * G);
        for (int64_t i : topIndices(e, perGroup))
          p.keep.push_back(g * G + i);
      }
      layerHeads[size_t(layer)] = perGroup * groups;
      layerKv[size_t(layer)] = groups;
    }
    for (FfnPlan &p : ffns) {
      const int64_t F = weightOf(p.gate).getType().getShape()[0];
      const int64_t block =
          std::max<int64_t>(32, mm::getFormatBlockSize(weightOf(p.down).getType().getFormat()));
      int64_t keep;
      if (!keepF->empty()) {
        keep = (*keepF)[size_t(p.layer)];
        if (keep < 1 || keep > F)
          return fail(p.swiglu.getLoc(), "layer " + llvm::Twine(p.layer) + ": cannot keep " +
                                             llvm::Twine(keep) + " of " + llvm::Twine(F) +
                                             " FFN channels");
      } else {
        keep = F - int64_t(std::llround(ffn * double(F)));
        keep = std::max(block, (keep + block / 2) / block * block);
        keep = std::min(keep, F);
      }
      if (keep == F)
        continue;
      const CalibrationSite *site = siteFor(p.down);
      if (!site)
        return;
      sites[p.down] = site;
      p.keep = topIndices(site->sumSq, keep);
      layerFfn[size_t(p.layer)] = keep;
    }

    // The rewrite.
    mlir::OpBuilder b(&getContext());
    for (AttentionPlan &p : attns) {
      if (p.keep.empty())
        continue;
      const int64_t hd = int64_t(p.attn.getHeadDim());
      std::vector<int64_t> rows;
      for (int64_t h : p.keep)
        for (int64_t c = 0; c < hd; ++c)
          rows.push_back(h * hd + c);
      if (!keepRows(weightOf(p.q), rows) || (biasOf(p.q) && !keepRows(biasOf(p.q), rows)) ||
          !keepColumns(p.o, rows, sites[p.o]))
        return signalPassFailure();
      const int64_t width = int64_t(rows.size());
      p.q.getResult().setType(withWidth(p.q.getResult(), width));
      if (p.rope)
        p.rope.getResult().setType(withWidth(p.rope.getResult(), width));
      p.attn.getResult().setType(withWidth(p.attn.getResult(), width));
      p.attn.setNumHeads(uint64_t(p.keep.size()));
      if (!p.keepKv.empty()) {
        std::vector<int64_t> kvRows;
        for (int64_t g : p.keepKv)
          for (int64_t c = 0; c < hd; ++c)
            kvRows.push_back(g * hd + c);
        for (mm::LinearOp l : {p.k, p.v})
          if (!keepRows(weightOf(l), kvRows) || (biasOf(l) && !keepRows(biasOf(l), kvRows)))
            return signalPassFailure();
        const int64_t kvWidth = int64_t(kvRows.size());
        p.k.getResult().setType(withWidth(p.k.getResult(), kvWidth));
        if (p.kRope)
          p.kRope.getResult().setType(withWidth(p.kRope.getResult(), kvWidth));
        p.v.getResult().setType(withWidth(p.v.getResult(), kvWidth));
        p.attn.setNumKvHeads(uint64_t(p.keepKv.size()));
      }
    }
    if (pruneKv) {
      // The KV cache: each layer's own head count. The cache is a function
      // argument: the argument and the function's type change with it.
      if (!retypeCache(model, layerKv))
        return signalPassFailure();
    }
    for (FfnPlan &p : ffns) {
      if (p.keep.empty())
        continue;
      if (!keepRows(weightOf(p.gate), p.keep) || !keepRows(weightOf(p.up), p.keep) ||
          !keepColumns(p.down, p.keep, sites[p.down]))
        return signalPassFailure();
      const int64_t width = int64_t(p.keep.size());
      p.gate.getResult().setType(withWidth(p.gate.getResult(), width));
      p.up.getResult().setType(withWidth(p.up.getResult(), width));
      p.swiglu.getResult().setType(withWidth(p.swiglu.getResult(), width));
    }
    model.setConfigAttr(cfg.withLayerShapes(pruneHeads ? layerHeads : std::vector<int64_t>(),
                                            pruneKv ? layerKv : std::vector<int64_t>(),
                                            pruneFfn ? layerFfn : std::vector<int64_t>()));

    int64_t before = 0, after = 0;
    for (int64_t l = 0; l < L; ++l) {
      before += (cfg.headsAt(l) + cfg.kvHeadsAt(l)) * cfg.getHeadDim() * 2 + cfg.ffnAt(l) * 3;
      after += (layerHeads[size_t(l)] + layerKv[size_t(l)]) * cfg.getHeadDim() * 2 +
               layerFfn[size_t(l)] * 3;
    }
    auto list = [](const std::vector<int64_t> &v) {
      std::string s;
      for (int64_t x : v)
        s += (s.empty() ? "" : " ") + std::to_string(x);
      return s;
    };
    mlir::emitRemark(model.getLoc())
        << getArgument() << ": query heads per layer " << list(layerHeads)
        << (pruneKv ? "; KV heads per layer " + list(layerKv) : std::string())
        << "; FFN channels per layer " << list(layerFfn) << "; "
        << llvm::formatv("{0:F1}", 100.0 * double(before - after) / double(before)).str()
        << "% of the pruned products' weights removed" << (reconstruct ? ", o/down refitted" : "")
        << (reencoded ? "; " + std::to_string(reencoded) + " weights rounded again in their block format"
                      : std::string());
  }

  /// Gives the model's KV cache argument(s) one head count per layer.
  bool retypeCache(mm::ModelOp model, const std::vector<int64_t> &layerKv) {
    bool ok = true;
    model.walk([&](mlir::func::FuncOp fn) {
      if (fn.getBody().empty())
        return;
      llvm::SmallVector<mlir::Type> inputs(fn.getFunctionType().getInputs());
      for (mlir::BlockArgument arg : fn.getArguments()) {
        auto c = llvm::dyn_cast<mm::KVCacheType>(arg.getType());
        if (!c)
          continue;
        if (c.getLayers() != int64_t(layerKv.size())) {
          fn.emitError() << getArgument() << ": a KV cache of " << c.getLayers()
                         << " layers in a model of " << layerKv.size();
          ok = false;
          return;
        }
        const bool uniform = llvm::all_equal(layerKv);
        auto t = mm::KVCacheType::get(
            c.getContext(), c.getLayers(), *std::max_element(layerKv.begin(), layerKv.end()),
            c.getHeadDim(), c.getCapacity(), c.getElement(),
            uniform ? llvm::ArrayRef<int64_t>() : llvm::ArrayRef<int64_t>(layerKv));
        arg.setType(t);
        inputs[arg.getArgNumber()] = t;
      }
      fn.setFunctionType(mlir::FunctionType::get(fn.getContext(), inputs,
                                                 fn.getFunctionType().getResults()));
    });
    return ok;
  }

  /// Appends `bytes` of `type` to the store and points `w` at them.
  bool put(mm::WeightOp w, llvm::ArrayRef<int64_t> shape, mm::WeightFormat format,
           llvm::ArrayRef<uint8_t> bytes) {
    if (!store) {
      llvm::Expected<std::unique_ptr<WeightStore>> opened = WeightStore::open(weightStore);
      if (!opened) {
        w.emitError() << getArgument() << ": " << llvm::toString(opened.takeError());
        return false;
      }
      store = std::move(*opened);
    }
    auto type = mm::WeightType::get(w.getContext(), shape, format);
    llvm::Expected<WeightReference> ref = store->append(type, bytes);
    if (!ref) {
      w.emitError() << getArgument() << ": " << llvm::toString(ref.takeError());
      return false;
    }
    setWeightReference(w, *ref);
    return true;
  }

  /// Keeps the rows `rows` of weight `w` (a matrix, or a vector's entries),
  /// their bytes as they are.
  bool keepRows(mm::WeightOp w, llvm::ArrayRef<int64_t> rows) {
    llvm::ArrayRef<int64_t> shape = w.getType().getShape();
    const StorageFormat f = static_cast<StorageFormat>(w.getType().getFormat());
    llvm::Expected<std::vector<uint8_t>> bytes = readWeightBytes(w);
    if (!bytes) {
      w.emitError() << getArgument() << ": " << llvm::toString(bytes.takeError());
      return false;
    }
    if (shape.size() == 1) {
      // A bias: decode, select, encode (f32/f16/bf16, exact).
      llvm::Expected<std::vector<float>> v = readWeightValues(w);
      if (!v) {
        w.emitError() << getArgument() << ": " << llvm::toString(v.takeError());
        return false;
      }
      std::vector<float> kept;
      for (int64_t r : rows)
        kept.push_back((*v)[size_t(r)]);
      const int64_t n = int64_t(kept.size());
      std::optional<uint64_t> nb = rowBytes(f, uint64_t(n));
      if (!nb) {
        w.emitError() << getArgument() << ": a vector of " << n << " values does not fit "
                      << mm::stringifyWeightFormat(w.getType().getFormat());
        return false;
      }
      std::vector<uint8_t> out(*nb);
      quantizeRow(f, kept.data(), out.data(), n);
      return put(w, {n}, w.getType().getFormat(), out);
    }
    const uint64_t rb = *rowBytes(f, uint64_t(shape[1]));
    std::vector<uint8_t> out;
    out.reserve(rb * rows.size());
    for (int64_t r : rows)
      out.insert(out.end(), bytes->begin() + int64_t(rb) * r, bytes->begin() + int64_t(rb) * (r + 1));
    return put(w, {int64_t(rows.size()), shape[1]}, w.getType().getFormat(), out);
  }

  /// Keeps the input columns `cols` of product `l`'s weight, refitted on the
  /// site's second moment when `reconstruct` is set, and re-encodes it.
  bool keepColumns(mm::LinearOp l, llvm::ArrayRef<int64_t> cols, const CalibrationSite *site) {
    mm::WeightOp w = weightOf(l);
    llvm::ArrayRef<int64_t> shape = w.getType().getShape();
    const int64_t N = shape[0], K = shape[1], k = int64_t(cols.size());
    llvm::Expected<std::vector<float>> v = readWeightValues(w);
    if (!v) {
      w.emitError() << getArgument() << ": " << llvm::toString(v.takeError());
      return false;
    }
    std::vector<float> kept(size_t(N * k));
    if (!reconstruct) {
      for (int64_t r = 0; r < N; ++r)
        for (int64_t j = 0; j < k; ++j)
          kept[size_t(r * k + j)] = (*v)[size_t(r * K + cols[size_t(j)])];
    } else {
      // min_W' E|W x - W' x_S|^2: W' = W H[:, S] H[S, S]^-1 with H the
      // input's second moment, damped by 1e-6 of its mean diagonal.
      const std::vector<double> &H = site->matrix;
      std::vector<double> A(size_t(k * k));
      double mean = 0;
      for (int64_t i = 0; i < k; ++i)
        mean += H[size_t(cols[size_t(i)] * K + cols[size_t(i)])];
      mean = mean / double(k) + 1e-30;
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < k; ++j)
          A[size_t(i * k + j)] = H[size_t(cols[size_t(i)] * K + cols[size_t(j)])] +
                                 (i == j ? 1e-3 * mean : 0.0);
      if (!cholesky(A, k)) {
        w.emitError() << getArgument() << ": the kept inputs' second moment is singular; "
                      << "calibrate on more text or prune without reconstruct";
        return false;
      }
      // B = H[S, :] W^T (k x N), then X = A^-1 B; W' = X^T.
      std::vector<double> B(size_t(k * N), 0.0);
      parallelFor(k, threads, [&](int64_t b0, int64_t e0) {
        std::vector<double> hrow(static_cast<size_t>(K));
        for (int64_t i = b0; i < e0; ++i) {
          for (int64_t c = 0; c < K; ++c)
            hrow[size_t(c)] = H[size_t(cols[size_t(i)] * K + c)];
          for (int64_t r = 0; r < N; ++r) {
            const float *wr = v->data() + r * K;
            double s = 0;
            for (int64_t c = 0; c < K; ++c)
              s += hrow[size_t(c)] * double(wr[c]);
            B[size_t(i * N + r)] = s;
          }
        }
      });
      choleskySolve(A, k, B, N);
      for (int64_t r = 0; r < N; ++r)
        for (int64_t j = 0; j < k; ++j)
          kept[size_t(r * k + j)] = float(B[size_t(j * N + r)]);
    }
    mm::WeightFormat format = w.getType().getFormat();
    if (k % mm::getFormatBlockSize(format) != 0)
      format = mm::WeightFormat::f16;
    const StorageFormat f = static_cast<StorageFormat>(format);
    if (f != StorageFormat::F32 && f != StorageFormat::F16 && f != StorageFormat::BF16)
      ++reencoded;
    const uint64_t rb = *rowBytes(f, uint64_t(k));
    std::vector<uint8_t> out(rb * uint64_t(N));
    for (int64_t r = 0; r < N; ++r)
      quantizeRow(f, kept.data() + r * k, out.data() + rb * uint64_t(r), k);
    return put(w, {N, k}, format, out);
  }
};

} // namespace
} // namespace milm
