//===- Interpreter.cpp - Run a milm.model's forward on the host, op by op -===//
//
// Interpreter.h has the contract. Activations are row-major [tokens, width]
// matrices of doubles, one per SSA value; products split their output rows
// over threads.
//
//===----------------------------------------------------------------------===//
#include "passes/Interpreter.h"
#include "passes/Parallel.h"
#include "passes/Rotation.h"
#include "passes/WeightStore.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <thread>

namespace milm {

namespace mm = mlir::milm;
using mlir::Operation;
using mlir::Value;

namespace {

struct Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<double> v;
  Matrix() = default;
  Matrix(int64_t r, int64_t c) : rows(r), cols(c), v(size_t(r * c), 0.0) {}
  double *row(int64_t r) { return v.data() + r * cols; }
  const double *row(int64_t r) const { return v.data() + r * cols; }
};

/// sum_k w[k] * x[k], eight independent sums (vectorisable, deterministic).
double dot(const float *w, const double *x, int64_t n) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; ++j)
      s[j] += double(w[k + j]) * x[k + j];
  double r = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
  for (; k < n; ++k)
    r += double(w[k]) * x[k];
  return r;
}

/// out[t, o] = sum_k x[t, k] * w[o, k] for the rows `rowsOf` of x (all when empty).
void product(const Matrix &x, const float *w, int64_t outRows, Matrix &out, unsigned threads) {
  const int64_t K = x.cols, T = x.rows;
  parallelFor(outRows, threads, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      const float *wr = w + o * K;
      for (int64_t t = 0; t < T; ++t)
        out.row(t)[o] = dot(wr, x.row(t), K);
    }
  });
}

/// Which experts each token of `logits` ([T, E] router logits) uses, and
/// with what weight (milm.moe's and milm.moe_route's routing).
std::vector<std::vector<std::pair<int64_t, double>>>
routePicks(const Matrix &logits, int64_t E, int64_t K, mlir::milm::MoEWeighting weighting) {
  std::vector<std::vector<std::pair<int64_t, double>>> picks(static_cast<size_t>(logits.rows));
  for (int64_t t = 0; t < logits.rows; ++t) {
    std::vector<int64_t> order(static_cast<size_t>(E));
    std::iota(order.begin(), order.end(), 0);
    const double *r = logits.row(t);
    std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return r[i] > r[j]; });
    const double mx = r[order[0]];
    double all = 0, top = 0;
    for (int64_t e = 0; e < E; ++e)
      all += std::exp(r[e] - mx);
    for (int64_t j = 0; j < K; ++j)
      top += std::exp(r[order[size_t(j)]] - mx);
    for (int64_t j = 0; j < K; ++j) {
      const double p = std::exp(r[order[size_t(j)]] - mx);
      double wgt = 0;
      switch (weighting) {
      case mlir::milm::MoEWeighting::topk_softmax:
      case mlir::milm::MoEWeighting::softmax_topk_norm:
        wgt = p / top;
        break;
      case mlir::milm::MoEWeighting::softmax_topk:
        wgt = p / all;
        break;
      }
      picks[size_t(t)].push_back({order[size_t(j)], wgt});
    }
  }
  return picks;
}

} // namespace

struct ModelInterpreter::Impl {
  mlir::func::FuncOp forward;
  llvm::StringMap<std::vector<float>> weights; // decoded, by name
  /// For every value that a product reads: the weights reading it.
  llvm::DenseMap<Value, std::vector<std::string>> readers;

  llvm::Expected<const std::vector<float> *> weight(Value v) {
    auto op = v.getDefiningOp<mm::WeightOp>();
    if (!op)
      return llvm::createStringError("a weight operand is not a milm.weight");
    auto it = weights.find(op.getName());
    if (it != weights.end())
      return &it->second;
    llvm::Expected<std::vector<float>> values = readWeightValues(op);
    if (!values)
      return values.takeError();
    return &(weights[op.getName()] = std::move(*values));
  }
};

ModelInterpreter::ModelInterpreter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ModelInterpreter::~ModelInterpreter() = default;

static std::string where(Operation *op) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << op->getLoc();
  return s;
}

