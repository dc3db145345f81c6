// Every error of milm's types and attributes.
// RUN: milm-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{unknown weight storage format 'q3_k'; expected one of f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k}}
func.func private @f(!milm.weight<64x256xq3_k>)

// -----

// expected-error @+1 {{a weight needs at least one dimension}}
func.func private @f(!milm.weight<f32>)

// -----

// expected-error @+1 {{a weight has at most 4 dimensions, got 5}}
func.func private @f(!milm.weight<2x2x2x2x32xf32>)

// -----

// expected-error @+1 {{weight dimensions must be positive, got 0}}
func.func private @f(!milm.weight<0x32xq8_0>)

// -----

// expected-error @+1 {{innermost dimension 100 of a q4_0 weight is not a multiple of its block size 32}}
func.func private @f(!milm.weight<64x100xq4_0>)

// -----

// expected-error @+1 {{innermost dimension 128 of a q6_k weight is not a multiple of its block size 256}}
func.func private @f(!milm.weight<64x128xq6_k>)

// -----

// expected-error @+1 {{KV cache layers (2), kv_heads (0), head_dim (32) and capacity (512) must all be positive}}
func.func private @f(!milm.kv_cache<layers = 2, kv_heads = 0, head_dim = 32, capacity = 512, element = f16>)

// -----

// expected-error @+1 {{KV cache elements must be f32, f16 or bf16, got 'i8'}}
func.func private @f(!milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = i8>)

// -----

// expected-error @+1 {{model config needs an architecture name}}
milm.model @m #milm.config<arch = "", vocab_size = 512, context_length = 512, hidden_size = 256, num_layers = 2, num_heads = 8, num_kv_heads = 2, head_dim = 32, ffn_size = 512> {
}

// -----

// expected-error @+1 {{model config vocab_size must be positive, got 0}}
milm.model @m #milm.config<arch = "llama", vocab_size = 0, context_length = 512, hidden_size = 256, num_layers = 2, num_heads = 8, num_kv_heads = 2, head_dim = 32, ffn_size = 512> {
}

// -----

// expected-error @+1 {{model config head_dim must be positive, got -32}}
milm.model @m #milm.config<arch = "llama", vocab_size = 512, context_length = 512, hidden_size = 256, num_layers = 2, num_heads = 8, num_kv_heads = 2, head_dim = -32, ffn_size = 512> {
}

// -----

// expected-error @+1 {{model config num_heads (8) is not a multiple of num_kv_heads (3)}}
milm.model @m #milm.config<arch = "llama", vocab_size = 512, context_length = 512, hidden_size = 256, num_layers = 2, num_heads = 8, num_kv_heads = 3, head_dim = 32, ffn_size = 512> {
}

// -----

// expected-error @+1 {{model config num_experts (4) and experts_used (0) must both be zero (dense) or both positive}}
milm.model @m #milm.config<arch = "llama", vocab_size = 512, context_length = 512, hidden_size = 256, num_layers = 2, num_heads = 8, num_kv_heads = 2, head_dim = 32, ffn_size = 512, num_experts = 4> {
}

// -----

// expected-error @+1 {{model config experts_used (5) exceeds num_experts (4)}}
milm.model @m #milm.config<arch = "llama", vocab_size = 512, context_length = 512, hidden_size = 256, num_layers = 2, num_heads = 8, num_kv_heads = 2, head_dim = 32, ffn_size = 512, num_experts = 4, experts_used = 5> {
}

// -----

// expected-error @+1 {{model config expert counts must not be negative}}
milm.model @m #milm.config<arch = "llama", vocab_size = 512, context_length = 512, hidden_size = 256, num_layers = 2, num_heads = 8, num_kv_heads = 2, head_dim = 32, ffn_size = 512, num_experts = -1, experts_used = 2> {
}

// -----

// expected-error @+1 {{model config special token id 512 is outside the vocabulary of 512}}
milm.model @m #milm.config<arch = "llama", vocab_size = 512, context_length = 512, hidden_size = 256, num_layers = 2, num_heads = 8, num_kv_heads = 2, head_dim = 32, ffn_size = 512, eos_token = 512> {
}

// -----

// Per-layer sizes (a structurally pruned model).
// expected-error @+1 {{KV cache layer_kv_heads has 3 entries for 2 layers}}
func.func private @f(!milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16, layer_kv_heads = [2, 1, 1]>)

// -----

// expected-error @+1 {{KV cache kv_heads (2) must be the largest entry of layer_kv_heads (1)}}
func.func private @f(!milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16, layer_kv_heads = [1, 1]>)

// -----

// expected-error @+1 {{KV cache layer_kv_heads[1] must be positive, got 0}}
func.func private @f(!milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 512, element = f16, layer_kv_heads = [2, 0]>)

// -----

// expected-error @+1 {{model config layer_heads has 1 entries for 2 layers}}
milm.model @m #milm.config<arch = "llama", vocab_size = 512, context_length = 512, hidden_size = 256, num_layers = 2, num_heads = 8, num_kv_heads = 2, head_dim = 32, ffn_size = 512, layer_heads = [8]> {
}

// -----

// expected-error @+1 {{model config ffn_size (512) must be the largest entry of layer_ffn (256)}}
milm.model @m #milm.config<arch = "llama", vocab_size = 512, context_length = 512, hidden_size = 256, num_layers = 2, num_heads = 8, num_kv_heads = 2, head_dim = 32, ffn_size = 512, layer_ffn = [256, 128]> {
}

// -----

// expected-error @+1 {{model config layer 1 has 6 heads, not a multiple of its 4 kv heads}}
milm.model @m #milm.config<arch = "llama", vocab_size = 512, context_length = 512, hidden_size = 256, num_layers = 2, num_heads = 8, num_kv_heads = 4, head_dim = 32, ffn_size = 512, layer_heads = [8, 6]> {
}
