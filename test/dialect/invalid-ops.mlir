// Every verifier error of milm's ops, each in its own split.
// RUN: milm-opt %s -split-input-file -verify-diagnostics

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>

func.func @f() {
  // expected-error @+1 {{'milm.weight' op needs a non-empty weight name}}
  %0 = milm.weight "" : !milm.weight<32xf32>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{'milm.weight' op gives a file without an offset or an offset without a file}}
  %0 = "milm.weight"() <{name = "w", file = "m.gguf"}> : () -> !milm.weight<32xf32>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{'milm.weight' op names an empty file}}
  %0 = milm.weight "w" from "" at 0 : !milm.weight<32xf32>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{'milm.weight' op attribute 'offset' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  %0 = milm.weight "w" from "m.gguf" at -8 : !milm.weight<32xf32>
  return
}

// -----

func.func @f(%t: tensor<?xi32>) {
  %w = milm.weight "t" : !milm.weight<512xf32>
  // expected-error @+1 {{'milm.embedding' op table must be [vocab, hidden], got 512}}
  %0 = milm.embedding %w, %t : (!milm.weight<512xf32>, tensor<?xi32>) -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%t: tensor<?xi32>) {
  %w = milm.weight "t" : !milm.weight<512x256xf16>
  // expected-error @+1 {{'milm.embedding' op result has 128 features but the table rows have 256}}
  %0 = milm.embedding %w, %t : (!milm.weight<512x256xf16>, tensor<?xi32>) -> tensor<?x128xf32>
  return
}

// -----

func.func @f(%t: tensor<3xi32>) {
  %w = milm.weight "t" : !milm.weight<512x256xf16>
  // expected-error @+1 {{'milm.embedding' op tokens has 3 tokens but the result has 4}}
  %0 = milm.embedding %w, %t : (!milm.weight<512x256xf16>, tensor<3xi32>) -> tensor<4x256xf32>
  return
}

// -----

