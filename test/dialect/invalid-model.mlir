// The model verifier checks the ops inside against the model config.
// RUN: milm-opt %s -split-input-file -verify-diagnostics

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 512, context_length = 512, hidden_size = 256, num_layers = 2, num_heads = 8, num_kv_heads = 4, head_dim = 32, ffn_size = 512> {
  func.func @forward(%q: tensor<?x256xf32>, %k: tensor<?x64xf32>, %c: !cache, %p: tensor<?xi32>) -> tensor<?x256xf32> {
    // expected-error @+1 {{'milm.attention' op has 8 heads, 2 kv heads of dimension 32 but the model config says 8, 4 and 32}}
    %0 = milm.attention %q, %k, %k, %c, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64} : (tensor<?x256xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !cache, tensor<?xi32>) -> tensor<?x256xf32>
    return %0 : tensor<?x256xf32>
  }
}

// -----

!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 512, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 512, context_length = 512, hidden_size = 256, num_layers = 2, num_heads = 8, num_kv_heads = 2, head_dim = 32, ffn_size = 512> {
  func.func @forward(%q: tensor<?x256xf32>, %k: tensor<?x64xf32>, %c: !cache, %p: tensor<?xi32>) -> tensor<?x256xf32> {
    // expected-error @+1 {{'milm.attention' op uses a KV cache of 1 layers but the model has 2}}
    %0 = milm.attention %q, %k, %k, %c, %p {layer = 0 : i64, num_heads = 8 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64} : (tensor<?x256xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !cache, tensor<?xi32>) -> tensor<?x256xf32>
    return %0 : tensor<?x256xf32>
  }
}

// -----

milm.model @m #milm.config<arch = "llama", vocab_size = 512, context_length = 512, hidden_size = 256, num_layers = 2, num_heads = 8, num_kv_heads = 2, head_dim = 32, ffn_size = 512> {
  func.func @forward(%t: tensor<?xi32>) -> tensor<?x256xf32> {
    %w = milm.weight "token_embd.weight" : !milm.weight<1000x256xf16>
    // expected-error @+1 {{'milm.embedding' op looks up a table of 1000 rows but the model's vocab_size is 512}}
    %0 = milm.embedding %w, %t : (!milm.weight<1000x256xf16>, tensor<?xi32>) -> tensor<?x256xf32>
    return %0 : tensor<?x256xf32>
  }
}

// -----

milm.model @m #milm.config<arch = "llama", vocab_size = 512, context_length = 512, hidden_size = 256, num_layers = 2, num_heads = 8, num_kv_heads = 2, head_dim = 32, ffn_size = 512> {
  func.func @forward(%x: tensor<?x256xf32>) -> tensor<?x1000xf32> {
    %w = milm.weight "output.weight" : !milm.weight<1000x256xf16>
    // expected-error @+1 {{'milm.logits' op produces 1000 logits but the model's vocab_size is 512}}
    %0 = milm.logits %x, %w : (tensor<?x256xf32>, !milm.weight<1000x256xf16>) -> tensor<?x1000xf32>
    return %0 : tensor<?x1000xf32>
  }
}

// -----

milm.model @m #milm.config<arch = "llama", vocab_size = 512, context_length = 512, hidden_size = 256, num_layers = 2, num_heads = 8, num_kv_heads = 2, head_dim = 32, ffn_size = 512, num_experts = 8, experts_used = 2> {
  func.func @forward(%x: tensor<?x256xf32>) -> tensor<?x256xf32> {
    %r = milm.weight "r" : !milm.weight<8x256xf32>
    %g = milm.weight "g" : !milm.weight<8x512x256xq4_0>
    %d = milm.weight "d" : !milm.weight<8x256x512xq4_0>
    // expected-error @+1 {{'milm.moe' op routes to top 4 of 8 experts but the model config says top 2 of 8}}
    %0 = milm.moe %x, %r, %g, %g, %d {top_k = 4 : i64} : (tensor<?x256xf32>, !milm.weight<8x256xf32>, !milm.weight<8x512x256xq4_0>, !milm.weight<8x512x256xq4_0>, !milm.weight<8x256x512xq4_0>) -> tensor<?x256xf32>
    return %0 : tensor<?x256xf32>
  }
}
