// A hand-written 2-layer LLaMA-style decoder: GQA (8 query heads, 2 kv heads of
// 32), adjacent-pair rope, SwiGLU, q4_0 projections and a q6_k output matrix.
// It parses, verifies, round-trips in custom and generic form, and survives
// canonicalization untouched.
// RUN: milm-opt %s | milm-opt | FileCheck %s
// RUN: milm-opt %s --mlir-print-op-generic | milm-opt | FileCheck %s
// RUN: milm-opt %s --canonicalize | FileCheck %s

// CHECK-LABEL: milm.model @llama_2layer #milm.config<arch = "llama"
// CHECK-SAME: num_heads = 8, num_kv_heads = 2, head_dim = 32
// CHECK: func.func @forward(%{{.*}}: tensor<?xi32>, %{{.*}}: tensor<?xi32>, %[[CACHE:.*]]: !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>) -> tensor<?x512xf32>
// CHECK: milm.embedding %{{.*}} : (!milm.weight<512x256xq8_0>, tensor<?xi32>) -> tensor<?x256xf32>
// CHECK: milm.weight "blk.0.attn_q.weight" : !milm.weight<256x256xq4_0>
// CHECK: milm.rope {{.*}}pairing = #milm.rope_pairing<norm>
// CHECK: milm.attention {{.*}}, %[[CACHE]], {{.*}}layer = 0 : i64
// CHECK: milm.swiglu
// CHECK: milm.attention {{.*}}, %[[CACHE]], {{.*}}layer = 1 : i64
// CHECK: milm.swiglu
// CHECK: milm.weight "output.weight" : !milm.weight<512x256xq6_k>
// CHECK: milm.logits
// CHECK-NOT: milm.moe

