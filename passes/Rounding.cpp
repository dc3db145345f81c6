//===- Rounding.cpp - RTN, clipped RTN and GPTQ on the 4-bit schemes ------===//
//
// Rounding.h has the contract.
//
//===----------------------------------------------------------------------===//
#include "passes/Rounding.h"
#include "passes/Cholesky.h"
#include "passes/Parallel.h"

#include "common/milm/Quantize.h"
#include "common/milm/StorageFormat.h"

#include "llvm/ADT/STLExtras.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace milm {

std::string IntScheme::name() const {
  return std::string("w4-") + (group ? "g" + std::to_string(group) : std::string("channel")) +
         (asym ? "-asym" : "");
}

std::optional<IntScheme> parseIntScheme(llvm::StringRef name) {
  if (!name.consume_front("w4-"))
    return std::nullopt;
  IntScheme s;
  s.asym = name.consume_back("-asym");
  if (name == "channel")
    return s;
  if (name.consume_front("g") && !name.getAsInteger(10, s.group) &&
      (s.group == 32 || s.group == 64 || s.group == 128))
    return s;
  return std::nullopt;
}

double outlierBits(const IntScheme &scheme, int64_t rows, int64_t K, int64_t k) {
  const double body = scheme.bits(K) * double(rows) * double(K);
  const double side = 16.0 * double(rows) * double(k) + 32.0 * double(k);
  return (body + side) / (double(rows) * double(K));
}

namespace {

float f16(float x) {
  uint16_t h;
  float r;
  quantizeRow(StorageFormat::F16, &x, &h, 1);
  dequantizeRow(StorageFormat::F16, &h, &r, 1);
  return r;
}

/// The 16 values one group may take.
struct Grid {
  float d = 0, mn = 0;
  bool asym = false;
  float operator()(float x) const {
    if (d == 0)
      return asym ? mn : 0.0f;
    // Times the reciprocal, as ggml's reference quantizers do.
    const float id = 1.0f / d;
    if (!asym) {
      float q = std::nearbyint(x * id);
      return std::min(7.0f, std::max(-8.0f, q)) * d;
    }
    float q = std::nearbyint((x - mn) * id);
    return std::min(15.0f, std::max(0.0f, q)) * d + mn;
  }
};

/// The grid of the values x[idx[i]] (the columns of a group that are not
/// outliers), shrunk by `shrink`.
Grid makeGrid(const float *x, llvm::ArrayRef<int64_t> idx, bool asym, float shrink) {
  Grid g;
  g.asym = asym;
  if (idx.empty())
    return g;
  float lo = x[idx[0]], hi = x[idx[0]];
  for (int64_t i : idx)
    lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
  if (!asym) {
    // ggml's q4_0 convention: the extreme value maps to -8 exactly.
    const float extreme = hi >= -lo ? hi : lo;
    g.d = f16(shrink * extreme / -8.0f);
  } else {
    // Shrunk around the range's middle; at 1, q4_1's min and step.
    const float cut = (1.0f - shrink) * (hi - lo) / 2.0f;
    g.mn = f16(lo + cut);
    g.d = std::max(0.0f, f16((hi - cut - g.mn) / 15.0f));
  }
  return g;
}

/// The grid for the columns `idx` of row x: the extreme's, or with `clip` the
/// best of six shrinks by h-weighted squared error.
Grid chooseGrid(const float *x, llvm::ArrayRef<int64_t> idx, bool asym, bool clip,
                const std::vector<double> &h) {
  Grid best = makeGrid(x, idx, asym, 1.0f);
  if (!clip)
    return best;
  auto cost = [&](const Grid &g) {
    double c = 0;
    for (int64_t i : idx) {
      const double e = double(x[i]) - double(g(x[i]));
      c += h[size_t(i)] * e * e;
    }
    return c;
  };
  double bestCost = cost(best);
  for (float s : {0.95f, 0.9f, 0.85f, 0.8f, 0.75f}) {
    Grid g = makeGrid(x, idx, asym, s);
    const double c = cost(g);
    if (c < bestCost)
      best = g, bestCost = c;
  }
  return best;
}

/// The columns of each group (of the scheme) that are not outliers.
std::vector<std::vector<int64_t>> groupsOf(const IntScheme &s, int64_t K,
                                           const std::vector<uint8_t> &outlier) {
  const int64_t G = s.group ? s.group : K;
  std::vector<std::vector<int64_t>> groups;
  for (int64_t g0 = 0; g0 < K; g0 += G) {
    groups.emplace_back();
    for (int64_t i = g0; i < std::min(K, g0 + G); ++i)
      if (!outlier[size_t(i)])
        groups.back().push_back(i);
  }
  return groups;
}

/// RTN (clipped or not) of every row into `out`, outliers at f16.
void roundToNearest(const float *W, float *out, int64_t rows, int64_t K, const RoundingOptions &o,
                    const std::vector<uint8_t> &outlier, const std::vector<double> &h) {
  const std::vector<std::vector<int64_t>> groups = groupsOf(o.scheme, K, outlier);
  parallelFor(rows, o.threads, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float *x = W + r * K;
      float *y = out + r * K;
      for (const std::vector<int64_t> &idx : groups) {
        Grid g = chooseGrid(x, idx, o.scheme.asym, o.clip, h);
        for (int64_t i : idx)
          y[i] = g(x[i]);
      }
      for (int64_t i = 0; i < K; ++i)
        if (outlier[size_t(i)])
          y[i] = f16(x[i]);
    }
  });
}

