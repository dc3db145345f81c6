// A residual stream read by an elementwise op (not through a norm or a
// product): milm-rotate refuses it and writes nothing.
!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %s = milm.swiglu %x, %x : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    %l = milm.logits %s, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}