func.func @f(%t: tensor<?xf32>) {
  %w = milm.weight "t" : !milm.weight<512x256xf16>
  // expected-error @+1 {{'milm.embedding' op operand #1 must be 1D tensor of 32-bit signless integer or 64-bit signless integer values}}
  %0 = milm.embedding %w, %t : (!milm.weight<512x256xf16>, tensor<?xf32>) -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>) {
  %w = milm.weight "n" : !milm.weight<1x256xf32>
  // expected-error @+1 {{'milm.rms_norm' op weight must be 1-D, got 1x256}}
  %0 = milm.rms_norm %x, %w {eps = 1.0e-05 : f64} : (tensor<?x256xf32>, !milm.weight<1x256xf32>) -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>) {
  %w = milm.weight "n" : !milm.weight<256xf32>
  // expected-error @+1 {{'milm.rms_norm' op result type 'tensor<4x256xf32>' differs from input type 'tensor<?x256xf32>'}}
  %0 = milm.rms_norm %x, %w {eps = 1.0e-05 : f64} : (tensor<?x256xf32>, !milm.weight<256xf32>) -> tensor<4x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>) {
  %w = milm.weight "n" : !milm.weight<128xf32>
  // expected-error @+1 {{'milm.rms_norm' op input has 256 features but the weight has 128}}
  %0 = milm.rms_norm %x, %w {eps = 1.0e-05 : f64} : (tensor<?x256xf32>, !milm.weight<128xf32>) -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>) {
  %w = milm.weight "n" : !milm.weight<256xf32>
  // expected-error @+1 {{'milm.rms_norm' op eps must be positive}}
  %0 = milm.rms_norm %x, %w {eps = 0.0 : f64} : (tensor<?x256xf32>, !milm.weight<256xf32>) -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>) {
  %w = milm.weight "w" : !milm.weight<4x64x256xq8_0>
  // expected-error @+1 {{'milm.linear' op weight must be [out, in], got 4x64x256}}
  %0 = milm.linear %x, %w : (tensor<?x256xf32>, !milm.weight<4x64x256xq8_0>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x128xf32>) {
  %w = milm.weight "w" : !milm.weight<64x256xq8_0>
  // expected-error @+1 {{'milm.linear' op input has 128 features but the weight expects 256}}
  %0 = milm.linear %x, %w : (tensor<?x128xf32>, !milm.weight<64x256xq8_0>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>) {
  %w = milm.weight "w" : !milm.weight<64x256xq8_0>
  // expected-error @+1 {{'milm.linear' op result has 32 features but the weight produces 64}}
  %0 = milm.linear %x, %w : (tensor<?x256xf32>, !milm.weight<64x256xq8_0>) -> tensor<?x32xf32>
  return
}

// -----

func.func @f(%x: tensor<2x256xf32>) {
  %w = milm.weight "w" : !milm.weight<64x256xq8_0>
  // expected-error @+1 {{'milm.linear' op input has 2 tokens but the result has 3}}
  %0 = milm.linear %x, %w : (tensor<2x256xf32>, !milm.weight<64x256xq8_0>) -> tensor<3x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>) {
  %w = milm.weight "w" : !milm.weight<64x256xq8_0>
  %b = milm.weight "b" : !milm.weight<32xf32>
  // expected-error @+1 {{'milm.linear' op bias must be [64], got 32}}
  %0 = milm.linear %x, %w, %b : (tensor<?x256xf32>, !milm.weight<64x256xq8_0>, !milm.weight<32xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>) {
  %w = milm.weight "w" : !milm.weight<512x256xq6_k>
  // expected-error @+1 {{'milm.logits' op result has 500 features but the weight produces 512}}
  %0 = milm.logits %x, %w : (tensor<?x256xf32>, !milm.weight<512x256xq6_k>) -> tensor<?x500xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>) {
  %w = milm.weight "w" : !milm.weight<512xf32>
  // expected-error @+1 {{'milm.logits' op weight must be [vocab, in], got 512}}
  %0 = milm.logits %x, %w : (tensor<?x256xf32>, !milm.weight<512xf32>) -> tensor<?x512xf32>
  return
}

// -----

func.func @f(%x: tensor<?x250xf32>, %p: tensor<?xi32>) {
  // expected-error @+1 {{'milm.rope' op input has 250 features, not a whole number of heads of 32}}
  %0 = milm.rope %x, %p {base = 1.0e+04 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<norm>} : (tensor<?x250xf32>, tensor<?xi32>) -> tensor<?x250xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %p: tensor<?xi32>) {
  // expected-error @+1 {{'milm.rope' op rotary_dim 64 exceeds head_dim 32}}
  %0 = milm.rope %x, %p {base = 1.0e+04 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<norm>, rotary_dim = 64 : i64} : (tensor<?x256xf32>, tensor<?xi32>) -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %p: tensor<?xi32>) {
  // expected-error @+1 {{'milm.rope' op rotary_dim 15 must be even}}
  %0 = milm.rope %x, %p {base = 1.0e+04 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<norm>, rotary_dim = 15 : i64} : (tensor<?x256xf32>, tensor<?xi32>) -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %p: tensor<?xi32>) {
  // expected-error @+1 {{'milm.rope' op base must be greater than 1}}
  %0 = milm.rope %x, %p {base = 1.0 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<norm>} : (tensor<?x256xf32>, tensor<?xi32>) -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %p: tensor<?xi32>) {
  // expected-error @+1 {{'milm.rope' op has a scaling factor but no scaling}}
  %0 = milm.rope %x, %p {base = 1.0e+04 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<norm>, factor = 2.0 : f64} : (tensor<?x256xf32>, tensor<?xi32>) -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %p: tensor<?xi32>) {
  // expected-error @+1 {{'milm.rope' op scaling 'linear' needs a positive factor}}
  %0 = milm.rope %x, %p {base = 1.0e+04 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<norm>, scaling = #milm.rope_scaling<linear>} : (tensor<?x256xf32>, tensor<?xi32>) -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %p: tensor<?xi32>) {
  // expected-error @+1 {{'milm.rope' op scaling 'yarn' needs original_context}}
  %0 = milm.rope %x, %p {base = 1.0e+04 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<norm>, scaling = #milm.rope_scaling<yarn>, factor = 4.0 : f64} : (tensor<?x256xf32>, tensor<?xi32>) -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<4x256xf32>, %p: tensor<5xi32>) {
  // expected-error @+1 {{'milm.rope' op input has 4 tokens but positions has 5}}
  %0 = milm.rope %x, %p {base = 1.0e+04 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<norm>} : (tensor<4x256xf32>, tensor<5xi32>) -> tensor<4x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %p: tensor<?xi32>) {
  // expected-error @+1 {{'milm.rope' op attribute 'head_dim' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %0 = milm.rope %x, %p {base = 1.0e+04 : f64, head_dim = 0 : i64, pairing = #milm.rope_pairing<norm>} : (tensor<?x256xf32>, tensor<?xi32>) -> tensor<?x256xf32>
  return
}

// -----

!cache = !milm.kv_cache<layers = 2, kv_heads = 3, head_dim = 32, capacity = 512, element = f16>
func.func @f(%q: tensor<?x256xf32>, %k: tensor<?x96xf32>, %c: !cache, %p: tensor<?xi32>) {
  // expected-error @+1 {{'milm.attention' op num_heads (8) is not a multiple of num_kv_heads (3)}}
  %0 = milm.attention %q, %k, %k, %c, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 3 : i64, head_dim = 32 : i64} : (tensor<?x256xf32>, tensor<?x96xf32>, tensor<?x96xf32>, !cache, tensor<?xi32>) -> tensor<?x256xf32>
  return
}

// -----

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>
func.func @f(%q: tensor<?x192xf32>, %k: tensor<?x64xf32>, %c: !cache, %p: tensor<?xi32>) {
  // expected-error @+1 {{'milm.attention' op q has 192 features but num_heads x head_dim = 8 x 32 = 256}}
  %0 = milm.attention %q, %k, %k, %c, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64} : (tensor<?x192xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !cache, tensor<?xi32>) -> tensor<?x256xf32>
  return
}

// -----

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>
func.func @f(%q: tensor<?x256xf32>, %k: tensor<?x256xf32>, %v: tensor<?x64xf32>, %c: !cache, %p: tensor<?xi32>) {
  // expected-error @+1 {{'milm.attention' op k has 256 features but num_kv_heads x head_dim = 2 x 32 = 64}}
  %0 = milm.attention %q, %k, %v, %c, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64} : (tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x64xf32>, !cache, tensor<?xi32>) -> tensor<?x256xf32>
  return
}

// -----

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>
func.func @f(%q: tensor<?x256xf32>, %k: tensor<?x64xf32>, %v: tensor<?x32xf32>, %c: !cache, %p: tensor<?xi32>) {
  // expected-error @+1 {{'milm.attention' op v has 32 features but num_kv_heads x head_dim = 2 x 32 = 64}}
  %0 = milm.attention %q, %k, %v, %c, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64} : (tensor<?x256xf32>, tensor<?x64xf32>, tensor<?x32xf32>, !cache, tensor<?xi32>) -> tensor<?x256xf32>
  return
}

// -----

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>
func.func @f(%q: tensor<?x256xf32>, %k: tensor<?x64xf32>, %c: !cache, %p: tensor<?xi32>) {
  // expected-error @+1 {{'milm.attention' op result has 64 features but num_heads x head_dim = 8 x 32 = 256}}
  %0 = milm.attention %q, %k, %k, %c, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64} : (tensor<?x256xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !cache, tensor<?xi32>) -> tensor<?x64xf32>
  return
}

