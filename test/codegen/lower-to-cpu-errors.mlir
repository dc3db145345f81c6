// What the CPU lowering cannot compile yet is refused with a message naming the op.
// RUN: milm-opt %s --split-input-file --milm-lower-to-cpu -verify-diagnostics

!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 64, element = f32>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 64, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> {
  // expected-error @+1 {{'func.func' op the CPU runtime keeps the KV cache in f16, not 'f32'}}
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %l = milm.logits %x, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// -----

!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 64, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 64, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %n = milm.weight "n" : !milm.weight<64xf16>
    // expected-error @+1 {{'milm.rms_norm' op cannot be compiled for the CPU: norm weights must be f32}}
    %h = milm.rms_norm %x, %n {eps = 1.0e-05 : f64} : (tensor<?x64xf32>, !milm.weight<64xf16>) -> tensor<?x64xf32>
    %l = milm.logits %h, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// -----

!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 64, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 64, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    // expected-error @+1 {{'arith.constant' op cannot be compiled for the CPU: no CPU lowering for this op}}
    %mask = arith.constant dense<true> : tensor<4x4xi1>
    %emb = milm.weight "token_embd.weight" : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %l = milm.logits %x, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// -----

// expected-error @+1 {{'milm.model' op has no @forward function to compile}}
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 64, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> {
}