llvm::Expected<std::unique_ptr<ModelInterpreter>> ModelInterpreter::create(mlir::ModuleOp module) {
  mm::ModelOp model;
  for (auto m : module.getOps<mm::ModelOp>()) {
    if (model)
      return llvm::createStringError("the module holds more than one milm.model");
    model = m;
  }
  if (!model)
    return llvm::createStringError("the module holds no milm.model");
  auto forward = model.lookupSymbol<mlir::func::FuncOp>("forward");
  if (!forward || forward.getBody().empty())
    return llvm::createStringError("milm.model has no forward function with a body");
  if (forward.getNumArguments() != 3)
    return llvm::createStringError("forward takes " + llvm::Twine(forward.getNumArguments()) +
                                   " arguments, expected tokens, positions and cache");
  auto impl = std::make_unique<Impl>();
  impl->forward = forward;
  for (Operation &op : forward.getBody().front()) {
    auto unsupported = [&](const llvm::Twine &what) {
      return llvm::createStringError(where(&op) + ": the interpreter cannot run " + what);
    };
    if (auto rope = llvm::dyn_cast<mm::RopeOp>(op)) {
      if (rope.getScaling() != mm::RopeScaling::none &&
          rope.getScaling() != mm::RopeScaling::linear)
        return unsupported("rope scaling '" + mm::stringifyRopeScaling(rope.getScaling()) + "'");
    } else if (auto att = llvm::dyn_cast<mm::AttentionOp>(op)) {
      if (att.getTreeMask() || att.getMask() != mm::AttentionMask::causal)
        return unsupported("attention with a tree mask");
    } else if (auto lin = llvm::dyn_cast<mm::LinearOp>(op)) {
      auto w = lin.getWeight().getDefiningOp<mm::WeightOp>();
      if (!w)
        return unsupported("a milm.linear whose weight is not a milm.weight");
      impl->readers[lin.getInput()].push_back(w.getName().str());
    } else if (auto lg = llvm::dyn_cast<mm::LogitsOp>(op)) {
      auto w = lg.getWeight().getDefiningOp<mm::WeightOp>();
      if (!w)
        return unsupported("a milm.logits whose weight is not a milm.weight");
      impl->readers[lg.getInput()].push_back(w.getName().str());
    } else if (auto moe = llvm::dyn_cast<mm::MoEOp>(op)) {
      for (Value v : {moe.getRouter(), moe.getGateExps(), moe.getUpExps(), moe.getDownExps()})
        if (!v.getDefiningOp<mm::WeightOp>())
          return unsupported("a milm.moe whose weights are not milm.weight ops");
      impl->readers[moe.getInput()].push_back(
          moe.getRouter().getDefiningOp<mm::WeightOp>().getName().str());
    } else if (auto route = llvm::dyn_cast<mm::MoERouteOp>(op)) {
      auto w = route.getRouter().getDefiningOp<mm::WeightOp>();
      if (!w)
        return unsupported("a milm.moe_route whose router is not a milm.weight");
      impl->readers[route.getInput()].push_back(w.getName().str());
    } else if (auto oc = llvm::dyn_cast<mm::OutlierColumnsOp>(op)) {
      if (!oc.getSide().getDefiningOp<mm::WeightOp>())
        return unsupported("a milm.outlier_columns whose side is not a milm.weight");
    } else if (!llvm::isa<mm::WeightOp, mm::EmbeddingOp, mm::RMSNormOp, mm::SwiGLUOp, mm::AddOp,
                          mm::ColumnsOp, mm::MoECombineOp,
                          mm::HadamardOp, mlir::func::ReturnOp>(op)) {
      return unsupported("'" + op.getName().getStringRef() + "'");
    }
  }
  std::unique_ptr<ModelInterpreter> r(new ModelInterpreter(std::move(impl)));
  mm::ModelConfigAttr c = model.getConfig();
  r->vocab_ = c.getVocabSize();
  r->context_ = c.getContextLength();
  r->bos_ = c.getBosToken();
  return r;
}

