//===- GGUFImport.h - GGUF file -> ModelDescription -------------------------===//
//
// Turns a parsed GGUF file into the neutral ModelDescription: reads the config
// from `<arch>.*` keys, the tokenizer from `tokenizer.ggml.*`, references every
// tensor (absolute offset, format, row-major shape), and validates that the
// tensors are exactly the ones the config implies, with the shapes it implies.
//
// Supported architectures:
//   llama  dense, or Mixtral-style MoE when <arch>.expert_count > 0
//          (blk.N.ffn_gate_inp.weight, blk.N.ffn_{gate,up,down}_exps.weight);
//          rope pairing Norm (adjacent pairs).
//   qwen2  dense with q/k/v biases; rope pairing Neox (halves).
//
// Errors use GGUF.h's one-line format. Tensors the importer does not know are
// rejected, including `rope_freqs.weight` (llama 3.1 frequency factors: the
// description has no place for them, and ignoring them would silently change
// the numerics). A missing key is reported at the start of the metadata section
// (byte 24); a missing tensor at the start of the tensor-info section.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_FRONTENDS_GGUF_GGUFIMPORT_H
#define MILM_FRONTENDS_GGUF_GGUFIMPORT_H

#include "frontends/common/ModelDescription.h"
#include "frontends/gguf/GGUF.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

namespace milm {
namespace gguf {

/// Reads the tokenizer.ggml.* keys; std::nullopt when tokenizer.ggml.model is absent.
llvm::Expected<std::optional<TokenizerData>> importTokenizer(const GGUFFile &file);

} // namespace gguf

/// Opens, parses and imports `path`.
llvm::Expected<ModelDescription> importGGUF(llvm::StringRef path);
/// Imports an already parsed file; `path` is recorded as TensorRef::file and
/// ModelDescription::sourcePath.
llvm::Expected<ModelDescription> importGGUF(const gguf::GGUFFile &file,
                                            llvm::StringRef path);

} // namespace milm

#endif
