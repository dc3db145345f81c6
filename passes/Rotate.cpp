//===- Rotate.cpp - milm-rotate: computational invariance by rotation ----===//
//
// Passes.td says what the pass does. In short: find the residual stream from
// the dataflow, give every weight that reads or writes it a transform
// (norm scale folded in, rotation on its input side and/or output side),
// check that every transform is consistent and every reader absorbable, and
// only then rewrite the weights into the store.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "passes/Rotation.h"
#include "passes/WeightStore.h"


#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringSet.h"

#include <cstring>
#include <optional>
#include <vector>

namespace milm {

#define GEN_PASS_DEF_ROTATE
#include "passes/Passes.h.inc"

namespace {

namespace mm = mlir::milm;
using mlir::Operation;
using mlir::Value;

/// Which rotation multiplies a side of a weight: the stream's Q, per head,
/// or the online Hadamard transform (blocks of `block`) that a milm.hadamard
/// applies to the product's input.
enum class Rot { None, Stream, Heads, Online };

/// W <- R_out^T (W diag(gamma) R_in), per matrix of the weight (the last two
/// dimensions; a vector is one row).
struct Transform {
  std::string gamma; ///< the norm weight folded into the input side, or ""
  Rot in = Rot::None, out = Rot::None;
  int64_t headDim = 0; ///< for Rot::Heads
  int64_t block = 0;   ///< for Rot::Online
};

const char *rotName(Rot r) {
  return r == Rot::Stream ? "the stream's" : r == Rot::Heads ? "per-head" : "the online";
}

struct RotatePass : impl::RotateBase<RotatePass> {
  using Base::Base;

  // The plan, by weight name.
  llvm::MapVector<llvm::StringRef, Transform> plan;
  llvm::StringMap<llvm::SmallVector<mm::WeightOp>> byName;
  std::vector<mm::RMSNormOp> norms;
  bool failedPlan = false;

  mlir::InFlightDiagnostic fail(Operation *op, const llvm::Twine &msg) {
    failedPlan = true;
    return op->emitOpError() << getArgument() << ": " << msg;
  }

  /// Adds what the role of `w` asks of it; a second role must agree.
  void want(Operation *at, Value w, std::optional<std::string> gamma, Rot in, Rot out,
            int64_t headDim = 0) {
    auto op = w.getDefiningOp<mm::WeightOp>();
    if (!op) {
      fail(at, "its weight is not a milm.weight");
      return;
    }
    Transform &t = plan[op.getName()];
    auto conflict = [&](const char *what) {
      fail(at, "weight '" + op.getName() + "' would need two different " + what +
                   " (it is shared between roles the rotation treats differently)");
    };
    if (gamma) {
      if (!t.gamma.empty() && t.gamma != *gamma)
        return conflict("norm scales");
      t.gamma = *gamma;
    }
    if (in != Rot::None) {
      if (t.in != Rot::None && t.in != in)
        return conflict("input rotations");
      t.in = in;
    }
    if (out != Rot::None) {
      if (t.out != Rot::None && t.out != out)
        return conflict("output rotations");
      t.out = out;
    }
    if (headDim)
      t.headDim = headDim;
  }

  /// The dense FFNs' down products (a milm.linear reading a milm.swiglu that
  /// nothing else reads) and the block of the online transform for each.
  std::vector<std::pair<mm::LinearOp, int64_t>> downs;

  std::string nameOf(Value w) {
    auto op = w.getDefiningOp<mm::WeightOp>();
    return op ? op.getName().str() : std::string();
  }

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    plan.clear();
    byName.clear();
    norms.clear();
    failedPlan = false;
    store.reset();
    if (weightStore.empty()) {
      module.emitError() << getArgument() << ": no weight store given (weight-store=PATH)";
      return signalPassFailure();
    }
    llvm::SmallVector<mm::ModelOp> models(module.getOps<mm::ModelOp>());
    if (models.size() != 1) {
      module.emitError() << getArgument() << ": needs exactly one milm.model, found "
                         << models.size();
      return signalPassFailure();
    }
    mm::ModelOp model = models.front();
    auto forward = model.lookupSymbol<mlir::func::FuncOp>("forward");
    if (!forward || !forward.getBody().hasOneBlock()) {
      model.emitOpError() << getArgument() << ": needs a @forward function of one block";
      return signalPassFailure();
    }
    module.walk([&](mm::WeightOp op) { byName[op.getName()].push_back(op); });
    mlir::Block &body = forward.getBody().front();