llvm::Expected<std::vector<double>>
ModelInterpreter::forward(llvm::ArrayRef<int32_t> tokens,
                          const std::function<void(const ProductInput &)> &observe,
                          unsigned threads) {
  if (threads == 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  const int64_t T = static_cast<int64_t>(tokens.size());
  if (T == 0)
    return llvm::createStringError("no tokens to run");
  if (T > context_)
    return llvm::createStringError("a window of " + llvm::Twine(T) +
                                   " tokens is longer than the model's context (" +
                                   llvm::Twine(context_) + ")");
  for (int32_t t : tokens)
    if (t < 0 || t >= vocab_)
      return llvm::createStringError("token id " + llvm::Twine(t) + " is outside the vocabulary (" +
                                     llvm::Twine(vocab_) + ")");
  Impl &I = *impl_;
  llvm::DenseMap<Value, Matrix> values;
  auto get = [&](Value v) -> Matrix & { return values[v]; };
  auto fail = [&](Operation *op, const llvm::Twine &msg) {
    return llvm::createStringError(where(op) + ": " + msg);
  };
  auto report = [&](Value input, const Matrix &x) {
    if (!observe)
      return;
    auto it = I.readers.find(input);
    if (it == I.readers.end())
      return;
    ProductInput p;
    p.weights = it->second;
    p.values = x.v.data();
    p.rows = x.rows;
    p.cols = x.cols;
    observe(p);
  };
  // Positions are 0..T-1: the window starts on an empty cache.
  std::vector<double> positions(static_cast<size_t>(T));
  std::iota(positions.begin(), positions.end(), 0.0);
  Value tokensArg = I.forward.getArgument(0);

  for (Operation &op : I.forward.getBody().front()) {
    if (llvm::isa<mm::WeightOp>(op))
      continue;
    if (auto ret = llvm::dyn_cast<mlir::func::ReturnOp>(op)) {
      if (ret.getNumOperands() != 1)
        return fail(&op, "forward must return the logits");
      return std::move(get(ret.getOperand(0)).v);
    }
    if (auto e = llvm::dyn_cast<mm::EmbeddingOp>(op)) {
      if (e.getTokens() != tokensArg)
        return fail(&op, "the embedding does not read forward's tokens");
      auto w = I.weight(e.getTable());
      if (!w)
        return w.takeError();
      const int64_t H = llvm::cast<mm::WeightType>(e.getTable().getType()).getShape()[1];
      Matrix m(T, H);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < H; ++i)
          m.row(t)[i] = (**w)[size_t(tokens[size_t(t)]) * H + i];
      values[e.getResult()] = std::move(m);
    } else if (auto n = llvm::dyn_cast<mm::RMSNormOp>(op)) {
      const Matrix &x = get(n.getInput());
      auto w = I.weight(n.getWeight());
      if (!w)
        return w.takeError();
      Matrix m(x.rows, x.cols);
      for (int64_t t = 0; t < x.rows; ++t) {
        double ss = 0;
        for (int64_t i = 0; i < x.cols; ++i)
          ss += x.row(t)[i] * x.row(t)[i];
        const double r = 1.0 / std::sqrt(ss / double(x.cols) + n.getEps().convertToDouble());
        for (int64_t i = 0; i < x.cols; ++i)
          m.row(t)[i] = x.row(t)[i] * r * (**w)[size_t(i)];
      }
      values[n.getResult()] = std::move(m);
    } else if (auto l = llvm::dyn_cast<mm::LinearOp>(op)) {
      const Matrix &x = get(l.getInput());
      report(l.getInput(), x);
      auto w = I.weight(l.getWeight());
      if (!w)
        return w.takeError();
      const int64_t N = llvm::cast<mm::WeightType>(l.getWeight().getType()).getShape()[0];
      Matrix m(x.rows, N);
      product(x, (*w)->data(), N, m, threads);
      if (l.getBias()) {
        auto b = I.weight(l.getBias());
        if (!b)
          return b.takeError();
        for (int64_t t = 0; t < x.rows; ++t)
          for (int64_t o = 0; o < N; ++o)
            m.row(t)[o] += (**b)[size_t(o)];
      }
      values[l.getResult()] = std::move(m);
    } else if (auto lg = llvm::dyn_cast<mm::LogitsOp>(op)) {
      const Matrix &x = get(lg.getInput());
      report(lg.getInput(), x);
      auto w = I.weight(lg.getWeight());
      if (!w)
        return w.takeError();
      Matrix m(x.rows, vocab_);
      product(x, (*w)->data(), vocab_, m, threads);
      values[lg.getResult()] = std::move(m);
    } else if (auto r = llvm::dyn_cast<mm::RopeOp>(op)) {
      if (r.getPositions() != I.forward.getArgument(1))
        return fail(&op, "rope does not read forward's positions");
      Matrix m = get(r.getInput());
      const int64_t hd = int64_t(r.getHeadDim());
      const int64_t rd = r.getRotaryDim() ? int64_t(*r.getRotaryDim()) : hd;
      const bool neox = r.getPairing() == mm::RopePairing::neox;
      const double scale =
          r.getScaling() == mm::RopeScaling::linear && r.getFactor()
              ? 1.0 / r.getFactor()->convertToDouble()
              : 1.0;
      const double base = r.getBase().convertToDouble();
      for (int64_t t = 0; t < m.rows; ++t) {
        const double pos = positions[size_t(t)] * scale;
        for (int64_t h0 = 0; h0 + hd <= m.cols; h0 += hd) {
          double *x = m.row(t) + h0;
          for (int64_t i = 0; i < rd / 2; ++i) {
            const double theta = pos * std::pow(base, -2.0 * double(i) / double(rd));
            const double c = std::cos(theta), s = std::sin(theta);
            double &a = neox ? x[i] : x[2 * i];
            double &b = neox ? x[i + rd / 2] : x[2 * i + 1];
            const double a0 = a, b0 = b;
            a = a0 * c - b0 * s;
            b = a0 * s + b0 * c;
          }
        }
      }
      values[r.getResult()] = std::move(m);
    } else if (auto a = llvm::dyn_cast<mm::AttentionOp>(op)) {
      const Matrix &q = get(a.getQ()), &k = get(a.getK()), &v = get(a.getV());
      const int64_t H = int64_t(a.getNumHeads()), KV = int64_t(a.getNumKvHeads()),
                    hd = int64_t(a.getHeadDim());
      const double scale = a.getScale() ? a.getScale()->convertToDouble() : 1.0 / std::sqrt(double(hd));
      Matrix m(T, H * hd);
      parallelFor(H, threads, [&](int64_t hb, int64_t he) {
        std::vector<double> p(static_cast<size_t>(T));
        for (int64_t h = hb; h < he; ++h) {
          const int64_t g = h / (H / KV);
          for (int64_t t = 0; t < T; ++t) {
            double mx = -INFINITY;
            for (int64_t s = 0; s <= t; ++s) {
              double d = 0;
              for (int64_t i = 0; i < hd; ++i)
                d += q.row(t)[h * hd + i] * k.row(s)[g * hd + i];
              p[size_t(s)] = d * scale;
              mx = std::max(mx, p[size_t(s)]);
            }
            double sum = 0;
            for (int64_t s = 0; s <= t; ++s)
              sum += (p[size_t(s)] = std::exp(p[size_t(s)] - mx));
            double *out = m.row(t) + h * hd;
            for (int64_t s = 0; s <= t; ++s) {
              const double ws = p[size_t(s)] / sum;
              for (int64_t i = 0; i < hd; ++i)
                out[i] += ws * v.row(s)[g * hd + i];
            }
          }
        }
      });
      values[a.getResult()] = std::move(m);
    } else if (auto s = llvm::dyn_cast<mm::SwiGLUOp>(op)) {
      const Matrix &g = get(s.getGate()), &u = get(s.getUp());
      Matrix m(g.rows, g.cols);
      for (size_t i = 0; i < m.v.size(); ++i)
        m.v[i] = g.v[i] / (1.0 + std::exp(-g.v[i])) * u.v[i];
      values[s.getResult()] = std::move(m);
    } else if (auto hd = llvm::dyn_cast<mm::HadamardOp>(op)) {
      Matrix m = get(hd.getInput());
      for (int64_t t = 0; t < m.rows; ++t)
        hadamardBlocks(m.row(t), m.cols, int64_t(hd.getBlock()));
      values[hd.getResult()] = std::move(m);
    } else if (auto oc = llvm::dyn_cast<mm::OutlierColumnsOp>(op)) {
      Matrix m = get(oc.getPartial());
      const Matrix &x = get(oc.getInput());
      auto w = I.weight(oc.getSide());
      if (!w)
        return w.takeError();
      llvm::ArrayRef<int64_t> cols = oc.getColumns();
      const size_t k = cols.size();
      for (int64_t t = 0; t < m.rows; ++t)
        for (int64_t o = 0; o < m.cols; ++o) {
          double acc = 0;
          for (size_t j = 0; j < k; ++j)
            acc += x.row(t)[cols[j]] * (**w)[size_t(o) * k + j];
          m.row(t)[o] += acc;
        }
      values[oc.getResult()] = std::move(m);
    } else if (auto co = llvm::dyn_cast<mm::ColumnsOp>(op)) {
      const Matrix &x = get(co.getInput());
      const int64_t off = int64_t(co.getOffset()), size = int64_t(co.getSize());
      Matrix m(x.rows, size);
      for (int64_t t = 0; t < x.rows; ++t)
        std::copy(x.row(t) + off, x.row(t) + off + size, m.row(t));
      values[co.getResult()] = std::move(m);
    } else if (auto ad = llvm::dyn_cast<mm::AddOp>(op)) {
      const Matrix &x = get(ad.getLhs()), &y = get(ad.getRhs());
      Matrix m(x.rows, x.cols);
      for (size_t i = 0; i < m.v.size(); ++i)
        m.v[i] = x.v[i] + y.v[i];
      values[ad.getResult()] = std::move(m);
    } else if (auto route = llvm::dyn_cast<mm::MoERouteOp>(op)) {
      // The unfused form: the routing weights as a [T, E] matrix, 0 where an
      // expert is not selected; milm.moe_combine adds the experts' outputs.
      const Matrix &x = get(route.getInput());
      report(route.getInput(), x);
      auto router = I.weight(route.getRouter());
      if (!router)
        return router.takeError();
      const int64_t E = llvm::cast<mm::WeightType>(route.getRouter().getType()).getShape()[0];
      Matrix logits(T, E), m(T, E);
      product(x, (*router)->data(), E, logits, 1);
      const auto picks = routePicks(logits, E, int64_t(route.getTopK()), route.getWeighting());
      for (int64_t t = 0; t < T; ++t)
        for (auto &[e, w] : picks[size_t(t)])
          m.row(t)[e] = w;
      values[route.getResult()] = std::move(m);
    } else if (auto combine = llvm::dyn_cast<mm::MoECombineOp>(op)) {
      const Matrix &w = get(combine.getWeights());
      const int64_t D = llvm::cast<mlir::RankedTensorType>(combine.getType()).getDimSize(1);
      Matrix m(T, D);
      for (auto [e, out] : llvm::enumerate(combine.getExperts())) {
        const Matrix &y = get(out);
        for (int64_t t = 0; t < T; ++t)
          if (const double we = w.row(t)[e]; we != 0)
            for (int64_t d = 0; d < D; ++d)
              m.row(t)[d] += we * y.row(t)[d];
      }
      values[combine.getResult()] = std::move(m);
    } else if (auto moe = llvm::dyn_cast<mm::MoEOp>(op)) {
      const Matrix &x = get(moe.getInput());
      report(moe.getInput(), x);
      auto router = I.weight(moe.getRouter());
      if (!router)
        return router.takeError();
      auto gate = I.weight(moe.getGateExps());
      if (!gate)
        return gate.takeError();
      auto up = I.weight(moe.getUpExps());
      if (!up)
        return up.takeError();
      auto down = I.weight(moe.getDownExps());
      if (!down)
        return down.takeError();
      llvm::ArrayRef<int64_t> gs = llvm::cast<mm::WeightType>(moe.getGateExps().getType()).getShape();
      const int64_t E = gs[0], F = gs[1], D = x.cols, K = int64_t(moe.getTopK());
      Matrix logits(T, E);
      product(x, (*router)->data(), E, logits, 1);
      const std::vector<std::vector<std::pair<int64_t, double>>> picks =
          routePicks(logits, E, K, moe.getWeighting());
      auto names = [&](Value w) {
        return std::vector<std::string>{w.getDefiningOp<mm::WeightOp>().getName().str()};
      };
      std::vector<std::string> gateUp = names(moe.getGateExps());
      gateUp.push_back(names(moe.getUpExps())[0]);
      std::vector<std::string> downName = names(moe.getDownExps());
      Matrix m(T, D);
      for (int64_t e = 0; e < E; ++e) {
        std::vector<std::pair<int64_t, double>> mine;
        for (int64_t t = 0; t < T; ++t)
          for (auto &[ex, w] : picks[size_t(t)])
            if (ex == e)
              mine.push_back({t, w});
        if (mine.empty())
          continue;
        const int64_t n = int64_t(mine.size());
        Matrix xe(n, D);
        for (int64_t i = 0; i < n; ++i)
          std::copy_n(x.row(mine[size_t(i)].first), D, xe.row(i));
        if (observe)
          observe(ProductInput{gateUp, e, xe.v.data(), n, D});
        Matrix g(n, F), u(n, F), h(n, F), y(n, D);
        product(xe, (*gate)->data() + e * F * D, F, g, threads);
        product(xe, (*up)->data() + e * F * D, F, u, threads);
        for (size_t i = 0; i < h.v.size(); ++i)
          h.v[i] = g.v[i] / (1.0 + std::exp(-g.v[i])) * u.v[i];
        if (observe)
          observe(ProductInput{downName, e, h.v.data(), n, F});
        product(h, (*down)->data() + e * D * F, D, y, threads);
        for (int64_t i = 0; i < n; ++i)
          for (int64_t d = 0; d < D; ++d)
            m.row(mine[size_t(i)].first)[d] += mine[size_t(i)].second * y.row(i)[d];
      }
      values[moe.getResult()] = std::move(m);
    } else {
      return fail(&op, "the interpreter cannot run '" + op.getName().getStringRef() + "'");
    }
    // Free what no later op reads: the last user of each operand was this op.
    for (Value operand : op.getOperands()) {
      bool later = false;
      for (Operation *user : operand.getUsers())
        if (user != &op && op.isBeforeInBlock(user))
          later = true;
      if (!later)
        values.erase(operand);
    }
  }
  return llvm::createStringError("forward has no return");
}

} // namespace milm
