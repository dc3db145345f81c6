// Round trip of every milm op, type and attribute, in custom and generic form.
// RUN: milm-opt %s | milm-opt | FileCheck %s
// RUN: milm-opt %s --mlir-print-op-generic | milm-opt | FileCheck %s

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>

// CHECK-LABEL: func.func @weights
func.func @weights() {
  // CHECK: milm.weight "a" from "model.gguf" at 1056 : !milm.weight<512x256xq4_0>
  %0 = milm.weight "a" from "model.gguf" at 1056 : !milm.weight<512x256xq4_0>
  // CHECK: milm.weight "b" : !milm.weight<256xf32>
  %1 = milm.weight "b" : !milm.weight<256xf32>
  // CHECK: milm.weight "c" : !milm.weight<8x64xf16>
  %2 = milm.weight "c" : !milm.weight<8x64xf16>
  // CHECK: milm.weight "d" : !milm.weight<8x64xbf16>
  %3 = milm.weight "d" : !milm.weight<8x64xbf16>
  // CHECK: milm.weight "e" : !milm.weight<8x32xq8_0>
  %4 = milm.weight "e" : !milm.weight<8x32xq8_0>
  // CHECK: milm.weight "f" : !milm.weight<8x32xq4_1>
  %5 = milm.weight "f" : !milm.weight<8x32xq4_1>
  // CHECK: milm.weight "g" : !milm.weight<8x32xq5_0>
  %6 = milm.weight "g" : !milm.weight<8x32xq5_0>
  // CHECK: milm.weight "h" : !milm.weight<8x32xq5_1>
  %7 = milm.weight "h" : !milm.weight<8x32xq5_1>
  // CHECK: milm.weight "i" : !milm.weight<8x256xq4_k>
  %8 = milm.weight "i" : !milm.weight<8x256xq4_k>
  // CHECK: milm.weight "j" : !milm.weight<8x256xq5_k>
  %9 = milm.weight "j" : !milm.weight<8x256xq5_k>
  // CHECK: milm.weight "k" : !milm.weight<4x8x256xq6_k>
  %10 = milm.weight "k" : !milm.weight<4x8x256xq6_k>
  // CHECK: milm.weight "l" stacked from ["x.safetensors", "y.safetensors"] at [8, 4104] : !milm.weight<2x64x32xf16>
  %11 = milm.weight "l" stacked from ["x.safetensors", "y.safetensors"] at [8, 4104] : !milm.weight<2x64x32xf16>
  return
}

// CHECK-LABEL: func.func @embedding
func.func @embedding(%tokens: tensor<?xi32>, %t64: tensor<3xi64>) -> (tensor<?x256xf32>, tensor<3x256xf32>) {
  %table = milm.weight "token_embd.weight" : !milm.weight<512x256xq8_0>
  // CHECK: milm.embedding %{{.*}}, %{{.*}} : (!milm.weight<512x256xq8_0>, tensor<?xi32>) -> tensor<?x256xf32>
  %0 = milm.embedding %table, %tokens : (!milm.weight<512x256xq8_0>, tensor<?xi32>) -> tensor<?x256xf32>
  // CHECK: milm.embedding %{{.*}}, %{{.*}} : (!milm.weight<512x256xq8_0>, tensor<3xi64>) -> tensor<3x256xf32>
  %1 = milm.embedding %table, %t64 : (!milm.weight<512x256xq8_0>, tensor<3xi64>) -> tensor<3x256xf32>
  return %0, %1 : tensor<?x256xf32>, tensor<3x256xf32>
}

// CHECK-LABEL: func.func @rms_norm
func.func @rms_norm(%x: tensor<?x256xf32>) -> tensor<?x256xf32> {
  %w = milm.weight "n" : !milm.weight<256xf32>
  // CHECK: milm.rms_norm %{{.*}}, %{{.*}} {eps = 1.000000e-05 : f64} : (tensor<?x256xf32>, !milm.weight<256xf32>) -> tensor<?x256xf32>
  %0 = milm.rms_norm %x, %w {eps = 1.0e-05 : f64} : (tensor<?x256xf32>, !milm.weight<256xf32>) -> tensor<?x256xf32>
  return %0 : tensor<?x256xf32>
}

// CHECK-LABEL: func.func @linear
func.func @linear(%x: tensor<?x256xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %w = milm.weight "w" : !milm.weight<64x256xq4_k>
  %b = milm.weight "b" : !milm.weight<64xf32>
  // CHECK: milm.linear %{{.*}}, %{{.*}} : (tensor<?x256xf32>, !milm.weight<64x256xq4_k>) -> tensor<?x64xf32>
  %0 = milm.linear %x, %w : (tensor<?x256xf32>, !milm.weight<64x256xq4_k>) -> tensor<?x64xf32>
  // CHECK: milm.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x256xf32>, !milm.weight<64x256xq4_k>, !milm.weight<64xf32>) -> tensor<?x64xf32>
  %1 = milm.linear %x, %w, %b : (tensor<?x256xf32>, !milm.weight<64x256xq4_k>, !milm.weight<64xf32>) -> tensor<?x64xf32>
  return %0, %1 : tensor<?x64xf32>, tensor<?x64xf32>
}