    // 1. The plan, from the dataflow.
    llvm::DenseSet<Value> stream;
    int64_t width = 0;
    std::string tableName;
    mm::LogitsOp tiedLogits;
    for (Operation &op : body) {
      if (auto e = llvm::dyn_cast<mm::EmbeddingOp>(op)) {
        stream.insert(e.getResult());
        width = llvm::cast<mlir::RankedTensorType>(e.getResult().getType()).getDimSize(1);
        tableName = nameOf(e.getTable());
        want(&op, e.getTable(), std::string(), Rot::Stream, Rot::None);
        continue;
      }
      if (auto a = llvm::dyn_cast<mm::AddOp>(op)) {
        bool l = stream.contains(a.getLhs()), r = stream.contains(a.getRhs());
        if (!l && !r)
          continue;
        stream.insert(a.getResult());
        if (l && r)
          continue; // x Q + y Q = (x + y) Q
        writer(&op, l ? a.getRhs() : a.getLhs());
        continue;
      }
      if (auto n = llvm::dyn_cast<mm::RMSNormOp>(op); n && stream.contains(n.getInput())) {
        norms.push_back(n);
        std::string g = nameOf(n.getWeight());
        if (g.empty()) {
          fail(&op, "its weight is not a milm.weight");
          continue;
        }
        for (Operation *user : n.getResult().getUsers()) {
          if (auto l = llvm::dyn_cast<mm::LinearOp>(user); l && l.getInput() == n.getResult()) {
            want(user, l.getWeight(), g, Rot::Stream, Rot::None);
          } else if (auto m = llvm::dyn_cast<mm::MoEOp>(user); m && m.getInput() == n.getResult()) {
            for (Value w : {m.getRouter(), m.getGateExps(), m.getUpExps()})
              want(user, w, g, Rot::Stream, Rot::None);
          } else if (auto lg = llvm::dyn_cast<mm::LogitsOp>(user)) {
            if (nameOf(lg.getWeight()) == tableName)
              tiedLogits = lg; // planned below under its own name
            else
              want(user, lg.getWeight(), g, Rot::Stream, Rot::None);
          } else {
            fail(user, "reads a norm of the residual stream; the rotation cannot be folded into it");
          }
        }
        continue;
      }
      for (Value v : op.getOperands()) {
        if (!stream.contains(v))
          continue;
        if (auto l = llvm::dyn_cast<mm::LinearOp>(op); l && l.getInput() == v)
          want(&op, l.getWeight(), std::string(), Rot::Stream, Rot::None);
        else
          fail(&op, "reads the residual stream; the rotation cannot be absorbed into it");
      }
    }
    if (!width) {
      model.emitOpError() << getArgument() << ": no milm.embedding: no residual stream to rotate";
      return signalPassFailure();
    }
    // A tied table gets its own copy for the logits: E diag(g) Q, not E Q.
    std::string outputName;
    std::string tiedGamma;
    if (tiedLogits) {
      outputName = byName.count("output.weight") ? tableName + ".logits" : "output.weight";
      auto n = tiedLogits.getInput().getDefiningOp<mm::RMSNormOp>();
      tiedGamma = n ? nameOf(n.getWeight()) : std::string();
    }
    // Per head: v's outputs and o's inputs.
    if (heads)
      body.walk([&](mm::AttentionOp a) {
        auto v = a.getV().getDefiningOp<mm::LinearOp>();
        if (!v || !a.getV().hasOneUse())
          return;
        llvm::SmallVector<mm::LinearOp> outs;
        for (Operation *user : a.getResult().getUsers()) {
          auto o = llvm::dyn_cast<mm::LinearOp>(user);
          if (!o || o.getInput() != a.getResult())
            return;
          outs.push_back(o);
        }
        int64_t hd = a.getHeadDim();
        want(a, v.getWeight(), std::nullopt, Rot::None, Rot::Heads, hd);
        if (Value b = v.getBias())
          want(a, b, std::nullopt, Rot::Heads, Rot::None, hd);
        for (mm::LinearOp o : outs)
          want(a, o.getWeight(), std::nullopt, Rot::Heads, Rot::None, hd);
      });
    // Online: the down products' inputs, in blocks of the largest power of two
    // dividing their width.
    downs.clear();
    if (online)
      body.walk([&](mm::LinearOp l) {
        auto sw = l.getInput().getDefiningOp<mm::SwiGLUOp>();
        if (!sw || !sw.getResult().hasOneUse())
          return;
        const int64_t F = llvm::cast<mlir::RankedTensorType>(sw.getType()).getDimSize(1);
        const int64_t block = F & -F;
        if (block < 2)
          return;
        downs.push_back({l, block});
        want(l, l.getWeight(), std::nullopt, Rot::Online, Rot::None);
        if (auto w = l.getWeight().getDefiningOp<mm::WeightOp>())
          plan[w.getName()].block = block;
      });
    if (failedPlan)
      return signalPassFailure();

