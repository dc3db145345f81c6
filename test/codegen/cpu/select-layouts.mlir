// milm-cpu-select-layouts: with repack, product weights whose format has a
// packed layout and whose rows are a multiple of its group (8) are read in it;
// tables read by rows, formats without a layout and odd row counts are not.
// RUN: milm-opt %s --milm-cpu-select-layouts=repack=1 | FileCheck %s
// RUN: milm-opt %s --milm-cpu-select-layouts=repack=1 | milm-opt --milm-cpu-select-layouts | FileCheck %s --check-prefix=NOPACK

!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" : !milm.weight<256x64xq4_0>
    %x = milm.embedding %emb, %tokens : (!milm.weight<256x64xq4_0>, tensor<?xi32>) -> tensor<?x64xf32>
    %w1 = milm.weight "a" : !milm.weight<256x64xq4_0>
    %y1 = milm.linear %x, %w1 : (tensor<?x64xf32>, !milm.weight<256x64xq4_0>) -> tensor<?x256xf32>
    %w2 = milm.weight "b" : !milm.weight<256x256xq8_0>
    %y2 = milm.linear %y1, %w2 : (tensor<?x256xf32>, !milm.weight<256x256xq8_0>) -> tensor<?x256xf32>
    %w3 = milm.weight "c" : !milm.weight<256x256xq4_k>
    %y3 = milm.linear %y2, %w3 : (tensor<?x256xf32>, !milm.weight<256x256xq4_k>) -> tensor<?x256xf32>
    %w4 = milm.weight "d" : !milm.weight<64x256xq6_k>
    %y4 = milm.linear %y3, %w4 : (tensor<?x256xf32>, !milm.weight<64x256xq6_k>) -> tensor<?x64xf32>
    %w5 = milm.weight "e" : !milm.weight<64x64xq5_0>
    %y5 = milm.linear %y4, %w5 : (tensor<?x64xf32>, !milm.weight<64x64xq5_0>) -> tensor<?x64xf32>
    %w6 = milm.weight "f" : !milm.weight<60x64xq4_0>
    %y6 = milm.linear %y5, %w6 : (tensor<?x64xf32>, !milm.weight<60x64xq4_0>) -> tensor<?x60xf32>
    %emb2 = milm.weight "token_embd.weight" : !milm.weight<256x64xq4_0>
    %l = milm.logits %y5, %emb2 : (tensor<?x64xf32>, !milm.weight<256x64xq4_0>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// CHECK: milm.weight "token_embd.weight" :
// CHECK: milm.weight "a" {milm.layout = "q4_0x8"}
// CHECK: milm.weight "b" {milm.layout = "q8_0x8"}
// CHECK: milm.weight "c" {milm.layout = "q4_kx8"}
// CHECK: milm.weight "d" {milm.layout = "q6_kx8"}
// CHECK: milm.weight "e" :
// CHECK: milm.weight "f" :
// The tied table is also an embedding table: GGUF's layout for both uses.
// CHECK: milm.weight "token_embd.weight" :
// Without repack, annotations already there go.
// NOPACK-NOT: milm.layout
