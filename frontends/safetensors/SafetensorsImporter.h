//===- SafetensorsImporter.h - HF checkpoint -> ModelDescription -----------===//
//
// importSafetensors() reads a Hugging Face checkpoint directory:
//   config.json                       architecture and sizes (HFModel.h)
//   model.safetensors                 the weights, or
//   model.safetensors.index.json      {"weight_map": {tensor: shard}} and the shards
//   tokenizer.json                    optional (HFTokenizer.h)
//   tokenizer_config.json             optional, read with tokenizer.json
// `path` is the directory or a file in it (config.json, a .safetensors file, the
// index). When the directory has an index it lists the weights; otherwise they are
// the .safetensors file named, or model.safetensors.
//
// What the description holds:
//   - tensors under canonical GGUF names (sourceName: the HF name), in shard order
//     then data order; rotary_emb.inv_freq buffers are skipped;
//   - Mixtral's per-expert matrices become one stacked tensor per layer and kind
//     (blk.N.ffn_{gate,up,down}_exps.weight, shape [experts, out, in]) whose
//     `parts` are the experts' tensors in expert order (see TensorRef::parts);
//   - rope pairing Neox (HF keeps q/k in the rotate_half layout);
//   - a checkpoint that ties embeddings but still stores lm_head.weight is read as
//     untied (the stored copy is used; it equals the embedding);
//   - the tokenizer's bos/eos come from config.json's bos_token_id/eos_token_id,
//     else from tokenizer_config.json; the token list is padded to vocab_size with
//     "[PAD<id>]" tokens of type UNUSED, as GGUF converters do; the pre-tokenizer
//     is named by architecture for byte-level BPE ("qwen2", otherwise "llama-bpe").
// The result has passed validateModel().
//
//===----------------------------------------------------------------------===//
#ifndef MILM_FRONTENDS_SAFETENSORS_SAFETENSORSIMPORTER_H
#define MILM_FRONTENDS_SAFETENSORS_SAFETENSORSIMPORTER_H

#include "frontends/common/ModelDescription.h"

#include "llvm/Support/Error.h"

namespace milm {

llvm::Expected<ModelDescription> importSafetensors(llvm::StringRef path);

} // namespace milm

#endif
