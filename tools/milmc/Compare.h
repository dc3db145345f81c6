//===- Compare.h - milmc compare: two compiled models on one text -*- C++ -*-===//
//
// Runs two compiled models (milmc compile output folders) over the same text
// with `milm-run --perplexity TEXT --logits-out -` and reads both logits
// streams side by side: the perplexity of each, KL(A || B) per scored token
// (mean with its standard error, median, 99th percentile, max) and how often
// the two agree on the most likely token. The method is common/milm/quality.h's.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_TOOLS_MILMC_COMPARE_H
#define MILM_TOOLS_MILMC_COMPARE_H

#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <string>

namespace milm {

struct CompareOptions {
  std::string a, b;    // compiled model folders (or their milm-run)
  std::string text;    // the text both read
  int64_t window = 0;  // -c (0: milm-run's default)
  int64_t chunks = 0;  // --chunks (0: all)
  int64_t threads = 0; // -t for each model (0: milm-run's default)
  bool json = false;   // one JSON object instead of the table
};

struct CompareResult {
  int32_t window = 0, windows = 0;
  int64_t scored = 0;
  double pplA = 0, pplAErr = 0, pplB = 0, pplBErr = 0;
  double klMean = 0, klMeanErr = 0, klMedian = 0, klP99 = 0, klMax = 0;
  double top1 = 0; ///< fraction of scored tokens whose most likely token agrees
};

/// Runs both models over the text. Errors are one line.
llvm::Expected<CompareResult> runComparison(const CompareOptions &opts);

/// runComparison, then the table (or JSON) to `out`.
llvm::Error compareModels(const CompareOptions &opts, llvm::raw_ostream &out);

} // namespace milm

#endif