    // 2. The rewrite: norm scales read first, then every planned weight.
    llvm::StringMap<std::vector<double>> gammas;
    auto readGamma = [&](const std::string &name) {
      return name.empty() || gammas.count(name) ||
             succeeded(readValues(byName[name].front(), gammas[name]));
    };
    for (auto &[name, t] : plan)
      if (!readGamma(t.gamma))
        return signalPassFailure();
    if (!readGamma(tiedGamma))
      return signalPassFailure();

    llvm::Expected<std::unique_ptr<WeightStore>> opened = WeightStore::open(weightStore);
    if (!opened) {
      module.emitError() << getArgument() << ": " << llvm::toString(opened.takeError());
      return signalPassFailure();
    }
    store = std::move(*opened);
    Rotation q(width, seed);

    if (tiedLogits) {
      mm::WeightOp table = tiedLogits.getWeight().getDefiningOp<mm::WeightOp>();
      mlir::OpBuilder b(tiedLogits);
      auto copy = llvm::cast<mm::WeightOp>(b.clone(*table));
      copy.setName(outputName);
      tiedLogits.getWeightMutable().assign(copy.getResult());
      Transform t;
      t.gamma = tiedGamma;
      t.in = Rot::Stream;
      if (failed(rewrite({copy}, t, gammas, q)))
        return signalPassFailure();
      model.setConfigAttr(model.getConfig().withTiedEmbeddings(false));
    }
    for (auto &[name, t] : plan)
      if (failed(rewrite(byName[name], t, gammas, q)))
        return signalPassFailure();
    // The online transforms go between the SwiGLU and its down product.
    for (auto &[l, block] : downs) {
      mlir::OpBuilder b(l);
      Value in = l.getInput();
      auto h = mm::HadamardOp::create(b, l.getLoc(), in.getType(), in,
                                      static_cast<uint64_t>(block));
      l.getInputMutable().assign(h.getResult());
    }
    // The norms keep their place with a scale of ones.
    llvm::StringSet<> done;
    for (mm::RMSNormOp n : norms) {
      auto w = n.getWeight().getDefiningOp<mm::WeightOp>();
      if (!done.insert(w.getName()).second)
        continue;
      std::vector<double> ones(static_cast<size_t>(w.getType().getNumElements()), 1.0);
      if (failed(store_(byName[w.getName()], ones)))
        return signalPassFailure();
    }
  }

