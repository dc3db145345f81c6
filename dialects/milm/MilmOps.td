//===- MilmOps.td - milm operations ------------------------*- tablegen -*-===//
#ifndef MILM_OPS_TD
#define MILM_OPS_TD

include "MilmTypes.td"
include "mlir/IR/OpBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/RegionKindInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

def Milm_Activation : TensorRankOf<[F32], [2]>;
def Milm_TokenIds : TensorRankOf<[I32, I64], [1]>;
def Milm_Weight : Type<CPred<"::llvm::isa<::mlir::milm::WeightType>($_self)">,
                       "milm weight", "::mlir::milm::WeightType">;
def Milm_KVCache : Type<CPred<"::llvm::isa<::mlir::milm::KVCacheType>($_self)">,
                        "milm KV cache", "::mlir::milm::KVCacheType">;
def Milm_PositiveI64 : ConfinedAttr<I64Attr, [IntPositive]>;

//===----------------------------------------------------------------------===//
// Model container
//===----------------------------------------------------------------------===//

def Milm_ModelOp : Milm_Op<"model", [
    SymbolTable, Symbol, NoTerminator, SingleBlock, IsolatedFromAbove,
    NoRegionArguments]> {
  let summary = "a language model: its configuration and its functions";
  let description = [{
    The top-level container of one model. It carries the model configuration
    (`#milm.config`) and holds the model's functions, by convention a
    `func.func @forward(%tokens: tensor<?xi32>, %positions: tensor<?xi32>,
    %cache: !milm.kv_cache<...>) -> tensor<?xVxf32>` that evaluates a run of
    tokens at the given positions, appends their keys and values to the cache
    and returns one row of logits per token.

    The verifier checks the configuration against the ops inside: attention
    head counts and head dimension, KV cache shape, vocabulary size of the
    embedding and logits, and the expert counts of MoE ops.

    ```mlir
    milm.model @tiny #milm.config<arch = "llama", vocab_size = 512, ...> {
      func.func @forward(...) -> tensor<?x512xf32> { ... }
    }
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, Milm_ModelConfigAttr:$config);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$sym_name qualified($config) attr-dict-with-keyword $body";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Weights
//===----------------------------------------------------------------------===//

def Milm_WeightOp : Milm_Op<"weight", [Pure]> {
  let summary = "references a weight by name, without holding its bytes";
  let description = [{
    Produces a reference to the weight `name` with the shape and storage
    format of its `!milm.weight` type. The bytes are not in the IR: when the
    weight comes from a model file, `file` and `offset` say where its first
    byte is; the size follows from the type. A weight stacked from slices
    that are not contiguous in their files (Mixtral experts kept as one
    tensor per expert in safetensors) lists one file and offset per slice of
    its outermost dimension instead, after `stacked`. Passes that transform
    weights write the result to a weight store and reference it the same way.

    ```mlir
    %wq = milm.weight "blk.0.attn_q.weight" from "model.gguf" at 1056
        : !milm.weight<256x256xq4_0>
    %n = milm.weight "output_norm.weight" : !milm.weight<256xf32>
    %e = milm.weight "blk.0.ffn_up_exps.weight"
        stacked from ["a.safetensors", "a.safetensors"] at [4096, 266240]
        : !milm.weight<2x512x256xf16>
    ```
  }];
  let arguments = (ins StrAttr:$name, OptionalAttr<StrAttr>:$file,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$offset,
                       OptionalAttr<StrArrayAttr>:$part_files,
                       OptionalAttr<DenseI64ArrayAttr>:$part_offsets);
  let results = (outs Milm_Weight:$result);
  let assemblyFormat = [{
    $name (`from` $file^ `at` $offset)?
    (`stacked` `from` $part_files^ `at` $part_offsets)?
    attr-dict `:` qualified(type($result))
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Layers
//===----------------------------------------------------------------------===//

def Milm_EmbeddingOp : Milm_Op<"embedding", [Pure]> {
  let summary = "looks up token ids in an embedding table";
  let description = [{
    Row `tokens[t]` of `table` (shape `[vocab, hidden]`, any storage format),
    converted to `f32`, becomes row `t` of the result `[tokens, hidden]`.

    ```mlir
    %x = milm.embedding %table, %tokens
        : (!milm.weight<512x256xq8_0>, tensor<?xi32>) -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins Milm_Weight:$table, Milm_TokenIds:$tokens);
  let results = (outs Milm_Activation:$result);
  let assemblyFormat = "$table `,` $tokens attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Milm_RMSNormOp : Milm_Op<"rms_norm", [Pure]> {
  let summary = "root-mean-square normalisation with a learned scale";
  let description = [{
    For each row `x` of `input`: `x / sqrt(mean(x^2) + eps) * weight`. The
    weight has shape `[features]`.

    ```mlir
    %h = milm.rms_norm %x, %w {eps = 1.0e-05 : f64}
        : (tensor<?x256xf32>, !milm.weight<256xf32>) -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins Milm_Activation:$input, Milm_Weight:$weight, F64Attr:$eps);
  let results = (outs Milm_Activation:$result);
  let assemblyFormat = "$input `,` $weight attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Milm_LinearOp : Milm_Op<"linear", [Pure]> {
  let summary = "a linear layer: input times the transposed weight, plus bias";
  let description = [{
    `result[t, o] = sum_i input[t, i] * weight[o, i] (+ bias[o])`, with
    `weight` of shape `[out, in]` in any storage format (computed on in that
    format, never expanded in memory) and an optional `bias` of shape `[out]`
    (Qwen2's q/k/v projections have one).

    ```mlir
    %q = milm.linear %h, %wq, %bq
        : (tensor<?x256xf32>, !milm.weight<256x256xq4_0>, !milm.weight<256xf32>)
        -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins Milm_Activation:$input, Milm_Weight:$weight,
                       Optional<Milm_Weight>:$bias);
  let results = (outs Milm_Activation:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Milm_RopeOp : Milm_Op<"rope", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "rotary position embedding of every head of a projection";
  let description = [{
    `input` has shape `[tokens, heads * head_dim]`. In each head, the first
    `rotary_dim` values (all of them unless `rotary_dim` is given) are rotated
    in pairs by angle `position * theta_i`, `theta_i = base^(-2i/rotary_dim)`.
    `pairing` says which values form a pair: `norm` pairs adjacent values
    `(2i, 2i+1)` (LLaMA weights in GGUF), `neox` pairs halves
    `(i, i + rotary_dim/2)` (Hugging Face checkpoints, Qwen2). `scaling`
    stretches the frequencies for long contexts: `linear` divides positions by
    `factor`; `ntk` scales the base; `yarn` interpolates by parts between the
    `original_context` and `factor` times it.

    ```mlir
    %qr = milm.rope %q, %pos {head_dim = 32 : i64,
                              pairing = #milm.rope_pairing<norm>,
                              base = 1.0e+04 : f64}
        : (tensor<?x256xf32>, tensor<?xi32>) -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins Milm_Activation:$input, Milm_TokenIds:$positions,
      Milm_PositiveI64:$head_dim,
      Milm_RopePairingAttr:$pairing,
      F64Attr:$base,
      DefaultValuedAttr<Milm_RopeScalingAttr, "::mlir::milm::RopeScaling::none">:$scaling,
      OptionalAttr<F64Attr>:$factor,
      OptionalAttr<Milm_PositiveI64>:$original_context,
      OptionalAttr<Milm_PositiveI64>:$rotary_dim);
  let results = (outs Milm_Activation:$result);
  let assemblyFormat = "$input `,` $positions attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Milm_AttentionOp : Milm_Op<"attention"> {
  let summary = "grouped-query attention that reads and appends a KV cache";
  let description = [{
    Multi-head attention with `num_heads` query heads sharing `num_kv_heads`
    key/value heads (`num_heads` a multiple of `num_kv_heads`; equal for plain
    multi-head attention), each of `head_dim` values, given explicitly.

    `q` is `[tokens, num_heads * head_dim]`, `k` and `v` are
    `[tokens, num_kv_heads * head_dim]` (rotary embedding already applied to
    `q` and `k`). The op first writes `k` and `v` into layer `layer` of
    `cache` at `positions`, then, for each query, attends over the cached
    keys and values it may see: with `mask = causal`, every position up to
    its own; with `mask = tree`, the cached prefix before the first new
    position plus the new tokens whose entry in its row of the explicit
    `tree_mask` (`[tokens, tokens]`, `i1`) is true, as speculative decoding
    with a token tree needs. Scores are scaled by `scale` (default
    `1/sqrt(head_dim)`). The result is `[tokens, num_heads * head_dim]`.

    ```mlir
    %a = milm.attention %q, %k, %v, %cache, %pos {layer = 0 : i64,
            num_heads = 8 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64}
        : (tensor<?x256xf32>, tensor<?x64xf32>, tensor<?x64xf32>,
           !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32,
                          capacity = 512, element = f16>, tensor<?xi32>)
        -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins Milm_Activation:$q, Milm_Activation:$k, Milm_Activation:$v,
      Arg<Milm_KVCache, "the KV cache", [MemRead, MemWrite]>:$cache,
      Milm_TokenIds:$positions,
      Optional<TensorRankOf<[I1], [2]>>:$tree_mask,
      ConfinedAttr<I64Attr, [IntNonNegative]>:$layer,
      Milm_PositiveI64:$num_heads,
      Milm_PositiveI64:$num_kv_heads,
      Milm_PositiveI64:$head_dim,
      DefaultValuedAttr<Milm_AttentionMaskAttr, "::mlir::milm::AttentionMask::causal">:$mask,
      OptionalAttr<F64Attr>:$scale);
  let results = (outs Milm_Activation:$result);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $cache `,` $positions (`tree_mask` `(` $tree_mask^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Milm_SwiGLUOp : Milm_Op<"swiglu", [Pure, AllTypesMatch<["gate", "up", "result"]>]> {
  let summary = "SwiGLU gating: silu(gate) * up";
  let description = [{
    Elementwise `gate * sigmoid(gate) * up`, the gated activation of
    LLaMA-style feed-forward blocks (also called silu-mul).

    ```mlir
    %m = milm.swiglu %g, %u : (tensor<?x512xf32>, tensor<?x512xf32>) -> tensor<?x512xf32>
    ```
  }];
  let arguments = (ins Milm_Activation:$gate, Milm_Activation:$up);
  let results = (outs Milm_Activation:$result);
  let assemblyFormat = "$gate `,` $up attr-dict `:` functional-type(operands, results)";
}

def Milm_HadamardOp : Milm_Op<"hadamard", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "an online Walsh-Hadamard transform of each row, block by block";
  let description = [{
    Multiplies each row of `input` (`[tokens, N]`) by `I (x) H_b / sqrt(b)`:
    every run of `block` values (a power of two that divides N) is
    transformed by the normalised Sylvester Hadamard matrix of order `block`,
    which is orthogonal and its own inverse. milm-rotate puts it before a
    product whose input it rotates and multiplies the product's weight by
    the same matrix on its input side (QuaRot's online rotation of
    down_proj's input), so the model computes the same function while the
    weight and the activations it multiplies are spread evenly. A fast
    transform: `block * log2(block)` additions per run.

    ```mlir
    %h = milm.hadamard %m {block = 256 : i64}
        : (tensor<?x1280xf32>) -> tensor<?x1280xf32>
    ```
  }];
  let arguments = (ins Milm_Activation:$input, Milm_PositiveI64:$block);
  let results = (outs Milm_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Milm_OutlierColumnsOp : Milm_Op<"outlier_columns", [Pure, AllTypesMatch<["partial", "result"]>]> {
  let summary = "adds the product of a few input columns kept at higher precision";
  let description = [{
    `result[t, o] = partial[t, o] + sum_j input[t, columns[j]] * side[o, j]`,
    with `side` of shape `[out, k]` (`k` = the number of columns, ascending
    and distinct, each below the input's width) in f16. With `partial` the
    result of a `milm.linear` of the same input whose weight is zero in
    those columns, the pair is the "4-bit body + f16 outlier columns"
    storage of milm-split-outliers: the body in a 4-bit format, the input
    channels that cost the most error kept apart at 16 bits.

    ```mlir
    %b = milm.linear %h, %body
        : (tensor<?x512xf32>, !milm.weight<1280x512xq4_g256>) -> tensor<?x1280xf32>
    %y = milm.outlier_columns %b, %h, %side {columns = array<i64: 7, 300>}
        : (tensor<?x1280xf32>, tensor<?x512xf32>, !milm.weight<1280x2xf16>)
        -> tensor<?x1280xf32>
    ```
  }];
  let arguments = (ins Milm_Activation:$partial, Milm_Activation:$input, Milm_Weight:$side,
                       DenseI64ArrayAttr:$columns);
  let results = (outs Milm_Activation:$result);
  let assemblyFormat = [{
    $partial `,` $input `,` $side attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Milm_ColumnsOp : Milm_Op<"columns", [Pure]> {
  let summary = "consecutive columns of an activation";
  let description = [{
    `result[t, j] = input[t, offset + j]` for `j < size`: one part of a
    product over concatenated output rows (milm-fuse-qkv's q, k and v of one
    fused q/k/v product, milm-fuse-gate-up's gate and up).

    ```mlir
    %qkv = milm.linear %h, %wqkv
        : (tensor<?x512xf32>, !milm.weight<768x512xq4_0>) -> tensor<?x768xf32>
    %k = milm.columns %qkv {offset = 512 : i64, size = 128 : i64}
        : (tensor<?x768xf32>) -> tensor<?x128xf32>
    ```
  }];
  let arguments = (ins Milm_Activation:$input, ConfinedAttr<I64Attr, [IntNonNegative]>:$offset,
                       Milm_PositiveI64:$size);
  let results = (outs Milm_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Milm_AddOp : Milm_Op<"add", [Pure, Commutative, AllTypesMatch<["lhs", "rhs", "result"]>]> {
  let summary = "elementwise addition, used for residual connections";
  let description = [{
    ```mlir
    %r = milm.add %x, %a : (tensor<?x256xf32>, tensor<?x256xf32>) -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins Milm_Activation:$lhs, Milm_Activation:$rhs);
  let results = (outs Milm_Activation:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def Milm_MoEOp : Milm_Op<"moe", [Pure]> {
  let summary = "a mixture-of-experts SwiGLU feed-forward block";
  let description = [{
    For each token `x`: router logits `r = router * x` (`router` is
    `[experts, hidden]`); the `top_k` experts with the largest logits are
    selected and weighted as `weighting` says (`topk_softmax`, Mixtral's
    softmax over the selected logits, by default); the result is the weighted
    sum over the selected experts `e` of
    `down_e * (silu(gate_e * x) * (up_e * x))`, with `gate_exps` and `up_exps`
    of shape `[experts, ffn, hidden]` and `down_exps` of shape
    `[experts, hidden, ffn]`. Only the selected experts' weights are read.

    ```mlir
    %y = milm.moe %h, %router, %gate, %up, %down {top_k = 2 : i64}
        : (tensor<?x256xf32>, !milm.weight<4x256xf32>, !milm.weight<4x256x256xq4_0>,
           !milm.weight<4x256x256xq4_0>, !milm.weight<4x256x256xq4_0>)
        -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins Milm_Activation:$input, Milm_Weight:$router,
      Milm_Weight:$gate_exps, Milm_Weight:$up_exps, Milm_Weight:$down_exps,
      Milm_PositiveI64:$top_k,
      DefaultValuedAttr<Milm_MoEWeightingAttr, "::mlir::milm::MoEWeighting::topk_softmax">:$weighting);
  let results = (outs Milm_Activation:$result);
  let assemblyFormat = [{
    $input `,` $router `,` $gate_exps `,` $up_exps `,` $down_exps attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getNumExperts() {
      return ::llvm::cast<::mlir::milm::WeightType>(getRouter().getType()).getShape()[0];
    }
  }];
}

def Milm_MoERouteOp : Milm_Op<"moe_route", [Pure]> {
  let summary = "a mixture of experts' routing weights, unfused";
  let description = [{
    The routing of `milm.moe` on its own: router logits `r = router * x`
    (`router` is `[experts, hidden]`), the `top_k` largest selected and
    weighted as `weighting` says; `result[t, e]` is expert `e`'s weight for
    token `t`, 0 for the experts not selected. With `milm.moe_combine` and one
    SwiGLU FFN per expert it is the unfused form of a mixture of experts,
    which `milm-fuse-moe` turns into one `milm.moe` (the CPU lowering takes
    only that).

    ```mlir
    %r = milm.moe_route %h, %router {top_k = 2 : i64}
        : (tensor<?x256xf32>, !milm.weight<4x256xf32>) -> tensor<?x4xf32>
    ```
  }];
  let arguments = (ins Milm_Activation:$input, Milm_Weight:$router, Milm_PositiveI64:$top_k,
      DefaultValuedAttr<Milm_MoEWeightingAttr, "::mlir::milm::MoEWeighting::topk_softmax">:$weighting);
  let results = (outs Milm_Activation:$result);
  let assemblyFormat = "$input `,` $router attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Milm_MoECombineOp : Milm_Op<"moe_combine", [Pure]> {
  let summary = "the routing-weighted sum of the experts' outputs, unfused";
  let description = [{
    `result[t, :] = sum_e weights[t, e] * experts_e[t, :]` for the `[tokens,
    experts]` weights of a `milm.moe_route` and one `[tokens, hidden]` output
    per expert, in expert order.

    ```mlir
    %y = milm.moe_combine %r, %e0, %e1, %e2, %e3
        : (tensor<?x4xf32>, tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>,
           tensor<?x256xf32>) -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins Milm_Activation:$weights, Variadic<Milm_Activation>:$experts);
  let results = (outs Milm_Activation:$result);
  let assemblyFormat = "$weights `,` $experts attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Milm_LogitsOp : Milm_Op<"logits", [Pure]> {
  let summary = "projects the final hidden states onto the vocabulary";
  let description = [{
    `result[t, v] = sum_i input[t, i] * weight[v, i]` with `weight` of shape
    `[vocab, hidden]`: the model's output matrix, or its embedding table when
    the embeddings are tied. Apply the final `milm.rms_norm` first.

    ```mlir
    %l = milm.logits %h, %out
        : (tensor<?x256xf32>, !milm.weight<512x256xq6_k>) -> tensor<?x512xf32>
    ```
  }];
  let arguments = (ins Milm_Activation:$input, Milm_Weight:$weight);
  let results = (outs Milm_Activation:$result);
  let assemblyFormat = "$input `,` $weight attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

#endif // MILM_OPS_TD
