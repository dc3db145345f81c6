//===- MilmAttrs.td - milm enums and attributes ------------*- tablegen -*-===//
#ifndef MILM_ATTRS_TD
#define MILM_ATTRS_TD

include "MilmDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

//===----------------------------------------------------------------------===//
// Storage formats
//===----------------------------------------------------------------------===//

// Case values are GGUF's ggml_type numbers (milm's own formats from 0x80 on), so that a GGUF tensor type maps
// one to one. The formats are defined once, in common/milm/formats.h; ODS cannot
// read it, so the cases are listed again here and MilmDialect.cpp fails the
// build when the two disagree. milm's packed layouts (codes 0x100 + the base
// format's) exist only after the CPU lowering, never as a WeightFormat.
def Milm_WeightFormat : I32EnumAttr<"WeightFormat",
    "how the elements of a weight are stored", [
  I32EnumAttrCase<"f32", 0>,
  I32EnumAttrCase<"f16", 1>,
  I32EnumAttrCase<"q4_0", 2>,
  I32EnumAttrCase<"q4_1", 3>,
  I32EnumAttrCase<"q5_0", 6>,
  I32EnumAttrCase<"q5_1", 7>,
  I32EnumAttrCase<"q8_0", 8>,
  I32EnumAttrCase<"q4_k", 12>,
  I32EnumAttrCase<"q5_k", 13>,
  I32EnumAttrCase<"q6_k", 14>,
  I32EnumAttrCase<"bf16", 30>,
  I32EnumAttrCase<"q4_g128", 128>,
  I32EnumAttrCase<"q4_g256", 129>,
  I32EnumAttrCase<"q4_g64", 130>,
]> {
  let cppNamespace = "::mlir::milm";
  let genSpecializedAttr = 0;
}

//===----------------------------------------------------------------------===//
// Rotary position embedding
//===----------------------------------------------------------------------===//

def Milm_RopePairing : I32EnumAttr<"RopePairing",
    "which elements of a head are rotated together", [
  I32EnumAttrCase<"norm", 0>,
  I32EnumAttrCase<"neox", 1>,
]> {
  let cppNamespace = "::mlir::milm";
  let genSpecializedAttr = 0;
}
def Milm_RopePairingAttr : EnumAttr<Milm_Dialect, Milm_RopePairing, "rope_pairing"> {
  let summary = "rotary pairing: `norm` rotates adjacent pairs (2i, 2i+1), "
                "`neox` rotates halves (i, i + rotary_dim/2)";
  let assemblyFormat = "`<` $value `>`";
}

def Milm_RopeScaling : I32EnumAttr<"RopeScaling",
    "how rotary frequencies are stretched to a longer context", [
  I32EnumAttrCase<"none", 0>,
  I32EnumAttrCase<"linear", 1>,
  I32EnumAttrCase<"ntk", 2>,
  I32EnumAttrCase<"yarn", 3>,
]> {
  let cppNamespace = "::mlir::milm";
  let genSpecializedAttr = 0;
}
def Milm_RopeScalingAttr : EnumAttr<Milm_Dialect, Milm_RopeScaling, "rope_scaling"> {
  let summary = "rotary frequency scaling: `none`, `linear` (positions divided "
                "by the factor), `ntk` (base raised by factor^(d/(d-2))), `yarn` "
                "(NTK-by-parts interpolation with attention temperature)";
  let assemblyFormat = "`<` $value `>`";
}

//===----------------------------------------------------------------------===//
// Attention masks and MoE weighting
//===----------------------------------------------------------------------===//

def Milm_AttentionMask : I32EnumAttr<"AttentionMask",
    "which keys each query may attend to", [
  I32EnumAttrCase<"causal", 0>,
  I32EnumAttrCase<"tree", 1>,
]> {
  let cppNamespace = "::mlir::milm";
  let genSpecializedAttr = 0;
}
def Milm_AttentionMaskAttr : EnumAttr<Milm_Dialect, Milm_AttentionMask, "mask"> {
  let summary = "`causal`: a query at position p sees every cached key at "
                "positions <= p; `tree`: it sees the cached prefix before the "
                "new tokens plus the new tokens its explicit mask row allows";
  let assemblyFormat = "`<` $value `>`";
}

