//===- MilmDialect.td - The milm dialect -------------------*- tablegen -*-===//
#ifndef MILM_DIALECT_TD
#define MILM_DIALECT_TD

include "mlir/IR/OpBase.td"

def Milm_Dialect : Dialect {
  let name = "milm";
  let cppNamespace = "::mlir::milm";
  let summary = "Decoder-only language models in the units their authors use";
  let description = [{
    The `milm` dialect expresses decoder-only transformer language models
    (LLaMA/Mistral, Qwen2, Mixtral-style mixture of experts) op for op, at the
    level where model authors and milm's model-level passes (pruning, rotation,
    quantization, outlier separation, MoE fusion) reason: embedding lookup,
    RMS normalisation, linear layers over weights of some storage format,
    rotary position embedding, grouped-query attention over a KV cache, SwiGLU,
    residual additions, mixture-of-experts blocks and the final logits.

    Conventions:

    * Activations are `f32` tensors of shape `[tokens, features]`; the token
      dimension is usually dynamic (`?`) so that one function serves batched
      prefill and single-token decode.
    * Weights never live in the IR. A `milm.weight` op *references* a weight by
      name, storage format and shape, and optionally by the file and byte
      offset that hold its bytes. Their type is `!milm.weight<...>`.
    * Weight shapes are row-major, outermost dimension first, as in PyTorch: a
      linear weight is `[out_features, in_features]`; the innermost dimension
      of a block-quantized weight is a multiple of its block size.
    * Head counts and the head dimension are always explicit attributes; they
      are never derived from the hidden size.
    * A model is a `milm.model` op carrying the model configuration and holding
      a `func.func @forward(%tokens, %positions, %cache) -> logits`.
  }];
  let useDefaultTypePrinterParser = 1;
  let useDefaultAttributePrinterParser = 1;
}

class Milm_Op<string mnemonic, list<Trait> traits = []>
    : Op<Milm_Dialect, mnemonic, traits>;

#endif // MILM_DIALECT_TD
