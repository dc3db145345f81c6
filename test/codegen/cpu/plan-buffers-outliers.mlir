// milm-cpu-plan-buffers and milm.outlier_columns: after a linear whose only
// user it is (the linear's call adds the columns, MilmToCPU/OutlierColumns.cpp)
// the result is the product's region, in place, and that region stays live
// while the result is; otherwise the op gets a region of its own.
// RUN: milm-opt %s --milm-cpu-plan-buffers=max-tokens=4 | FileCheck %s

!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %w = milm.weight "d" : !milm.weight<64x64xq4_0>
    %s = milm.weight "d.outliers" : !milm.weight<64x2xf16>
    %y = milm.linear %x, %w : (tensor<?x64xf32>, !milm.weight<64x64xq4_0>) -> tensor<?x64xf32>
    %z = milm.outlier_columns %y, %x, %s {columns = array<i64: 1, 2>} : (tensor<?x64xf32>, tensor<?x64xf32>, !milm.weight<64x2xf16>) -> tensor<?x64xf32>
    %u = milm.linear %x, %w : (tensor<?x64xf32>, !milm.weight<64x64xq4_0>) -> tensor<?x64xf32>
    %v = milm.outlier_columns %u, %x, %s {columns = array<i64: 1, 2>} : (tensor<?x64xf32>, tensor<?x64xf32>, !milm.weight<64x2xf16>) -> tensor<?x64xf32>
    %r = milm.add %z, %u : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    %r2 = milm.add %r, %v : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    %l = milm.logits %r2, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// Regions of 4 x 64 floats (1024 bytes): x at 0, y at 1024 and z in place
// there; z's region (y's) is not handed out while z lives, so u goes to 2048;
// v (u has another user) gets a region of its own at 3072; r takes x's, dead
// after v, and r2 z's, dead after r.
// CHECK: milm.linear {{.*}}milm.arena_offset = 1024 : i64}
// CHECK: milm.outlier_columns {{.*}}milm.arena_offset = 1024 : i64, milm.in_place}
// CHECK: milm.linear {{.*}}milm.arena_offset = 2048 : i64, milm.xq_ready}
// CHECK: milm.outlier_columns {{.*}}milm.arena_offset = 3072 : i64}
// CHECK: milm.add {{.*}}milm.arena_offset = 0 : i64}
// CHECK: milm.add {{.*}}milm.arena_offset = 1024 : i64}