milm.model @llama_2layer #milm.config<arch = "llama", vocab_size = 512, context_length = 512, hidden_size = 256, num_layers = 2, num_heads = 8, num_kv_heads = 2, head_dim = 32, ffn_size = 512, bos_token = 1, eos_token = 2, tokenizer = "llama"> {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>) -> tensor<?x512xf32> {
    %tok = milm.weight "token_embd.weight" : !milm.weight<512x256xq8_0>
    %x0 = milm.embedding %tok, %tokens : (!milm.weight<512x256xq8_0>, tensor<?xi32>) -> tensor<?x256xf32>
    %l0_attn_norm = milm.weight "blk.0.attn_norm.weight" : !milm.weight<256xf32>
    %l0_h = milm.rms_norm %x0, %l0_attn_norm {eps = 1.0e-05 : f64} : (tensor<?x256xf32>, !milm.weight<256xf32>) -> tensor<?x256xf32>
    %l0_wq = milm.weight "blk.0.attn_q.weight" : !milm.weight<256x256xq4_0>
    %l0_q = milm.linear %l0_h, %l0_wq : (tensor<?x256xf32>, !milm.weight<256x256xq4_0>) -> tensor<?x256xf32>
    %l0_wk = milm.weight "blk.0.attn_k.weight" : !milm.weight<64x256xq4_0>
    %l0_k = milm.linear %l0_h, %l0_wk : (tensor<?x256xf32>, !milm.weight<64x256xq4_0>) -> tensor<?x64xf32>
    %l0_wv = milm.weight "blk.0.attn_v.weight" : !milm.weight<64x256xq4_0>
    %l0_v = milm.linear %l0_h, %l0_wv : (tensor<?x256xf32>, !milm.weight<64x256xq4_0>) -> tensor<?x64xf32>
    %l0_qr = milm.rope %l0_q, %pos {base = 1.0e+04 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<norm>} : (tensor<?x256xf32>, tensor<?xi32>) -> tensor<?x256xf32>
    %l0_kr = milm.rope %l0_k, %pos {base = 1.0e+04 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<norm>} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %l0_attn = milm.attention %l0_qr, %l0_kr, %l0_v, %cache, %pos {head_dim = 32 : i64, layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64} : (tensor<?x256xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>, tensor<?xi32>) -> tensor<?x256xf32>
    %l0_wo = milm.weight "blk.0.attn_output.weight" : !milm.weight<256x256xq4_0>
    %l0_o = milm.linear %l0_attn, %l0_wo : (tensor<?x256xf32>, !milm.weight<256x256xq4_0>) -> tensor<?x256xf32>
    %l0_r1 = milm.add %x0, %l0_o : (tensor<?x256xf32>, tensor<?x256xf32>) -> tensor<?x256xf32>
    %l0_ffn_norm = milm.weight "blk.0.ffn_norm.weight" : !milm.weight<256xf32>
    %l0_h2 = milm.rms_norm %l0_r1, %l0_ffn_norm {eps = 1.0e-05 : f64} : (tensor<?x256xf32>, !milm.weight<256xf32>) -> tensor<?x256xf32>
    %l0_wg = milm.weight "blk.0.ffn_gate.weight" : !milm.weight<512x256xq4_0>
    %l0_wu = milm.weight "blk.0.ffn_up.weight" : !milm.weight<512x256xq4_0>
    %l0_wd = milm.weight "blk.0.ffn_down.weight" : !milm.weight<256x512xq4_0>
    %l0_g = milm.linear %l0_h2, %l0_wg : (tensor<?x256xf32>, !milm.weight<512x256xq4_0>) -> tensor<?x512xf32>
    %l0_u = milm.linear %l0_h2, %l0_wu : (tensor<?x256xf32>, !milm.weight<512x256xq4_0>) -> tensor<?x512xf32>
    %l0_m = milm.swiglu %l0_g, %l0_u : (tensor<?x512xf32>, tensor<?x512xf32>) -> tensor<?x512xf32>
    %l0_f = milm.linear %l0_m, %l0_wd : (tensor<?x512xf32>, !milm.weight<256x512xq4_0>) -> tensor<?x256xf32>
    %l0_out = milm.add %l0_r1, %l0_f : (tensor<?x256xf32>, tensor<?x256xf32>) -> tensor<?x256xf32>
    %l1_attn_norm = milm.weight "blk.1.attn_norm.weight" : !milm.weight<256xf32>
    %l1_h = milm.rms_norm %l0_out, %l1_attn_norm {eps = 1.0e-05 : f64} : (tensor<?x256xf32>, !milm.weight<256xf32>) -> tensor<?x256xf32>
    %l1_wq = milm.weight "blk.1.attn_q.weight" : !milm.weight<256x256xq4_0>
    %l1_q = milm.linear %l1_h, %l1_wq : (tensor<?x256xf32>, !milm.weight<256x256xq4_0>) -> tensor<?x256xf32>
    %l1_wk = milm.weight "blk.1.attn_k.weight" : !milm.weight<64x256xq4_0>
    %l1_k = milm.linear %l1_h, %l1_wk : (tensor<?x256xf32>, !milm.weight<64x256xq4_0>) -> tensor<?x64xf32>
    %l1_wv = milm.weight "blk.1.attn_v.weight" : !milm.weight<64x256xq4_0>
    %l1_v = milm.linear %l1_h, %l1_wv : (tensor<?x256xf32>, !milm.weight<64x256xq4_0>) -> tensor<?x64xf32>
    %l1_qr = milm.rope %l1_q, %pos {base = 1.0e+04 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<norm>} : (tensor<?x256xf32>, tensor<?xi32>) -> tensor<?x256xf32>
    %l1_kr = milm.rope %l1_k, %pos {base = 1.0e+04 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<norm>} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %l1_attn = milm.attention %l1_qr, %l1_kr, %l1_v, %cache, %pos {head_dim = 32 : i64, layer = 1 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64} : (tensor<?x256xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>, tensor<?xi32>) -> tensor<?x256xf32>
    %l1_wo = milm.weight "blk.1.attn_output.weight" : !milm.weight<256x256xq4_0>
    %l1_o = milm.linear %l1_attn, %l1_wo : (tensor<?x256xf32>, !milm.weight<256x256xq4_0>) -> tensor<?x256xf32>
    %l1_r1 = milm.add %l0_out, %l1_o : (tensor<?x256xf32>, tensor<?x256xf32>) -> tensor<?x256xf32>
    %l1_ffn_norm = milm.weight "blk.1.ffn_norm.weight" : !milm.weight<256xf32>
    %l1_h2 = milm.rms_norm %l1_r1, %l1_ffn_norm {eps = 1.0e-05 : f64} : (tensor<?x256xf32>, !milm.weight<256xf32>) -> tensor<?x256xf32>
    %l1_wg = milm.weight "blk.1.ffn_gate.weight" : !milm.weight<512x256xq4_0>
    %l1_wu = milm.weight "blk.1.ffn_up.weight" : !milm.weight<512x256xq4_0>
    %l1_wd = milm.weight "blk.1.ffn_down.weight" : !milm.weight<256x512xq4_0>
    %l1_g = milm.linear %l1_h2, %l1_wg : (tensor<?x256xf32>, !milm.weight<512x256xq4_0>) -> tensor<?x512xf32>
    %l1_u = milm.linear %l1_h2, %l1_wu : (tensor<?x256xf32>, !milm.weight<512x256xq4_0>) -> tensor<?x512xf32>
    %l1_m = milm.swiglu %l1_g, %l1_u : (tensor<?x512xf32>, tensor<?x512xf32>) -> tensor<?x512xf32>
    %l1_f = milm.linear %l1_m, %l1_wd : (tensor<?x512xf32>, !milm.weight<256x512xq4_0>) -> tensor<?x256xf32>
    %l1_out = milm.add %l1_r1, %l1_f : (tensor<?x256xf32>, tensor<?x256xf32>) -> tensor<?x256xf32>
    %onorm = milm.weight "output_norm.weight" : !milm.weight<256xf32>
    %hf = milm.rms_norm %l1_out, %onorm {eps = 1.0e-05 : f64} : (tensor<?x256xf32>, !milm.weight<256xf32>) -> tensor<?x256xf32>
    %wout = milm.weight "output.weight" : !milm.weight<512x256xq6_k>
    %logits = milm.logits %hf, %wout : (tensor<?x256xf32>, !milm.weight<512x256xq6_k>) -> tensor<?x512xf32>
    return %logits : tensor<?x512xf32>
  }
}
