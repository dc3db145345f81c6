// milm-convert-to-cpu refuses IR without the plan, or with a plan it cannot
// follow, with a message at the op; nothing is rewritten.
// RUN: milm-opt %s --split-input-file --milm-convert-to-cpu -verify-diagnostics

!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
// expected-error @+1 {{'milm.model' op has no complete milm.cpu_plan (max_tokens, arena_bytes, weights_bytes, xq_offset, moe_offset): run milm-cpu-plan-buffers first}}
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %l = milm.logits %x, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// -----

!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> attributes {milm.cpu_plan = {arena_bytes = 8192 : i64, max_tokens = 4 : i64, moe_offset = 7168 : i64, weights_bytes = 65536 : i64, xq_offset = 7000 : i64}} {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" {milm.section_offset = 0 : i64} : !milm.weight<256x64xf32>
    // expected-error @+1 {{'milm.embedding' op has no milm.arena_offset: run milm-cpu-plan-buffers first}}
    %x = milm.embedding %emb, %tokens : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %l = milm.logits %x, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// -----

!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> attributes {milm.cpu_plan = {arena_bytes = 8192 : i64, max_tokens = 4 : i64, moe_offset = 7168 : i64, weights_bytes = 65536 : i64, xq_offset = 7000 : i64}} {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    // expected-error @+1 {{'milm.weight' op has no milm.section_offset: run milm-cpu-plan-buffers first}}
    %emb = milm.weight "token_embd.weight" : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens {milm.arena_offset = 0 : i64} : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %l = milm.logits %x, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// -----

!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> attributes {milm.cpu_plan = {arena_bytes = 8192 : i64, max_tokens = 4 : i64, moe_offset = 7168 : i64, weights_bytes = 65536 : i64, xq_offset = 7000 : i64}} {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" {milm.section_offset = 0 : i64} : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens {milm.arena_offset = 0 : i64} : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    // expected-error @+1 {{'milm.weight' op cannot be compiled for the CPU: its milm.layout 'q8_0x8' is not the packed layout of its format}}
    %w = milm.weight "w" {milm.section_offset = 65536 : i64, milm.layout = "q8_0x8"} : !milm.weight<64x64xq4_0>
    %y = milm.linear %x, %w {milm.arena_offset = 1024 : i64} : (tensor<?x64xf32>, !milm.weight<64x64xq4_0>) -> tensor<?x64xf32>
    %l = milm.logits %y, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// -----

!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> attributes {milm.cpu_plan = {arena_bytes = 8192 : i64, max_tokens = 4 : i64, moe_offset = 7168 : i64, weights_bytes = 65536 : i64, xq_offset = 7000 : i64}} {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" {milm.section_offset = 0 : i64} : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens {milm.arena_offset = 0 : i64} : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %w = milm.weight "w" {milm.section_offset = 65536 : i64} : !milm.weight<64x64xq4_0>
    %b = milm.weight "b" {milm.section_offset = 70000 : i64} : !milm.weight<64xf16>
    // expected-error @+1 {{'milm.linear' op cannot be compiled for the CPU: biases must be f32}}
    %y = milm.linear %x, %w, %b {milm.arena_offset = 1024 : i64} : (tensor<?x64xf32>, !milm.weight<64x64xq4_0>, !milm.weight<64xf16>) -> tensor<?x64xf32>
    %l = milm.logits %y, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// -----

!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> attributes {milm.cpu_plan = {arena_bytes = 8192 : i64, max_tokens = 4 : i64, moe_offset = 7168 : i64, weights_bytes = 65536 : i64, xq_offset = 7000 : i64}} {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x64xf32> {
    %emb = milm.weight "token_embd.weight" {milm.section_offset = 0 : i64} : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens {milm.arena_offset = 0 : i64} : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %l = milm.logits %x, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    // expected-error @+1 {{'func.return' op cannot be compiled for the CPU: @forward must return the result of its milm.logits}}
    return %x : tensor<?x64xf32>
  }
}
