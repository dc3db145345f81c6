// milm-cpu-plan-buffers: the weight section, the arena regions (first fit,
// reused once a value is dead), in-place rope, reuse of quantized activations
// and the scratch regions, as attributes on the milm IR.
// RUN: milm-opt %s --milm-cpu-plan-buffers=max-tokens=4 | FileCheck %s

!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" : !milm.weight<256x64xq8_0>
    %x = milm.embedding %emb, %tokens : (!milm.weight<256x64xq8_0>, tensor<?xi32>) -> tensor<?x64xf32>
    %wq = milm.weight "q" : !milm.weight<64x64xq8_0>
    %q = milm.linear %x, %wq : (tensor<?x64xf32>, !milm.weight<64x64xq8_0>) -> tensor<?x64xf32>
    %wk = milm.weight "k" : !milm.weight<64x64xq4_0>
    %k = milm.linear %x, %wk : (tensor<?x64xf32>, !milm.weight<64x64xq4_0>) -> tensor<?x64xf32>
    %wv = milm.weight "v" : !milm.weight<64x64xf16>
    %v = milm.linear %x, %wv : (tensor<?x64xf32>, !milm.weight<64x64xf16>) -> tensor<?x64xf32>
    %qr = milm.rope %q, %pos {base = 1.0e+04 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<norm>} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %kr = milm.rope %k, %pos {base = 1.0e+04 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<norm>} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %a = milm.attention %qr, %kr, %k, %cache, %pos {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64} : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !cache, tensor<?xi32>) -> tensor<?x64xf32>
    %r = milm.add %a, %v : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    %emb2 = milm.weight "token_embd.weight" : !milm.weight<256x64xq8_0>
    %l = milm.logits %r, %emb2 : (tensor<?x64xf32>, !milm.weight<256x64xq8_0>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// Activations are 4 rows x 64 floats = 1024 bytes. The weight section: the
// table (256 rows x 2 q8_0 blocks x 34 bytes = 17408) at 0, then q (64 x 68
// bytes), k (64 x 2 x 18) and v (64 x 64 x 2), each at a multiple of 64.
// The arena: x, q, k, v live together (0..4096), attention's result on top;
// the xq scratch after it holds 4 rows of the widest quantized activation row
// (q8_0's: 2 blocks x 36 bytes), aligned; no MoE scratch.
// CHECK: milm.model @m {{.*}}attributes {milm.cpu_plan = {arena_bytes = 5440 : i64, max_tokens = 4 : i64, moe_offset = 5440 : i64, weights_bytes = 32256 : i64, xq_offset = 5120 : i64}}
// CHECK: milm.weight "token_embd.weight" {milm.section_offset = 0 : i64}
// CHECK: milm.embedding {{.*}}{milm.arena_offset = 0 : i64}
// CHECK: milm.weight "q" {milm.section_offset = 17408 : i64}
// CHECK: milm.linear {{.*}}{milm.arena_offset = 1024 : i64}
// q4_0 quantizes its input as q8_0 does (36 bytes a block): k reuses q's.
// CHECK: milm.weight "k" {milm.section_offset = 21760 : i64}
// CHECK: milm.linear {{.*}}{milm.arena_offset = 2048 : i64, milm.xq_ready}
// f16 reads floats: nothing to reuse.
// CHECK: milm.weight "v" {milm.section_offset = 24064 : i64}
// CHECK: milm.linear {{.*}}{milm.arena_offset = 3072 : i64}
// CHECK-NOT: xq_ready
// q has no other user: roped in place. k is also attention's v: roped on a
// copy, in x's region (x's last user was v's product).
// CHECK: milm.rope {{.*}}milm.arena_offset = 1024 : i64, milm.in_place
// CHECK: milm.rope {{.*}}milm.arena_offset = 0 : i64, pairing
// The attention's operands die after it: its result goes on top.
// CHECK: milm.attention {{.*}}milm.arena_offset = 4096 : i64
// then the first free region (qr's) is reused.
// CHECK: milm.add {{.*}}{milm.arena_offset = 1024 : i64}
// The tied table is the same place; the logits go to the caller's buffer.
// CHECK: milm.weight "token_embd.weight" {milm.section_offset = 0 : i64}
// CHECK: milm.logits
// CHECK-NOT: milm.arena_offset
