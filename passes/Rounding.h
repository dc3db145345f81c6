//===- Rounding.h - How a matrix is rounded to a 4-bit integer scheme -*- C++ -*-===//
//
// The 4-bit integer schemes of milm-quantize and milm-split-outliers:
// `w4-channel` (one f16 scale per output row, symmetric, codes -8..7: the
// standard mobile-NPU weight scheme) and `w4-gG` (one scale per G values of
// a row, G in 32, 64, 128), each also `-asym` (an f16 scale and minimum,
// codes 0..15). A matrix is rounded row by row in one of three ways:
//   - round to nearest (RTN) with the scale from the extreme value;
//   - with `clip`, each scale chosen among 1.0, 0.95, ... 0.75 times the
//     extreme's by the smallest squared error, weighted by the calibration's
//     mean squared input per channel when there is one;
//   - GPTQ (Frantar et al. 2022): columns rounded one after another, each
//     one's error spread over the columns not yet rounded through the
//     Cholesky factor of the inverse of the damped input second moment H
//     (calibration matrices needed); per-channel rows in act-order (columns
//     by decreasing H_jj).
// With `outlierColumns` = k, the k input columns with the largest
// calibration-weighted error (OWQ: H_jj times the column's squared RTN error,
// picked in four rounds, the scales recomputed without the columns already
// picked) are kept in f16 and left out of the scales; under GPTQ they come
// last, so they absorb the error of all the others at no cost.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_PASSES_ROUNDING_H
#define MILM_PASSES_ROUNDING_H

#include "passes/Calibration.h"

#include "dialects/milm/MilmDialect.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace milm {

/// Set by milm-split-outliers on the milm.weight ops it rounded: the scheme
/// (e.g. "w4-channel+gptq, 10 f16 columns") and the bits a weight takes.
/// milm-quantize leaves such weights as they are.
inline constexpr llvm::StringLiteral kRoundedSchemeAttr = "milm.scheme";
inline constexpr llvm::StringLiteral kRoundedBitsAttr = "milm.bits";

struct IntScheme {
  int64_t group = 0; ///< 0: the whole row
  bool asym = false;
  /// Bits a weight takes: 4, plus an f16 scale (and an f16 minimum when
  /// asymmetric) per group.
  double bits(int64_t K) const {
    const double g = static_cast<double>(group ? group : K);
    return 4.0 + (asym ? 32.0 : 16.0) / g;
  }
  std::string name() const;
};

/// "w4-channel", "w4-g32", "w4-g64", "w4-g128", each also "-asym"; nullopt otherwise.
std::optional<IntScheme> parseIntScheme(llvm::StringRef name);

/// The storage format that holds a K-column matrix rounded to `scheme`
/// exactly: w4-channel in q4_g256 (one scale per row, repeated in each
/// 256-block), w4-g128 in q4_g128, w4-g64 in q4_g64, w4-g32 in q4_0; the
/// asymmetric schemes in q4_1 (each 32-value block carries its group's scale
/// and minimum: exact, at q4_1's 5 bits a weight); nullopt for a K the
/// blocks do not divide, which stays simulated (its values stored as f32).
std::optional<mlir::milm::WeightFormat> storageFormatFor(const IntScheme &scheme, int64_t K);

/// Encodes `values` (rows x K, rounded to `scheme`, for which
/// storageFormatFor gave `format`) into `format`'s bytes, with the columns
/// `zero` stored as zeros (the outliers, kept elsewhere; symmetric schemes
/// only: an asymmetric grid need not hold 0). An error names `weight` when a
/// block's values are not on one grid (a bug in the rounding).
llvm::Expected<std::vector<uint8_t>> encodeRounded(llvm::StringRef weight, const IntScheme &scheme,
                                                   mlir::milm::WeightFormat format,
                                                   const float *values, int64_t rows, int64_t K,
                                                   llvm::ArrayRef<int64_t> zero = {});

struct RoundingOptions {
  IntScheme scheme;
  const CalibrationSite *site = nullptr; ///< statistics of the matrix's input (may be null)
  bool clip = false;
  bool gptq = false;
  double damp = 0.01;          ///< GPTQ: added to H's diagonal, times its mean
  int64_t outlierColumns = 0;  ///< input columns kept in f16
  unsigned threads = 1;
};

struct RoundingResult {
  std::vector<int64_t> outliers; ///< the columns kept in f16, ascending
  /// Squared error the rounding adds to the product's output, summed over
  /// its rows, per input row: sum_r dW_r H dW_r^T / n with H the second
  /// moment (its diagonal when the site has no matrix; the identity without
  /// a site). `energy` is the same of W itself, so error/energy is the
  /// relative output error.
  double error = 0, energy = 0;
};

/// Rounds `W` (rows x K, row-major) in place to the values the scheme
/// stores. GPTQ without a second-moment matrix, or `outlierColumns` of K or
/// more, is an error.
llvm::Expected<RoundingResult> roundMatrix(float *W, int64_t rows, int64_t K,
                                           const RoundingOptions &options);

/// Bits a weight of a K-column matrix takes under `scheme` with k f16
/// outlier columns (the body keeps all K columns, zero where an outlier is;
/// each outlier column costs its f16 values and a 32-bit index).
double outlierBits(const IntScheme &scheme, int64_t rows, int64_t K, int64_t k);

/// One line of a quantization report: what rounding one weight (one expert
/// of it) cost at its product's output.
struct RoundingReportRow {
  std::string weight;
  int64_t expert = -1;
  std::string scheme;
  int64_t outliers = 0;
  std::vector<int64_t> columns; ///< the outlier columns, ascending
  double bits = 0;
  double error = 0, energy = 0; ///< RoundingResult's
  bool weighted = false;        ///< by calibration statistics (else unweighted)
};

/// Rounds the values of weight `op` (a matrix, or stacked experts each
/// rounded with its own statistics) in place under `base`, keeping
/// round(outlierFraction * K) columns in f16, and appends a report row per
/// matrix. With `stats`, every matrix must have its site there and the site
/// must have been measured on this weight's bytes (its fingerprint). Returns
/// the bits a weight takes.
llvm::Expected<double> roundWeight(mlir::milm::WeightOp op, std::vector<float> &values,
                                   const RoundingOptions &base, const CalibrationStats *stats,
                                   double outlierFraction, std::vector<RoundingReportRow> &report);

/// Writes the rows as a table, largest error first, with each row's share of
/// the summed error: appended to `path` ("-": stdout), so that the passes of
/// one pipeline add their tables to one report.
llvm::Error writeRoundingReport(llvm::StringRef path, llvm::StringRef title,
                                std::vector<RoundingReportRow> rows);

} // namespace milm

#endif