/// U, upper triangular with H^-1 = U^T U, for GPTQ's column updates.
std::optional<std::vector<double>> inverseFactor(std::vector<double> H, int64_t K) {
  if (!cholesky(H, K))
    return std::nullopt;
  // L^-1 (lower), column by column.
  std::vector<double> Li(static_cast<size_t>(K * K), 0.0);
  for (int64_t c = 0; c < K; ++c) {
    Li[size_t(c * K + c)] = 1.0 / H[size_t(c * K + c)];
    for (int64_t i = c + 1; i < K; ++i) {
      double s = 0;
      for (int64_t k = c; k < i; ++k)
        s += H[size_t(i * K + k)] * Li[size_t(k * K + c)];
      Li[size_t(i * K + c)] = -s / H[size_t(i * K + i)];
    }
  }
  // H^-1 = L^-T L^-1.
  std::vector<double> Hi(static_cast<size_t>(K * K), 0.0);
  for (int64_t i = 0; i < K; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      double s = 0;
      for (int64_t k = i; k < K; ++k)
        s += Li[size_t(k * K + i)] * Li[size_t(k * K + j)];
      Hi[size_t(i * K + j)] = Hi[size_t(j * K + i)] = s;
    }
  if (!cholesky(Hi, K))
    return std::nullopt;
  // U = L2^T.
  std::vector<double> U(static_cast<size_t>(K * K), 0.0);
  for (int64_t i = 0; i < K; ++i)
    for (int64_t j = 0; j <= i; ++j)
      U[size_t(j * K + i)] = Hi[size_t(i * K + j)];
  return U;
}

} // namespace

