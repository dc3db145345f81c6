// milm-cpu-plan-buffers refuses one weight name with two types.
// RUN: milm-opt %s --split-input-file --milm-cpu-plan-buffers -verify-diagnostics
// RUN: not milm-opt %s --split-input-file --milm-cpu-plan-buffers=max-tokens=0 2>&1 | FileCheck %s --check-prefix=ZERO
// ZERO: max-tokens must be at least 1

!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    // expected-error @+1 {{'milm.weight' op cannot be compiled for the CPU: weight 'token_embd.weight' is referenced with two types}}
    %emb2 = milm.weight "token_embd.weight" : !milm.weight<256x64xf16>
    %l = milm.logits %x, %emb2 : (tensor<?x64xf32>, !milm.weight<256x64xf16>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}