// -----

!cache = !milm.kv_cache<layers = 2, kv_heads = 4, head_dim = 16, capacity = 512, element = f16>
func.func @f(%q: tensor<?x256xf32>, %k: tensor<?x64xf32>, %c: !cache, %p: tensor<?xi32>) {
  // expected-error @+1 {{'milm.attention' op KV cache holds 4 kv heads of dimension 16 but the op has 2 of dimension 32}}
  %0 = milm.attention %q, %k, %k, %c, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64} : (tensor<?x256xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !cache, tensor<?xi32>) -> tensor<?x256xf32>
  return
}

// -----

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>
func.func @f(%q: tensor<?x256xf32>, %k: tensor<?x64xf32>, %c: !cache, %p: tensor<?xi32>) {
  // expected-error @+1 {{'milm.attention' op layer 2 is outside the KV cache's 2 layers}}
  %0 = milm.attention %q, %k, %k, %c, %p {layer = 2 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64} : (tensor<?x256xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !cache, tensor<?xi32>) -> tensor<?x256xf32>
  return
}

// -----

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>
func.func @f(%q: tensor<4x256xf32>, %k: tensor<4x64xf32>, %c: !cache, %p: tensor<4xi32>, %m: tensor<4x4xi1>) {
  // expected-error @+1 {{'milm.attention' op a tree_mask operand goes with mask = tree, and only with it}}
  %0 = milm.attention %q, %k, %k, %c, %p tree_mask(%m) {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64} : (tensor<4x256xf32>, tensor<4x64xf32>, tensor<4x64xf32>, !cache, tensor<4xi32>, tensor<4x4xi1>) -> tensor<4x256xf32>
  return
}

