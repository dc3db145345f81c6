//===- Calibration.h - What every product of a model reads, measured -*- C++ -*-===//
//
// milm-calibrate runs a model on calibration text (passes/Interpreter.h) and
// records, for every input of a matrix product, per-channel statistics: the
// sum of squares and the largest magnitude of each input channel and, when
// asked, the whole second-moment matrix sum_t x_t x_t^T (what GPTQ needs).
// The quantization passes read them (milm-quantize's `calibration`,
// milm-split-outliers).
//
// Statistics belong to the weights as they were when measured: each site
// records a fingerprint of every weight that reads it (FNV-1a of its bytes),
// and a pass refuses statistics whose fingerprint differs from the weight it
// is about to quantize (calibrated before milm-rotate, used after it, or on
// another model).
//
// The file (little-endian):
//   "MILMCALI", u32 version (1), u32 0, u64 tokens, u64 windows, u32 sites,
//   then per site: u32 weights, per weight (u32 length, name bytes, u64
//   fingerprint), i64 expert (-1: dense), u64 K, u64 rows, u32 has-matrix,
//   f64 sumsq[K], f64 maxabs[K], and f32 matrix[K*K] when it has one;
//   then u64 FNV-1a of every byte before it.
// A truncated, corrupted or foreign file is an error naming the file and
// what is wrong, never a crash.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_PASSES_CALIBRATION_H
#define MILM_PASSES_CALIBRATION_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace milm {

inline constexpr char kCalibrationMagic[8] = {'M', 'I', 'L', 'M', 'C', 'A', 'L', 'I'};
inline constexpr uint32_t kCalibrationVersion = 1;

/// FNV-1a, 64 bits.
uint64_t fingerprint(llvm::ArrayRef<uint8_t> bytes);

/// The input of one group of products (one weight, or several reading the
/// same value: q/k/v, gate/up), or of one expert of them.
struct CalibrationSite {
  std::vector<std::string> weights;
  std::vector<uint64_t> fingerprints; ///< one per weight
  int64_t expert = -1;
  int64_t K = 0;      ///< input channels
  uint64_t rows = 0;  ///< input rows seen (tokens; for an expert, the tokens routed to it)
  std::vector<double> sumSq, maxAbs; ///< K each
  std::vector<double> matrix;        ///< K*K, sum of x x^T over rows; empty when not recorded

  /// Mean of x_i^2 over the rows (0 when none were seen).
  double meanSq(int64_t i) const { return rows ? sumSq[size_t(i)] / double(rows) : 0.0; }
  /// Adds `n` rows of K values.
  void add(const double *x, int64_t n, unsigned threads);
};

struct CalibrationStats {
  uint64_t tokens = 0, windows = 0;
  std::vector<CalibrationSite> sites;

  /// The site that weight `name` (expert `expert`, -1 for a dense weight) reads; null if none.
  const CalibrationSite *find(llvm::StringRef name, int64_t expert = -1) const;
  /// The fingerprint recorded for `name` at `site`.
  static uint64_t fingerprintOf(const CalibrationSite &site, llvm::StringRef name);

  llvm::Error write(llvm::StringRef path) const;
  static llvm::Expected<CalibrationStats> read(llvm::StringRef path);
};

/// Reads token ids separated by spaces and newlines (what milm-calibrate
/// reads; `milmc calibrate` writes them from a text). Errors name the line.
llvm::Expected<std::vector<int32_t>> readTokenIds(llvm::StringRef path);
/// Writes ids as readTokenIds reads them, 32 a line.
llvm::Error writeTokenIds(llvm::StringRef path, llvm::ArrayRef<int32_t> ids);

} // namespace milm

#endif