llvm::Expected<RoundingResult> roundMatrix(float *W, int64_t rows, int64_t K,
                                           const RoundingOptions &o) {
  RoundingResult res;
  const CalibrationSite *site = o.site;
  if (site && site->K != K)
    return llvm::createStringError("calibration statistics of " + llvm::Twine(site->K) +
                                   " input channels for a matrix of " + llvm::Twine(K) + " columns");
  if (o.gptq && (!site || site->matrix.empty()))
    return llvm::createStringError("GPTQ needs the second-moment matrices of the calibration "
                                   "(milm-calibrate with matrices=1, milmc calibrate --matrices)");
  if (o.outlierColumns >= K || o.outlierColumns < 0)
    return llvm::createStringError("cannot keep " + llvm::Twine(o.outlierColumns) +
                                   " of " + llvm::Twine(K) + " columns as outliers");
  // h_j: how much column j's error costs (mean squared input; 1 without statistics).
  std::vector<double> h(static_cast<size_t>(K), 1.0);
  if (site && site->rows)
    for (int64_t j = 0; j < K; ++j)
      h[size_t(j)] = site->meanSq(j);
  const std::vector<float> orig(W, W + rows * K);
  std::vector<uint8_t> outlier(static_cast<size_t>(K), 0);
  std::vector<float> tmp(static_cast<size_t>(rows * K));

  // Outliers in four rounds: the scales change as columns leave them.
  int64_t picked = 0;
  for (int round = 0; round < 4 && picked < o.outlierColumns; ++round) {
    roundToNearest(orig.data(), tmp.data(), rows, K, o, outlier, h);
    std::vector<std::pair<double, int64_t>> score;
    for (int64_t j = 0; j < K; ++j) {
      if (outlier[size_t(j)])
        continue;
      double e = 0;
      for (int64_t r = 0; r < rows; ++r) {
        const double d = double(orig[size_t(r * K + j)]) - double(tmp[size_t(r * K + j)]);
        e += d * d;
      }
      score.push_back({h[size_t(j)] * e, j});
    }
    const int64_t take = (o.outlierColumns - picked + (3 - round)) / (4 - round);
    std::partial_sort(score.begin(), score.begin() + take, score.end(),
                      [](auto &a, auto &b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    for (int64_t i = 0; i < take; ++i)
      outlier[size_t(score[size_t(i)].second)] = 1;
    picked += take;
  }
  for (int64_t j = 0; j < K; ++j)
    if (outlier[size_t(j)])
      res.outliers.push_back(j);

  if (!o.gptq) {
    roundToNearest(orig.data(), W, rows, K, o, outlier, h);
  } else {
    // The column order: act-order for per-channel rows (their scales do not
    // depend on the order), else as stored; outliers last.
    std::vector<int64_t> perm;
    for (int64_t j = 0; j < K; ++j)
      if (!outlier[size_t(j)])
        perm.push_back(j);
    if (o.scheme.group == 0)
      std::stable_sort(perm.begin(), perm.end(),
                       [&](int64_t a, int64_t b) { return h[size_t(a)] > h[size_t(b)]; });
    const int64_t body = int64_t(perm.size());
    for (int64_t j : res.outliers)
      perm.push_back(j);
    std::vector<double> Hp(static_cast<size_t>(K * K));
    const double n = double(std::max<uint64_t>(1, site->rows));
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < K; ++j)
        Hp[size_t(i * K + j)] = site->matrix[size_t(perm[size_t(i)] * K + perm[size_t(j)])] / n;
    std::vector<uint8_t> dead(static_cast<size_t>(K), 0);
    double mean = 0;
    for (int64_t i = 0; i < K; ++i) {
      if (Hp[size_t(i * K + i)] <= 0) {
        dead[size_t(i)] = 1;
        Hp[size_t(i * K + i)] = 1;
      }
      mean += Hp[size_t(i * K + i)];
    }
    mean /= double(K);
    std::optional<std::vector<double>> U;
    for (double damp = o.damp; damp <= o.damp * 1000 && !U; damp *= 10) {
      std::vector<double> Hd = Hp;
      for (int64_t i = 0; i < K; ++i)
        Hd[size_t(i * K + i)] += damp * mean;
      U = inverseFactor(std::move(Hd), K);
    }
    if (!U)
      return llvm::createStringError("GPTQ: the input's second moment is not positive definite "
                                     "even with 1000 times the damping");
    // Original column -> position in the order.
    std::vector<int64_t> pos(static_cast<size_t>(K));
    for (int64_t i = 0; i < K; ++i)
      pos[size_t(perm[size_t(i)])] = i;
    const std::vector<std::vector<int64_t>> groups = groupsOf(o.scheme, K, outlier);
    const int64_t G = o.scheme.group ? o.scheme.group : K;
    parallelFor(rows, o.threads, [&](int64_t b, int64_t e) {
      std::vector<double> w(static_cast<size_t>(K));
      std::vector<float> cur(static_cast<size_t>(K));
      std::vector<Grid> grid(groups.size());
      std::vector<uint8_t> ready(groups.size());
      for (int64_t r = b; r < e; ++r) {
        for (int64_t i = 0; i < K; ++i)
          w[size_t(i)] = dead[size_t(i)] ? 0.0 : double(orig[size_t(r * K + perm[size_t(i)])]);
        std::fill(ready.begin(), ready.end(), 0);
        for (int64_t i = 0; i < body; ++i) {
          const int64_t col = perm[size_t(i)];
          const size_t gi = size_t(col / G);
          if (!ready[gi]) {
            // The group's scale from its current values (GPTQ's static
            // groups would take them from the original row; this is the
            // usual "scales as the columns are reached").
            for (int64_t c : groups[gi])
              cur[size_t(c)] = float(w[size_t(pos[size_t(c)])]);
            grid[gi] = chooseGrid(cur.data(), groups[gi], o.scheme.asym, o.clip, h);
            ready[gi] = 1;
          }
          const double x = w[size_t(i)];
          const double q = grid[gi](float(x));
          const double err = (x - q) / (*U)[size_t(i * K + i)];
          w[size_t(i)] = q;
          const double *u = U->data() + i * K;
          for (int64_t j = i + 1; j < K; ++j)
            w[size_t(j)] -= err * u[j];
        }
        float *y = W + r * K;
        for (int64_t i = 0; i < K; ++i) {
          const int64_t col = perm[size_t(i)];
          y[col] = i < body ? float(w[size_t(i)]) : f16(float(w[size_t(i)]));
        }
      }
    });
  }

  // What the rounding costs at the product's output.
  std::vector<double> errs(static_cast<size_t>(rows)), ens(static_cast<size_t>(rows));
  const bool full = site && !site->matrix.empty() && site->rows;
  const double n = site && site->rows ? double(site->rows) : 1.0;
  parallelFor(rows, o.threads, [&](int64_t b, int64_t e) {
    std::vector<double> d(static_cast<size_t>(K)), x(static_cast<size_t>(K));
    for (int64_t r = b; r < e; ++r) {
      for (int64_t j = 0; j < K; ++j) {
        x[size_t(j)] = orig[size_t(r * K + j)];
        d[size_t(j)] = x[size_t(j)] - double(W[r * K + j]);
      }
      double er = 0, en = 0;
      if (full) {
        for (int64_t i = 0; i < K; ++i) {
          const double *m = site->matrix.data() + i * K;
          double sd = 0, sx = 0;
          for (int64_t j = 0; j < K; ++j)
            sd += m[j] * d[size_t(j)], sx += m[j] * x[size_t(j)];
          er += d[size_t(i)] * sd;
          en += x[size_t(i)] * sx;
        }
        er /= n, en /= n;
      } else {
        for (int64_t j = 0; j < K; ++j)
          er += h[size_t(j)] * d[size_t(j)] * d[size_t(j)],
              en += h[size_t(j)] * x[size_t(j)] * x[size_t(j)];
      }
      errs[size_t(r)] = er;
      ens[size_t(r)] = en;
    }
  });
  res.error = std::accumulate(errs.begin(), errs.end(), 0.0);
  res.energy = std::accumulate(ens.begin(), ens.end(), 0.0);
  return res;
}

} // namespace milm