  /// Writes the ops' weight, transformed, to the store.
  mlir::LogicalResult rewrite(llvm::ArrayRef<mm::WeightOp> ops, const Transform &t,
                              llvm::StringMap<std::vector<double>> &gammas, const Rotation &q) {
    mm::WeightOp first = ops.front();
    std::vector<double> w;
    if (failed(readValues(first, w)))
      return mlir::failure();
    mm::WeightType type = first.getType();
    llvm::ArrayRef<int64_t> shape = type.getShape();
    const int64_t K = shape.back();
    const int64_t N = shape.size() >= 2 ? shape[shape.size() - 2] : 1;
    const int64_t mats = type.getNumElements() / (K * N);
    auto rotation = [&](Rot r, int64_t n) -> std::optional<Rotation> {
      if (r == Rot::Stream) {
        if (n != q.size())
          return std::nullopt;
        return q;
      }
      if (t.headDim <= 0 || n % t.headDim)
        return std::nullopt;
      return Rotation(t.headDim, seed + 1);
    };
    auto apply = [&](Rot r, int64_t n, double *x, const Rotation &rot) {
      if (r == Rot::Stream)
        rot.applyRight(x);
      else
        for (int64_t h = 0; h < n; h += rot.size())
          rot.applyRight(x + h);
    };
    if (!t.gamma.empty()) {
      const std::vector<double> &g = gammas[t.gamma];
      if (static_cast<int64_t>(g.size()) != K)
        return first.emitOpError()
               << getArgument() << ": rows of " << K << " values, but the norm '" << t.gamma
               << "' folded into them has " << g.size();
      for (int64_t r = 0; r < mats * N; ++r)
        for (int64_t k = 0; k < K; ++k)
          w[static_cast<size_t>(r * K + k)] *= g[static_cast<size_t>(k)];
    }
    if (t.in == Rot::Online) {
      if (t.block < 2 || K % t.block)
        return first.emitOpError() << getArgument() << ": rows of " << K
                                   << " values do not match the online transform's blocks of "
                                   << t.block;
      for (int64_t r = 0; r < mats * N; ++r)
        hadamardBlocks(&w[static_cast<size_t>(r * K)], K, t.block);
    } else if (t.in != Rot::None) {
      std::optional<Rotation> rot = rotation(t.in, K);
      if (!rot)
        return first.emitOpError() << getArgument() << ": rows of " << K
                                         << " values do not match " << rotName(t.in) << " rotation";
      for (int64_t r = 0; r < mats * N; ++r)
        apply(t.in, K, &w[static_cast<size_t>(r * K)], *rot);
    }
    if (t.out != Rot::None) {
      std::optional<Rotation> rot = rotation(t.out, N);
      if (!rot)
        return first.emitOpError() << getArgument() << ": columns of " << N
                                         << " values do not match " << rotName(t.out) << " rotation";
      std::vector<double> col(static_cast<size_t>(N));
      for (int64_t m = 0; m < mats; ++m)
        for (int64_t k = 0; k < K; ++k) {
          double *base = &w[static_cast<size_t>(m * N * K)];
          for (int64_t n = 0; n < N; ++n)
            col[static_cast<size_t>(n)] = base[n * K + k];
          apply(t.out, N, col.data(), *rot);
          for (int64_t n = 0; n < N; ++n)
            base[n * K + k] = col[static_cast<size_t>(n)];
        }
    }
    return store_(ops, w);
  }

  /// Decodes a weight's values (any storage format) to doubles.
  mlir::LogicalResult readValues(mm::WeightOp op, std::vector<double> &out) {
    llvm::Expected<std::vector<float>> values = readWeightValues(op);
    if (!values)
      return op.emitOpError() << getArgument() << ": " << llvm::toString(values.takeError());
    out.assign(values->begin(), values->end());
    return mlir::success();
  }

  /// Appends `values` as f32 and points every op at them.
  mlir::LogicalResult store_(llvm::ArrayRef<mm::WeightOp> ops, const std::vector<double> &values) {
    mm::WeightOp first = ops.front();
    mm::WeightType type = first.getType();
    std::vector<uint8_t> bytes(values.size() * 4);
    for (size_t i = 0; i < values.size(); ++i) {
      float f = static_cast<float>(values[i]);
      std::memcpy(&bytes[i * 4], &f, 4);
    }
    auto f32 = mm::WeightType::get(type.getContext(), type.getShape(), mm::WeightFormat::f32);
    llvm::Expected<WeightReference> ref = store->append(f32, bytes);
    if (!ref)
      return first.emitOpError() << getArgument() << ": " << llvm::toString(ref.takeError());
    for (mm::WeightOp op : ops)
      setWeightReference(op, *ref);
    return mlir::success();
  }

  /// The stream's writer `v`: its producer's output side is rotated.
  void writer(Operation *add, Value v) {
    Operation *def = v.getDefiningOp();
    if (!def || !v.hasOneUse()) {
      fail(add, "adds to the residual stream a value that is not the only use of a product");
      return;
    }
    if (auto l = llvm::dyn_cast<mm::LinearOp>(def)) {
      want(def, l.getWeight(), std::nullopt, Rot::None, Rot::Stream);
      if (Value b = l.getBias())
        want(def, b, std::nullopt, Rot::Stream, Rot::None);
    } else if (auto m = llvm::dyn_cast<mm::MoEOp>(def)) {
      want(def, m.getDownExps(), std::nullopt, Rot::None, Rot::Stream);
    } else {
      fail(def, "writes into the residual stream; the rotation can only be absorbed into a "
                "milm.linear or a milm.moe");
    }
  }

  std::shared_ptr<WeightStore> store;
};

} // namespace
} // namespace milm