def Milm_MoEWeighting : I32EnumAttr<"MoEWeighting",
    "how the selected experts' outputs are weighted", [
  I32EnumAttrCase<"topk_softmax", 0>,
  I32EnumAttrCase<"softmax_topk", 1>,
  I32EnumAttrCase<"softmax_topk_norm", 2>,
]> {
  let cppNamespace = "::mlir::milm";
  let genSpecializedAttr = 0;
}
def Milm_MoEWeightingAttr : EnumAttr<Milm_Dialect, Milm_MoEWeighting, "moe_weighting"> {
  let summary = "`topk_softmax`: softmax over the top-k router logits "
                "(Mixtral); `softmax_topk`: softmax over all experts, then the "
                "top-k probabilities as they are; `softmax_topk_norm`: the same, "
                "renormalised to sum to one";
  let assemblyFormat = "`<` $value `>`";
}

//===----------------------------------------------------------------------===//
// Model configuration
//===----------------------------------------------------------------------===//

// A per-layer size list, printed `[a, b, ...]`; absent (empty) when every
// layer has the scalar.
class Milm_LayerSizes<string desc> : OptionalArrayRefParameter<"int64_t", desc> {
  let parser = [{ ::mlir::milm::parseLayerSizes($_parser) }];
  let printer = [{ ::mlir::milm::printLayerSizes($_printer, $_self) }];
}

def Milm_ModelConfigAttr : AttrDef<Milm_Dialect, "ModelConfig"> {
  let mnemonic = "config";
  let summary = "the configuration of a decoder-only language model";
  let description = [{
    Everything a later stage needs to know about a model that is not an op:
    the architecture name, vocabulary, context length, layer shapes, head
    counts (explicit, never derived), expert counts for MoE models, special
    token ids, and where the tokenizer comes from.

    Layers may differ in their head counts and FFN widths (a structurally
    pruned model, `milm-prune-transact`): then `layer_heads`,
    `layer_kv_heads` and `layer_ffn` hold one entry per layer and the scalars
    `num_heads`, `num_kv_heads` and `ffn_size` are their largest entries.

    ```mlir
    #milm.config<arch = "llama", vocab_size = 512, context_length = 512,
                 hidden_size = 256, num_layers = 2, num_heads = 8,
                 num_kv_heads = 2, head_dim = 32, ffn_size = 512,
                 bos_token = 1, eos_token = 2>
    ```
  }];
  let parameters = (ins
    StringRefParameter<"architecture name, e.g. \"llama\" or \"qwen2\"">:$arch,
    "int64_t":$vocab_size,
    "int64_t":$context_length,
    "int64_t":$hidden_size,
    "int64_t":$num_layers,
    "int64_t":$num_heads,
    "int64_t":$num_kv_heads,
    "int64_t":$head_dim,
    "int64_t":$ffn_size,
    DefaultValuedParameter<"int64_t", "0", "experts per MoE layer (0: dense)">:$num_experts,
    DefaultValuedParameter<"int64_t", "0", "experts used per token">:$experts_used,
    DefaultValuedParameter<"int64_t", "-1", "beginning-of-sequence token id">:$bos_token,
    DefaultValuedParameter<"int64_t", "-1", "end-of-sequence token id">:$eos_token,
    DefaultValuedParameter<"bool", "false", "logits reuse the embedding table">:$tied_embeddings,
    StringRefParameter<"tokenizer kind: \"llama\" (SentencePiece BPE), \"gpt2\" (byte-level BPE)", "\"\"">:$tokenizer,
    StringRefParameter<"file the tokenizer data is read from", "\"\"">:$tokenizer_source,
    StringRefParameter<"the model's own name", "\"\"">:$name,
    Milm_LayerSizes<"per-layer query heads (empty: num_heads in every layer)">:$layer_heads,
    Milm_LayerSizes<"per-layer KV heads (empty: num_kv_heads in every layer)">:$layer_kv_heads,
    Milm_LayerSizes<"per-layer FFN widths (empty: ffn_size in every layer)">:$layer_ffn
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Layer `layer`'s query heads, KV heads and FFN width (the per-layer
    /// arrays when present, else the scalars).
    int64_t headsAt(int64_t layer) const;
    int64_t kvHeadsAt(int64_t layer) const;
    int64_t ffnAt(int64_t layer) const;
    /// Whether any layer differs from another (the arrays are present).
    bool hasLayerShapes() const;
    /// This config with the per-layer arrays replaced (empty: uniform) and
    /// the scalars set to their largest entries.
    ModelConfigAttr withLayerShapes(::llvm::ArrayRef<int64_t> heads,
                                    ::llvm::ArrayRef<int64_t> kvHeads,
                                    ::llvm::ArrayRef<int64_t> ffn) const;
    /// This config with `tied_embeddings` set.
    ModelConfigAttr withTiedEmbeddings(bool tied) const;
  }];
}

#endif // MILM_ATTRS_TD
