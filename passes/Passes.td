//===- Passes.td - milm's model-level passes ---------------*- tablegen -*-===//
//
// Every model-level pass (pruning, rotation, quantization, outlier separation,
// MoE fusion, draft heads) is declared here, with its summary, description
// and options; mlir-tblgen generates its base class (GEN_PASS_DEF_<NAME>), its
// create function and options struct (GEN_PASS_DECL_<NAME>) and its
// registration, which milm::registerMilmPasses() calls. A pass that writes
// weights takes the weight store's path as an option:
//
//   def QuantizeWeights : Pass<"milm-quantize-weights", "::mlir::ModuleOp"> {
//     let summary = "...";
//     let description = [{ ... }];
//     let options = [
//       Option<"weightStore", "weight-store", "std::string", /*default=*/"\"\"",
//              "The weight store new weights are appended to (passes/WeightStore.h)">,
//     ];
//     let dependentDialects = ["::mlir::milm::MilmDialect"];
//   }
//
// docs/DESIGN.md, "Adding a pass", is the recipe; test/lib/Passes/TestPasses.td
// declares a test-only pass the same way.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_PASSES_TD
#define MILM_PASSES_TD

include "mlir/Pass/PassBase.td"

def Quantize : Pass<"milm-quantize", "::mlir::ModuleOp"> {
  let summary = "Round-to-nearest quantization of the weight matrices to a storage format";
  let description = [{
    Rewrites every weight matrix (every `milm.weight` of rank 2 or more, but
    the MoE routers `*ffn_gate_inp.weight`, which stay as they are) into the
    storage format `format`: the weight is decoded to f32 from whatever format
    it has and encoded again with the reference quantizers of
    common/milm/Quantize.h (ggml's rounding: the 32-value formats give
    llama.cpp's bytes), written to the weight store and referenced from there.

    `format` is a storage format (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0,
    q5_1, q4_k, q5_k, q6_k, q4_g64, q4_g128, q4_g256), the mixture `q4_k_m`, or a
    4-bit integer scheme (passes/Rounding.h), which calibration can round
    better: `w4-channel` (one f16 scale per row, symmetric) or
    `w4-g32`/`w4-g64`/`w4-g128` (per group), each also `-asym`. A rounded
    matrix is stored in the scheme's own format when one holds its rows
    exactly (w4-channel: q4_g256, the row's scale in each 256-block; w4-g128:
    q4_g128; w4-g64: q4_g64; w4-g32: q4_0; the -asym schemes: q4_1, each
    32-block with its group's scale and minimum, at q4_1's 5 bits); otherwise
    (rows the blocks do not divide) it is simulated: its 4-bit values stored as f32 and
    counted at the scheme's bits. A remark reports the bits per weight after
    the pass and how many matrices are simulated. Unless `pure` is set, the
    types follow llama.cpp's llama-quantize, so the results compare with the
    files users make with it:
      - the output matrix (or, with tied embeddings, the token embedding) is
        q6_k when `format` is below q8_0 and its rows are a multiple of 256
        values, else q8_0;
      - q4_k_m: q4_k everywhere, and q6_k for attn_v and ffn_down(_exps) in
        the layers i of n where i < n/8, i >= 7n/8 or (i - n/8) % 3 == 2.
    A row length that is not a multiple of the chosen format's block falls
    back as llama-quantize does (q4_k -> q5_0, q5_k -> q5_1, q6_k -> q8_0,
    then f16), with a warning naming the weights.

    ```mlir
    %w = milm.weight "blk.0.attn_q.weight" from "model.gguf" at 380256
        : !milm.weight<256x256xf16>
    // milm-quantize{format=q4_0 weight-store=w.milmstore} makes it
    %w = milm.weight "blk.0.attn_q.weight" from "w.milmstore" at 64
        : !milm.weight<256x256xq4_0>
    ```
  }];
  let options = [
    Option<"format", "format", "std::string", /*default=*/"\"\"",
           "Storage format of the matrices, or the mixture q4_k_m">,
    Option<"pure", "pure", "bool", /*default=*/"false",
           "Every matrix in `format`, without llama-quantize's output and "
           "mixture rules">,
    Option<"weightStore", "weight-store", "std::string", /*default=*/"\"\"",
           "The weight store new weights are appended to (passes/WeightStore.h)">,
    Option<"embedding", "embedding", "std::string", /*default=*/"\"\"",
           "Storage format of the token embedding table when the model has an output "
           "matrix of its own (as llama-quantize's --token-embedding-type)">,
    Option<"calibration", "calibration", "std::string", /*default=*/"\"\"",
           "Calibration statistics (milm-calibrate) that weight the rounding error "
           "of the 4-bit schemes per input channel">,
    Option<"gptq", "gptq", "bool", /*default=*/"false",
           "4-bit schemes: GPTQ error-compensated rounding (needs calibration "
           "with matrices)">,
    Option<"clip", "clip", "bool", /*default=*/"false",
           "4-bit schemes: choose each scale among 1.0..0.75 times the extreme's "
           "by the (calibration-weighted) squared error">,
    Option<"report", "report", "std::string", /*default=*/"\"\"",
           "4-bit schemes: write, per matrix, the error the rounding adds to the "
           "product's output to this file ('-': stdout)">,
    Option<"threads", "threads", "unsigned", /*default=*/"1",
           "Threads that round rows">,
  ];
  let dependentDialects = ["::mlir::milm::MilmDialect"];
}

def Calibrate : Pass<"milm-calibrate", "::mlir::ModuleOp"> {
  let summary = "Run the model on calibration tokens and record what every matrix product reads";
  let description = [{
    Runs the module's milm.model with the reference interpreter
    (passes/Interpreter.h: activations in double, weights as stored) over
    windows of the token ids in `tokens` (ids separated by spaces or
    newlines; `milmc calibrate` writes them from a text), each window of
    `window` tokens starting with BOS as llama-perplexity's do, and writes to
    `stats` (passes/Calibration.h) per input of a matrix product (the input
    that q, k and v share, that gate and up share, o's, down's, the logits',
    and per expert of a milm.moe the tokens routed to it): the number of rows,
    each channel's sum of squares and largest magnitude, and with `matrices`
    the second moment sum x x^T (what GPTQ needs; K*K floats per input). Each
    input also records a fingerprint of the weights that read it, so that a
    pass using the statistics can tell that they belong to those weights.
    The IR is not changed. Run it where the weights are what the
    quantization will see: after milm-rotate.
  }];
  let options = [
    Option<"tokens", "tokens", "std::string", /*default=*/"\"\"",
           "File of token ids to run">,
    Option<"stats", "stats", "std::string", /*default=*/"\"\"",
           "Where the statistics are written">,
    Option<"window", "window", "int64_t", /*default=*/"0",
           "Tokens per window (0: the model's context, at most 512)">,
    Option<"maxWindows", "max-windows", "int64_t", /*default=*/"0",
           "Run at most this many windows (0: all the tokens)">,
    Option<"matrices", "matrices", "bool", /*default=*/"false",
           "Also record the second-moment matrices (for GPTQ)">,
    Option<"threads", "threads", "unsigned", /*default=*/"0",
           "Threads (0: one per hardware thread)">,
    Option<"progress", "progress", "bool", /*default=*/"false",
           "Print progress to stderr">,
  ];
  let dependentDialects = ["::mlir::milm::MilmDialect"];
}

def SplitOutliers : Pass<"milm-split-outliers", "::mlir::ModuleOp"> {
  let summary = "Keep each matrix's most sensitive input columns in f16, round the rest to a 4-bit scheme";
  let description = [{
    For every weight that a milm.linear multiplies and every expert of a
    milm.moe (not the embedding table, the logits' matrix or the MoE router),
    keeps round(`fraction` * K) input columns in f16 and rounds the others to
    the 4-bit scheme `body` (passes/Rounding.h: w4-channel or w4-gG, each
    also -asym). The columns kept are those with the largest
    calibration-weighted error, as in OWQ/SpQR: the mean squared input of the
    channel (from `calibration`, milm-calibrate's statistics, required) times
    the column's squared round-to-nearest error, in four rounds with the
    scales recomputed without the columns already kept. The body's scales
    leave the kept columns out. With `gptq`, the body is rounded with GPTQ and
    the kept columns come last, absorbing the others' error.

    Storage ("4-bit body + f16 columns"): where the body's scheme has a
    format for the rows (see milm-quantize: w4-channel in q4_g256, w4-g128
    in q4_g128, w4-g64 in q4_g64, w4-g32 in q4_0) and the weight is a milm.linear's matrix, the
    body is stored in that format with zeros in the kept columns, the kept
    columns become an f16 weight `<name>.outliers` of shape [out, k], and a
    `milm.outlier_columns` after each product adds them (its `columns`
    attribute lists the column indices). Elsewhere (MoE experts, other
    schemes, rows the blocks do not divide) the weight is simulated: it
    holds the values such a format gives, stored as f32. The weights it
    rounded carry `milm.scheme` and `milm.bits` (the bits a weight takes:
    the stored body's bits, the side matrix's 16 plus a 32-bit index per
    column; a simulated weight's body bits and scales over all K columns plus
    its columns' cost), and milm-quantize leaves them alone, so a recipe runs
    milm-split-outliers, then milm-quantize for the embedding and the output.
    A remark reports the fraction kept, the bits per weight of the matrices
    it rounded and how many of them are stored.
  }];
  let options = [
    Option<"body", "body", "std::string", /*default=*/"\"w4-channel\"",
           "The 4-bit scheme of the body">,
    Option<"fraction", "fraction", "double", /*default=*/"0.02",
           "Fraction of each matrix's input columns kept in f16">,
    Option<"calibration", "calibration", "std::string", /*default=*/"\"\"",
           "Calibration statistics (milm-calibrate)">,
    Option<"gptq", "gptq", "bool", /*default=*/"false",
           "Round the body with GPTQ (needs calibration with matrices)">,
    Option<"clip", "clip", "bool", /*default=*/"false",
           "Choose each scale by the calibration-weighted squared error">,
    Option<"report", "report", "std::string", /*default=*/"\"\"",
           "Write the per-matrix error table to this file ('-': stdout)">,
    Option<"weightStore", "weight-store", "std::string", /*default=*/"\"\"",
           "The weight store the rounded weights are appended to">,
    Option<"threads", "threads", "unsigned", /*default=*/"1",
           "Threads that round rows">,
  ];
  let dependentDialects = ["::mlir::milm::MilmDialect"];
}

def Rotate : Pass<"milm-rotate", "::mlir::ModuleOp"> {
  let summary = "Rotate the residual stream by an orthogonal Hadamard-type matrix (QuaRot-style computational invariance)";
  let description = [{
    Rewrites the weights so that the model computes the same function with
    its residual stream multiplied by an orthogonal matrix Q (passes/Rotation.h:
    random signs times a normalised Hadamard matrix, Kronecker a random
    orthogonal matrix for the odd factor of the width). Rotated weights spread
    a channel's outliers over many channels, which quantization then loses
    less of. Found from the dataflow, not from weight names:
    - the stream: the embedding's result and every milm.add with an operand
      in it; the other operand's producer (a milm.linear, o_proj / down_proj,
      or a milm.moe's down experts) writes into the stream: W <- Q^T W
      (and a bias b <- b Q);
    - each milm.rms_norm of the stream: its weight g is folded into every
      product that reads its result (milm.linear, milm.moe's router, gate and
      up, milm.logits): W <- W diag(g) Q, and the norm's weight becomes ones
      (RMSNorm without a scale commutes with Q: the norm of x Q is x's);
    - the embedding table's rows: E <- E Q; a table tied to the logits is
      untied (the logits get their own `output.weight`: E diag(g) Q);
    - with `heads`, per attention: v's output and o's input are rotated per
      head by a Hadamard-type matrix of order head_dim (attention mixes v's
      rows per head with the same weights, so the rotation passes through);
    - with `online`, per dense FFN (a milm.linear reading a milm.swiglu that
      nothing else reads): a `milm.hadamard` with blocks of the largest power
      of two dividing the FFN width goes between them, and down's weight is
      multiplied by the same transform on its input side (W <- W H: H is
      symmetric and orthogonal, so x H (W H)^T = x W^T). The transform runs
      at every call (a fast Walsh-Hadamard kernel); it spreads the SwiGLU
      output's outliers, which no offline rotation can reach.
    Every rewritten weight is dequantized, transformed in double precision
    and written to the weight store as f32; quantize afterwards (milm-quantize).
    A stream value read by an op the rotation cannot be absorbed into is an
    error at that op, and nothing is changed.
  }];
  let options = [
    Option<"weightStore", "weight-store", "std::string", /*default=*/"\"\"",
           "The weight store the rotated weights are appended to (passes/WeightStore.h)">,
    Option<"seed", "seed", "uint64_t", /*default=*/"1",
           "Seed of the random signs and the odd-order orthogonal factor">,
    Option<"heads", "heads", "bool", /*default=*/"true",
           "Also rotate each attention's v outputs and o inputs per head">,
    Option<"online", "online", "bool", /*default=*/"false",
           "Also put a milm.hadamard before each dense FFN's down product and "
           "multiply its weight by the same transform (QuaRot's online rotation)">,
  ];
  let dependentDialects = ["::mlir::milm::MilmDialect"];
}

def PruneTransact : Pass<"milm-prune-transact", "::mlir::ModuleOp"> {
  let summary = "TransAct structured pruning: attention heads and FFN channels by activation magnitude";
  let description = [{
    Prunes inside each layer, keeping the hidden size (TransAct, MiLM2's 6B
    to 4B): query heads of every attention and intermediate channels of every
    dense FFN (a milm.swiglu of two milm.linear products read by one
    milm.linear), chosen by their activation magnitude on calibration text
    (`calibration`, milm-calibrate's statistics of the unpruned model):
    - a query head's importance is the L2 norm of its output before o_proj
      over the calibration tokens (the sum of squares of its head_dim input
      channels of o_proj); heads are pruned evenly in each KV group, so every
      KV head keeps the same number of query heads: q's output rows (and
      bias) and o's input columns go. With `kv-heads`/`keep-kv-heads`, whole
      KV groups go first (a KV head with its query heads, ranked by the sum
      of their importances): k's and v's rows (and biases) too, and the KV
      cache's slice of that layer shrinks (`layer_kv_heads`);
    - an FFN channel's importance is the L2 norm of the SwiGLU value before
      down_proj: gate's and up's output rows and down's input column go.
      The channels kept are rounded to a multiple of 32 (of the down weight's
      block when larger), so that the block formats still hold the rows.
    `heads` and `ffn` are the fractions removed in every layer;
    `keep-heads`/`keep-ffn` give the counts to keep instead (one entry for
    every layer, or one per layer). Layers may end with different sizes: the
    model config carries per-layer `layer_heads`/`layer_ffn`.
    With `reconstruct`, o_proj's and down_proj's kept columns are refitted by
    least squares on the calibration inputs (the statistics' second moments,
    `milmc calibrate --matrices`): W' = W H[:, S] H[S, S]^-1, so that the
    pruned product matches the unpruned one as closely as a linear map of the
    kept inputs can (no retraining).
    Rows are removed from a weight's bytes as they are (exact in every
    format); a weight that loses columns or is refitted is re-encoded in its
    format (exact for f32/f16/bf16; a block format rounds it again, which a
    remark counts). Pruning nothing changes nothing.
  }];
  let options = [
    Option<"heads", "heads", "double", /*default=*/"0.0",
           "Fraction of each layer's query heads to remove (evenly per KV group)">,
    Option<"ffn", "ffn", "double", /*default=*/"0.0",
           "Fraction of each dense FFN's channels to remove">,
    ListOption<"keepHeads", "keep-heads", "int64_t",
               "Query heads to keep: one count for every layer, or one per layer">,
    ListOption<"keepFfn", "keep-ffn", "int64_t",
               "FFN channels to keep: one count for every layer, or one per layer">,
    Option<"kvHeads", "kv-heads", "double", /*default=*/"0.0",
           "Fraction of each layer's KV heads to remove, each with its query heads">,
    ListOption<"keepKvHeads", "keep-kv-heads", "int64_t",
               "KV heads to keep: one count for every layer, or one per layer">,
    Option<"calibration", "calibration", "std::string", /*default=*/"\"\"",
           "milm-calibrate's statistics of the unpruned model (required when pruning)">,
    Option<"reconstruct", "reconstruct", "bool", /*default=*/"false",
           "Refit o_proj and down_proj on the calibration second moments">,
    Option<"weightStore", "weight-store", "std::string", /*default=*/"\"\"",
           "The weight store the pruned weights are appended to (passes/WeightStore.h)">,
    Option<"threads", "threads", "unsigned", /*default=*/"1",
           "Threads of the reconstruction">,
  ];
  let dependentDialects = ["::mlir::milm::MilmDialect"];
}

def FuseQKV : Pass<"milm-fuse-qkv", "::mlir::ModuleOp"> {
  let summary = "One product for each attention's q, k and v";
  let description = [{
    Each attention's q, k and v products (milm.linear of one input, q's and
    k's through milm.rope) become one milm.linear by a weight that holds
    their rows one after the other (`blk.N.attn_qkv.weight`, written to the
    weight store: the three weights' bytes concatenated, exact in every
    format), followed by three milm.columns that give q, k and v back: one
    call into the kernels instead of three. Left alone (and said in the
    remark): weights of different formats (llama-quantize's q4_k_m gives v
    more bits than q and k in some layers), a bias on some only, a weight
    read elsewhere, a product with f16 outlier columns.
  }];
  let options = [
    Option<"weightStore", "weight-store", "std::string", /*default=*/"\"\"",
           "The weight store the fused weights are appended to (passes/WeightStore.h)">,
  ];
  let dependentDialects = ["::mlir::milm::MilmDialect"];
}

def FuseGateUp : Pass<"milm-fuse-gate-up", "::mlir::ModuleOp"> {
  let summary = "One product for each dense FFN's gate and up";
  let description = [{
    Each milm.swiglu of two milm.linear products of one input (gate, up)
    reads them from one product by the weights' rows concatenated
    (`blk.N.ffn_gate_up.weight`, in the weight store) and two milm.columns:
    one call into the kernels instead of two. Left alone as milm-fuse-qkv
    leaves its products.
  }];
  let options = [
    Option<"weightStore", "weight-store", "std::string", /*default=*/"\"\"",
           "The weight store the fused weights are appended to (passes/WeightStore.h)">,
  ];
  let dependentDialects = ["::mlir::milm::MilmDialect"];
}

def FuseMoE : Pass<"milm-fuse-moe", "::mlir::ModuleOp"> {
  let summary = "One milm.moe for each unfused mixture of experts";
  let description = [{
    The unfused form of a mixture of experts (`milmc import --unfused-moe`
    writes it): a milm.moe_route of the input h, for each expert e a SwiGLU
    FFN `down_e(swiglu(gate_e(h), up_e(h)))` (milm.linear and milm.swiglu, no
    biases), and a milm.moe_combine of the routing weights and the experts'
    outputs in expert order. It becomes one milm.moe (router, top_k and
    weighting from the route) over the experts' gate, up and down matrices
    stacked into `[experts, ffn, hidden]` / `[experts, hidden, ffn]` weights,
    which reference each expert's bytes where they are (milm.weight's
    `stacked from`): nothing is copied. The CPU lowering, whose kernels route,
    read only the selected experts' bytes and group a prompt's tokens by
    expert, takes only milm.moe. Left alone (and said in the remark): experts
    whose matrices differ in shape or format, a product with a bias or f16
    outlier columns, an intermediate result read elsewhere. `milmc compile`
    runs it first.
  }];
  let dependentDialects = ["::mlir::milm::MilmDialect"];
}

#endif // MILM_PASSES_TD