// -----

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>
func.func @f(%q: tensor<4x256xf32>, %k: tensor<4x64xf32>, %c: !cache, %p: tensor<4xi32>) {
  // expected-error @+1 {{'milm.attention' op a tree_mask operand goes with mask = tree, and only with it}}
  %0 = milm.attention %q, %k, %k, %c, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, mask = #milm.mask<tree>} : (tensor<4x256xf32>, tensor<4x64xf32>, tensor<4x64xf32>, !cache, tensor<4xi32>) -> tensor<4x256xf32>
  return
}

// -----

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>
func.func @f(%q: tensor<4x256xf32>, %k: tensor<4x64xf32>, %c: !cache, %p: tensor<4xi32>, %m: tensor<4x3xi1>) {
  // expected-error @+1 {{'milm.attention' op tree_mask must be [tokens, tokens], got 4x3 for 4 tokens}}
  %0 = milm.attention %q, %k, %k, %c, %p tree_mask(%m) {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, mask = #milm.mask<tree>} : (tensor<4x256xf32>, tensor<4x64xf32>, tensor<4x64xf32>, !cache, tensor<4xi32>, tensor<4x3xi1>) -> tensor<4x256xf32>
  return
}

// -----

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>
func.func @f(%q: tensor<?x256xf32>, %k: tensor<?x64xf32>, %c: !cache, %p: tensor<?xi32>) {
  // expected-error @+1 {{'milm.attention' op scale must be positive}}
  %0 = milm.attention %q, %k, %k, %c, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, scale = -1.0 : f64} : (tensor<?x256xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !cache, tensor<?xi32>) -> tensor<?x256xf32>
  return
}

// -----

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>
func.func @f(%q: tensor<4x256xf32>, %k: tensor<3x64xf32>, %v: tensor<4x64xf32>, %c: !cache, %p: tensor<4xi32>) {
  // expected-error @+1 {{'milm.attention' op q has 4 tokens but k has 3}}
  %0 = milm.attention %q, %k, %v, %c, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64} : (tensor<4x256xf32>, tensor<3x64xf32>, tensor<4x64xf32>, !cache, tensor<4xi32>) -> tensor<4x256xf32>
  return
}

// -----

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>
func.func @f(%q: tensor<4x256xf32>, %k: tensor<4x64xf32>, %c: !cache, %p: tensor<2xi32>) {
  // expected-error @+1 {{'milm.attention' op q has 4 tokens but positions has 2}}
  %0 = milm.attention %q, %k, %k, %c, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64} : (tensor<4x256xf32>, tensor<4x64xf32>, tensor<4x64xf32>, !cache, tensor<2xi32>) -> tensor<4x256xf32>
  return
}

// -----

func.func @f(%a: tensor<?x512xf32>, %b: tensor<?x256xf32>) {
  // expected-error @+1 {{'milm.swiglu' op failed to verify that all of {gate, up, result} have same type}}
  %0 = milm.swiglu %a, %b : (tensor<?x512xf32>, tensor<?x256xf32>) -> tensor<?x512xf32>
  return
}

// -----