#include "passes/WeightStore.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

namespace milm {

llvm::Expected<double> roundWeight(mlir::milm::WeightOp op, std::vector<float> &values,
                                   const RoundingOptions &base, const CalibrationStats *stats,
                                   double outlierFraction, std::vector<RoundingReportRow> &report) {
  auto type = op.getType();
  llvm::ArrayRef<int64_t> shape = type.getShape();
  const int64_t K = shape.back();
  const int64_t rows = shape[shape.size() - 2];
  const int64_t experts = shape.size() == 3 ? shape[0] : 1;
  const llvm::StringRef name = op.getName();
  auto fail = [&](const llvm::Twine &msg) {
    return llvm::createStringError("weight '" + name + "': " + msg);
  };
  if (shape.size() != 2 && shape.size() != 3)
    return fail("only matrices and stacked experts are rounded this way");
  uint64_t fp = 0;
  if (stats) {
    llvm::Expected<std::vector<uint8_t>> bytes = readWeightBytes(op);
    if (!bytes)
      return bytes.takeError();
    fp = fingerprint(*bytes);
  }
  const int64_t k = std::min<int64_t>(K - 1, std::llround(outlierFraction * double(K)));
  double bits = 0;
  for (int64_t e = 0; e < experts; ++e) {
    RoundingOptions o = base;
    o.outlierColumns = k;
    o.site = nullptr;
    if (stats) {
      o.site = stats->find(name, shape.size() == 3 ? e : -1);
      if (!o.site) {
        bool otherExperts = false;
        for (int64_t x = 0; x < experts && shape.size() == 3; ++x)
          otherExperts = otherExperts || stats->find(name, x);
        if (otherExperts)
          return fail("expert " + llvm::Twine(e) +
                      " was routed no calibration token, so there is nothing to weight its "
                      "rounding with: calibrate on more text");
        return fail("no calibration statistics for it (they were taken on another model)");
      }
      if (CalibrationStats::fingerprintOf(*o.site, name) != fp)
        return fail("the calibration statistics were taken on other values of this weight "
                    "(another model, or before a pass that rewrote it such as milm-rotate): "
                    "calibrate the model at the point of the pipeline where it is quantized");
    }
    llvm::Expected<RoundingResult> r = roundMatrix(values.data() + e * rows * K, rows, K, o);
    if (!r)
      return fail(llvm::toString(r.takeError()));
    RoundingReportRow row;
    row.weight = name.str();
    row.expert = shape.size() == 3 ? e : -1;
    row.scheme = base.scheme.name() + (base.gptq ? "+gptq" : base.clip ? "+clip" : "");
    row.outliers = k;
    row.columns = r->outliers;
    row.bits = outlierBits(base.scheme, rows, K, k);
    row.error = r->error;
    row.energy = r->energy;
    row.weighted = o.site != nullptr;
    report.push_back(row);
    bits += row.bits;
  }
  return bits / double(experts);
}

std::optional<mlir::milm::WeightFormat> storageFormatFor(const IntScheme &scheme, int64_t K) {
  using mlir::milm::WeightFormat;
  if (scheme.asym)
    // q4_1's blocks of 32 each carry their group's scale and minimum.
    return K % 32 == 0 && K % (scheme.group ? scheme.group : K) == 0
               ? std::optional(WeightFormat::q4_1)
               : std::nullopt;
  if (scheme.group == 0 && K % 256 == 0)
    return WeightFormat::q4_g256;
  if (scheme.group == 128 && K % 128 == 0)
    return WeightFormat::q4_g128;
  if (scheme.group == 64 && K % 64 == 0)
    return WeightFormat::q4_g64;
  if (scheme.group == 32 && K % 32 == 0)
    return WeightFormat::q4_0;
  return std::nullopt;
}

llvm::Expected<std::vector<uint8_t>> encodeRounded(llvm::StringRef weight, const IntScheme &scheme,
                                                   mlir::milm::WeightFormat format,
                                                   const float *values, int64_t rows, int64_t K,
                                                   llvm::ArrayRef<int64_t> zero) {
  const StorageFormat f = static_cast<StorageFormat>(format);
  if (f == StorageFormat::Q4_1 && !zero.empty())
    return llvm::createStringError("weight '" + weight +
                                   "': an asymmetric body has no exact zero for outlier columns");
  const uint64_t rowBytesOut = *rowBytes(f, uint64_t(K));
  std::vector<uint8_t> out(rowBytesOut * uint64_t(rows));
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t r = 0; r < rows; ++r) {
    std::copy(values + r * K, values + (r + 1) * K, row.begin());
    for (int64_t c : zero)
      row[size_t(c)] = 0.0f;
    uint8_t *dst = out.data() + uint64_t(r) * rowBytesOut;
    const bool ok = f == StorageFormat::Q4_1 ? encodeQ4_1Exact(row.data(), dst, K, scheme.group)
                                             : encodeQ4GroupsExact(f, row.data(), dst, K);
    if (!ok)
      return llvm::createStringError(
          "weight '" + weight + "': row " + llvm::Twine(r) + " is not on one " +
          mlir::milm::stringifyWeightFormat(format) + " grid per " +
          (f == StorageFormat::Q4_1 ? "group" : "block") +
          " after rounding (a bug in milm's rounding)");
  }
  return out;
}