// CHECK-LABEL: func.func @rope
func.func @rope(%x: tensor<?x256xf32>, %pos: tensor<?xi32>) -> (tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>) {
  // CHECK: milm.rope %{{.*}}, %{{.*}} {base = 1.000000e+04 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<norm>}
  %0 = milm.rope %x, %pos {base = 1.0e+04 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<norm>} : (tensor<?x256xf32>, tensor<?xi32>) -> tensor<?x256xf32>
  // CHECK: milm.rope {{.*}}factor = 4.000000e+00 : f64, head_dim = 64 : i64, pairing = #milm.rope_pairing<neox>, scaling = #milm.rope_scaling<linear>
  %1 = milm.rope %x, %pos {base = 1.0e+06 : f64, head_dim = 64 : i64, pairing = #milm.rope_pairing<neox>, scaling = #milm.rope_scaling<linear>, factor = 4.0 : f64} : (tensor<?x256xf32>, tensor<?xi32>) -> tensor<?x256xf32>
  // CHECK: milm.rope {{.*}}scaling = #milm.rope_scaling<ntk>
  %2 = milm.rope %x, %pos {base = 1.0e+04 : f64, head_dim = 64 : i64, pairing = #milm.rope_pairing<neox>, scaling = #milm.rope_scaling<ntk>, factor = 2.0 : f64} : (tensor<?x256xf32>, tensor<?xi32>) -> tensor<?x256xf32>
  // CHECK: milm.rope {{.*}}original_context = 4096 : i64, pairing = #milm.rope_pairing<neox>, rotary_dim = 32 : i64, scaling = #milm.rope_scaling<yarn>
  %3 = milm.rope %x, %pos {base = 1.0e+04 : f64, head_dim = 64 : i64, pairing = #milm.rope_pairing<neox>, scaling = #milm.rope_scaling<yarn>, factor = 8.0 : f64, original_context = 4096 : i64, rotary_dim = 32 : i64} : (tensor<?x256xf32>, tensor<?xi32>) -> tensor<?x256xf32>
  return %0, %1, %2, %3 : tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>
}

// CHECK-LABEL: func.func @attention
func.func @attention(%q: tensor<?x256xf32>, %k: tensor<?x64xf32>, %v: tensor<?x64xf32>, %cache: !cache, %pos: tensor<?xi32>,
                     %tq: tensor<4x256xf32>, %tk: tensor<4x64xf32>, %tpos: tensor<4xi32>, %mask: tensor<4x4xi1>) -> (tensor<?x256xf32>, tensor<4x256xf32>) {
  // CHECK: milm.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {head_dim = 32 : i64, layer = 1 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64, scale = 1.250000e-01 : f64} : (tensor<?x256xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>, tensor<?xi32>) -> tensor<?x256xf32>
  %0 = milm.attention %q, %k, %v, %cache, %pos {layer = 1 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, scale = 0.125 : f64} : (tensor<?x256xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !cache, tensor<?xi32>) -> tensor<?x256xf32>
  // CHECK: milm.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} tree_mask(%{{.*}}) {{{.*}}mask = #milm.mask<tree>{{.*}}} : (tensor<4x256xf32>, tensor<4x64xf32>, tensor<4x64xf32>, !milm.kv_cache<{{.*}}>, tensor<4xi32>, tensor<4x4xi1>) -> tensor<4x256xf32>
  %1 = milm.attention %tq, %tk, %tk, %cache, %tpos tree_mask(%mask) {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, mask = #milm.mask<tree>} : (tensor<4x256xf32>, tensor<4x64xf32>, tensor<4x64xf32>, !cache, tensor<4xi32>, tensor<4x4xi1>) -> tensor<4x256xf32>
  return %0, %1 : tensor<?x256xf32>, tensor<4x256xf32>
}

// CHECK-LABEL: func.func @hadamard
func.func @hadamard(%a: tensor<?x1280xf32>) -> tensor<?x1280xf32> {
  // CHECK: milm.hadamard %{{.*}} {block = 256 : i64} : (tensor<?x1280xf32>) -> tensor<?x1280xf32>
  %h = milm.hadamard %a {block = 256 : i64} : (tensor<?x1280xf32>) -> tensor<?x1280xf32>
  // CHECK: milm.columns %{{.*}} {offset = 256 : i64, size = 1024 : i64} : (tensor<?x1280xf32>) -> tensor<?x1024xf32>
  %cols = milm.columns %a {offset = 256 : i64, size = 1024 : i64} : (tensor<?x1280xf32>) -> tensor<?x1024xf32>
  return %h : tensor<?x1280xf32>
}

// CHECK-LABEL: func.func @outlier_columns
func.func @outlier_columns(%x: tensor<?x512xf32>) -> tensor<?x64xf32> {
  %w = milm.weight "d.weight" : !milm.weight<64x512xq4_g256>
  %s = milm.weight "d.weight.outliers" : !milm.weight<64x3xf16>
  // CHECK: milm.linear %{{.*}}, %{{.*}} : (tensor<?x512xf32>, !milm.weight<64x512xq4_g256>) -> tensor<?x64xf32>
  %y = milm.linear %x, %w : (tensor<?x512xf32>, !milm.weight<64x512xq4_g256>) -> tensor<?x64xf32>
  // CHECK: milm.outlier_columns %{{.*}}, %{{.*}}, %{{.*}} {columns = array<i64: 3, 100, 511>} : (tensor<?x64xf32>, tensor<?x512xf32>, !milm.weight<64x3xf16>) -> tensor<?x64xf32>
  %z = milm.outlier_columns %y, %x, %s {columns = array<i64: 3, 100, 511>} : (tensor<?x64xf32>, tensor<?x512xf32>, !milm.weight<64x3xf16>) -> tensor<?x64xf32>
  return %z : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @swiglu_add
func.func @swiglu_add(%a: tensor<?x512xf32>, %b: tensor<?x512xf32>) -> (tensor<?x512xf32>, tensor<?x512xf32>) {
  // CHECK: milm.swiglu %{{.*}}, %{{.*}} : (tensor<?x512xf32>, tensor<?x512xf32>) -> tensor<?x512xf32>
  %0 = milm.swiglu %a, %b : (tensor<?x512xf32>, tensor<?x512xf32>) -> tensor<?x512xf32>
  // CHECK: milm.add %{{.*}}, %{{.*}} : (tensor<?x512xf32>, tensor<?x512xf32>) -> tensor<?x512xf32>
  %1 = milm.add %a, %b : (tensor<?x512xf32>, tensor<?x512xf32>) -> tensor<?x512xf32>
  return %0, %1 : tensor<?x512xf32>, tensor<?x512xf32>
}

// CHECK-LABEL: func.func @moe
func.func @moe(%x: tensor<?x256xf32>) -> (tensor<?x256xf32>, tensor<?x256xf32>) {
  %r = milm.weight "router" : !milm.weight<8x256xf32>
  %g = milm.weight "gate" : !milm.weight<8x512x256xq4_0>
  %u = milm.weight "up" : !milm.weight<8x512x256xq4_0>
  %d = milm.weight "down" : !milm.weight<8x256x512xq4_0>
  // CHECK: milm.moe %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {top_k = 2 : i64} : (tensor<?x256xf32>, !milm.weight<8x256xf32>, !milm.weight<8x512x256xq4_0>, !milm.weight<8x512x256xq4_0>, !milm.weight<8x256x512xq4_0>) -> tensor<?x256xf32>
  %0 = milm.moe %x, %r, %g, %u, %d {top_k = 2 : i64} : (tensor<?x256xf32>, !milm.weight<8x256xf32>, !milm.weight<8x512x256xq4_0>, !milm.weight<8x512x256xq4_0>, !milm.weight<8x256x512xq4_0>) -> tensor<?x256xf32>
  // CHECK: milm.moe {{.*}}weighting = #milm.moe_weighting<softmax_topk_norm>
  %1 = milm.moe %x, %r, %g, %u, %d {top_k = 4 : i64, weighting = #milm.moe_weighting<softmax_topk_norm>} : (tensor<?x256xf32>, !milm.weight<8x256xf32>, !milm.weight<8x512x256xq4_0>, !milm.weight<8x512x256xq4_0>, !milm.weight<8x256x512xq4_0>) -> tensor<?x256xf32>
  return %0, %1 : tensor<?x256xf32>, tensor<?x256xf32>
}

// CHECK-LABEL: func.func @logits
func.func @logits(%x: tensor<?x256xf32>) -> tensor<?x512xf32> {
  %w = milm.weight "output.weight" : !milm.weight<512x256xq6_k>
  // CHECK: milm.logits %{{.*}}, %{{.*}} : (tensor<?x256xf32>, !milm.weight<512x256xq6_k>) -> tensor<?x512xf32>
  %0 = milm.logits %x, %w : (tensor<?x256xf32>, !milm.weight<512x256xq6_k>) -> tensor<?x512xf32>
  return %0 : tensor<?x512xf32>
}

// CHECK-LABEL: milm.model @empty #milm.config<arch = "qwen2", vocab_size = 100, context_length = 32768, hidden_size = 64, num_layers = 1, num_heads = 4, num_kv_heads = 4, head_dim = 16, ffn_size = 128, num_experts = 8, experts_used = 2, bos_token = 0, eos_token = 99, tied_embeddings = true, tokenizer = "gpt2", tokenizer_source = "m.gguf", name = "tiny test">
milm.model @empty #milm.config<arch = "qwen2", vocab_size = 100, context_length = 32768, hidden_size = 64, num_layers = 1, num_heads = 4, num_kv_heads = 4, head_dim = 16, ffn_size = 128, num_experts = 8, experts_used = 2, bos_token = 0, eos_token = 99, tied_embeddings = true, tokenizer = "gpt2", tokenizer_source = "m.gguf", name = "tiny test"> {
}
