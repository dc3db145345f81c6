//===- Compile.h - milmc compile ----------------------------------*- C++ -*-===//
#ifndef MILM_TOOLS_MILMC_COMPILE_H
#define MILM_TOOLS_MILMC_COMPILE_H

#include "llvm/Support/Error.h"

#include <string>

namespace milm {

struct CompileOptions {
  std::string model;        ///< GGUF file or Hugging Face checkpoint
  std::string outDir;       ///< receives model.milm, model.o and milm-run (and draft.milm, draft.o)
  std::string target = "host";
  std::string cpu;          ///< empty: the target's default
  int64_t maxTokens = 64;   ///< tokens per milm_forward call (prefill chunk)
  int64_t kvCacheSize = 0;  ///< 0: the model's context length
  bool verbose = false;     ///< per-stage timings
  bool embedWeights = false; ///< link model.milm into milm-run; OUT/ gets no model.milm
  /// "exe": milm-run and its weights; "package": also what a device team
  /// links into its own program (tools/milmc/Package.h).
  std::string emit = "exe";
  bool repack = true;        ///< repack weights into the target kernels' layouts (q4_0x8 on x86-64)
  std::string quantize;      ///< milm-quantize's format ("": keep the model's formats)
  bool quantizePure = false; ///< milm-quantize's `pure`
  bool rotate = false;       ///< milm-rotate before milm-quantize
  /// A draft model for speculative decoding, compiled for the same target
  /// into the same milm-run (symbols milm_draft_*) and OUT/draft.milm; its
  /// tokenizer must be the model's. draftQuantize: milm-quantize's format for
  /// it (self-speculation: the model itself, quantized harder).
  std::string draft;
  std::string draftQuantize;
  bool draftQuantizePure = false;
  /// The quality gate: when >= 0, the compiled model and the model compiled
  /// without the model pipeline read evalText (milmc compare's method); a mean
  /// KL(reference || compiled) above maxKL fails the compile, and nothing is
  /// written to outDir.
  double maxKL = -1;
  std::string evalText;
  int64_t evalChunks = 0;    ///< windows of evalText to score (0: all)
};

/// Import, lower, generate code, write the artifact and link the executable.
llvm::Error compileModel(const CompileOptions &opts);

} // namespace milm

#endif