llvm::Error writeRoundingReport(llvm::StringRef path, llvm::StringRef title,
                                std::vector<RoundingReportRow> rows) {
  std::stable_sort(rows.begin(), rows.end(),
                   [](const RoundingReportRow &a, const RoundingReportRow &b) { return a.error > b.error; });
  double total = 0;
  for (const RoundingReportRow &r : rows)
    total += r.error;
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "# " << title << "\n";
  os << "# error: squared error the rounding adds to the product's output per input row"
     << (rows.empty() || rows.front().weighted ? " (calibration-weighted)" : " (unweighted: no calibration)")
     << "; relative: error / the output's own energy; share: of the summed error\n";
  os << llvm::formatv("{0,-34} {1,6} {2,-16} {3,8} {4,6} {5,12} {6,10} {7,7}\n", "weight", "expert",
                      "scheme", "outliers", "bits", "error", "relative", "share");
  for (const RoundingReportRow &r : rows)
    os << llvm::formatv("{0,-34} {1,6} {2,-16} {3,8} {4,6:F3} {5,12:E3} {6,10:E3} {7,6:F2}%\n",
                        r.weight, r.expert < 0 ? std::string("-") : std::to_string(r.expert),
                        r.scheme, r.outliers, r.bits, r.error,
                        r.energy > 0 ? r.error / r.energy : 0.0,
                        total > 0 ? 100.0 * r.error / total : 0.0);
  if (path == "-") {
    llvm::outs() << text;
    return llvm::Error::success();
  }
  std::error_code ec;
  llvm::raw_fd_ostream out(path, ec, llvm::sys::fs::OF_Append);
  if (ec)
    return llvm::createStringError(path + ": cannot write the quantization report: " + ec.message());
  out << text;
  return llvm::Error::success();
}

} // namespace milm