func.func @f(%a: tensor<?x256xf32>, %b: tensor<4x256xf32>) {
  // expected-error @+1 {{'milm.add' op failed to verify that all of {lhs, rhs, result} have same type}}
  %0 = milm.add %a, %b : (tensor<?x256xf32>, tensor<4x256xf32>) -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>) {
  %r = milm.weight "r" : !milm.weight<8xf32>
  %g = milm.weight "g" : !milm.weight<8x512x256xq4_0>
  %d = milm.weight "d" : !milm.weight<8x256x512xq4_0>
  // expected-error @+1 {{'milm.moe' op router must be [experts, hidden], got 8}}
  %0 = milm.moe %x, %r, %g, %g, %d {top_k = 2 : i64} : (tensor<?x256xf32>, !milm.weight<8xf32>, !milm.weight<8x512x256xq4_0>, !milm.weight<8x512x256xq4_0>, !milm.weight<8x256x512xq4_0>) -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x128xf32>) {
  %r = milm.weight "r" : !milm.weight<8x256xf32>
  %g = milm.weight "g" : !milm.weight<8x512x256xq4_0>
  %d = milm.weight "d" : !milm.weight<8x256x512xq4_0>
  // expected-error @+1 {{'milm.moe' op input has 128 features but the router expects 256}}
  %0 = milm.moe %x, %r, %g, %g, %d {top_k = 2 : i64} : (tensor<?x128xf32>, !milm.weight<8x256xf32>, !milm.weight<8x512x256xq4_0>, !milm.weight<8x512x256xq4_0>, !milm.weight<8x256x512xq4_0>) -> tensor<?x128xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>) {
  %r = milm.weight "r" : !milm.weight<8x256xf32>
  %g = milm.weight "g" : !milm.weight<8x512x256xq4_0>
  %d = milm.weight "d" : !milm.weight<8x256x512xq4_0>
  // expected-error @+1 {{'milm.moe' op result type 'tensor<2x256xf32>' differs from input type 'tensor<?x256xf32>'}}
  %0 = milm.moe %x, %r, %g, %g, %d {top_k = 2 : i64} : (tensor<?x256xf32>, !milm.weight<8x256xf32>, !milm.weight<8x512x256xq4_0>, !milm.weight<8x512x256xq4_0>, !milm.weight<8x256x512xq4_0>) -> tensor<2x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>) {
  %r = milm.weight "r" : !milm.weight<8x256xf32>
  %g = milm.weight "g" : !milm.weight<8x512x256xq4_0>
  %d = milm.weight "d" : !milm.weight<8x256x512xq4_0>
  // expected-error @+1 {{'milm.moe' op top_k 9 exceeds the 8 experts}}
  %0 = milm.moe %x, %r, %g, %g, %d {top_k = 9 : i64} : (tensor<?x256xf32>, !milm.weight<8x256xf32>, !milm.weight<8x512x256xq4_0>, !milm.weight<8x512x256xq4_0>, !milm.weight<8x256x512xq4_0>) -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>) {
  %r = milm.weight "r" : !milm.weight<8x256xf32>
  %g = milm.weight "g" : !milm.weight<512x256xq4_0>
  %d = milm.weight "d" : !milm.weight<8x256x512xq4_0>
  // expected-error @+1 {{'milm.moe' op gate_exps must be [experts, ffn, hidden], got 512x256}}
  %0 = milm.moe %x, %r, %g, %g, %d {top_k = 2 : i64} : (tensor<?x256xf32>, !milm.weight<8x256xf32>, !milm.weight<512x256xq4_0>, !milm.weight<512x256xq4_0>, !milm.weight<8x256x512xq4_0>) -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>) {
  %r = milm.weight "r" : !milm.weight<8x256xf32>
  %g = milm.weight "g" : !milm.weight<8x512x256xq4_0>
  %u = milm.weight "u" : !milm.weight<4x512x256xq4_0>
  %d = milm.weight "d" : !milm.weight<8x256x512xq4_0>
  // expected-error @+1 {{'milm.moe' op up_exps must be 8x512x256, got 4x512x256}}
  %0 = milm.moe %x, %r, %g, %u, %d {top_k = 2 : i64} : (tensor<?x256xf32>, !milm.weight<8x256xf32>, !milm.weight<8x512x256xq4_0>, !milm.weight<4x512x256xq4_0>, !milm.weight<8x256x512xq4_0>) -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>) {
  %r = milm.weight "r" : !milm.weight<8x256xf32>
  %g = milm.weight "g" : !milm.weight<8x512x256xq4_0>
  // expected-error @+1 {{'milm.moe' op down_exps must be 8x256x512, got 8x512x256}}
  %0 = milm.moe %x, %r, %g, %g, %g {top_k = 2 : i64} : (tensor<?x256xf32>, !milm.weight<8x256xf32>, !milm.weight<8x512x256xq4_0>, !milm.weight<8x512x256xq4_0>, !milm.weight<8x512x256xq4_0>) -> tensor<?x256xf32>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{'milm.weight' op is stacked from 2 files and 2 offsets but its outermost dimension is 3}}
  %0 = milm.weight "w" stacked from ["a", "b"] at [0, 64] : !milm.weight<3x32xf32>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{'milm.weight' op is either in one place or stacked from parts, not both}}
  %0 = milm.weight "w" from "a" at 0 stacked from ["a", "b"] at [0, 64] : !milm.weight<2x32xf32>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{'milm.weight' op gives stacked part files without offsets or offsets without files}}
  %0 = "milm.weight"() <{name = "w", part_files = ["a", "b"]}> : () -> !milm.weight<2x32xf32>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{'milm.weight' op has a negative part offset -64}}
  %0 = milm.weight "w" stacked from ["a", "b"] at [0, -64] : !milm.weight<2x32xf32>
  return
}

// -----

func.func @hadamard_block(%a: tensor<?x1280xf32>) {
  // expected-error @+1 {{'milm.hadamard' op block 384 is not a power of two}}
  %h = milm.hadamard %a {block = 384 : i64} : (tensor<?x1280xf32>) -> tensor<?x1280xf32>
  return
}

// -----

func.func @hadamard_divides(%a: tensor<?x1280xf32>) {
  // expected-error @+1 {{'milm.hadamard' op block 512 does not divide the row length 1280}}
  %h = milm.hadamard %a {block = 512 : i64} : (tensor<?x1280xf32>) -> tensor<?x1280xf32>
  return
}

// -----

func.func @outlier_columns_order(%x: tensor<?x512xf32>, %y: tensor<?x64xf32>) {
  %s = milm.weight "s" : !milm.weight<64x2xf16>
  // expected-error @+1 {{'milm.outlier_columns' op columns must be ascending and distinct (100 then 3)}}
  %z = milm.outlier_columns %y, %x, %s {columns = array<i64: 100, 3>} : (tensor<?x64xf32>, tensor<?x512xf32>, !milm.weight<64x2xf16>) -> tensor<?x64xf32>
  return
}

// -----

func.func @outlier_columns_range(%x: tensor<?x512xf32>, %y: tensor<?x64xf32>) {
  %s = milm.weight "s" : !milm.weight<64x2xf16>
  // expected-error @+1 {{'milm.outlier_columns' op column 512 is outside the input's 512}}
  %z = milm.outlier_columns %y, %x, %s {columns = array<i64: 3, 512>} : (tensor<?x64xf32>, tensor<?x512xf32>, !milm.weight<64x2xf16>) -> tensor<?x64xf32>
  return
}

// -----

func.func @outlier_columns_count(%x: tensor<?x512xf32>, %y: tensor<?x64xf32>) {
  %s = milm.weight "s" : !milm.weight<64x3xf16>
  // expected-error @+1 {{'milm.outlier_columns' op 2 columns but side has 3}}
  %z = milm.outlier_columns %y, %x, %s {columns = array<i64: 3, 5>} : (tensor<?x64xf32>, tensor<?x512xf32>, !milm.weight<64x3xf16>) -> tensor<?x64xf32>
  return
}

// -----

func.func @outlier_columns_side(%x: tensor<?x512xf32>, %y: tensor<?x64xf32>) {
  %s = milm.weight "s" : !milm.weight<32x2xf16>
  // expected-error @+1 {{'milm.outlier_columns' op side has 32 rows, the partial result 64 columns}}
  %z = milm.outlier_columns %y, %x, %s {columns = array<i64: 3, 5>} : (tensor<?x64xf32>, tensor<?x512xf32>, !milm.weight<32x2xf16>) -> tensor<?x64xf32>
  return
}

// -----

func.func @outlier_columns_format(%x: tensor<?x512xf32>, %y: tensor<?x64xf32>) {
  %s = milm.weight "s" : !milm.weight<64x2xf32>
  // expected-error @+1 {{'milm.outlier_columns' op side must be f16, got f32}}
  %z = milm.outlier_columns %y, %x, %s {columns = array<i64: 3, 5>} : (tensor<?x64xf32>, tensor<?x512xf32>, !milm.weight<64x2xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @columns_outside(%a: tensor<?x768xf32>) {
  // expected-error @+1 {{'milm.columns' op columns [640, 896) are outside the input's 768}}
  %c = milm.columns %a {offset = 640 : i64, size = 256 : i64} : (tensor<?x768xf32>) -> tensor<?x256xf32>
  return
}

// -----

func.func @columns_size(%a: tensor<?x768xf32>) {
  // expected-error @+1 {{'milm.columns' op result has 128 columns but size is 256}}
  %c = milm.columns %a {offset = 0 : i64, size = 256 : i64} : (tensor<?x768xf32>) -> tensor<?x128xf32>
  return
}
