// The patterns of milm.outlier_columns (MilmToCPU/OutlierColumns.cpp). The
// column indices become a private constant global. After a milm.linear whose
// only user it is (reading the same input), the linear's call does it
// (milm_op_linear's side, cols, k); otherwise the partial product is copied
// into the result's buffer and milm_op_outlier_columns adds the columns.
// RUN: milm-opt %s --split-input-file --milm-convert-to-cpu | FileCheck %s

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 2, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> attributes {milm.cpu_plan = {arena_bytes = 8192 : i64, max_tokens = 4 : i64, moe_offset = 7168 : i64, weights_bytes = 65536 : i64, xq_offset = 7000 : i64}} {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" {milm.section_offset = 0 : i64} : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens {milm.arena_offset = 0 : i64} : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %w = milm.weight "d.weight" {milm.section_offset = 32768 : i64} : !milm.weight<64x64xq4_0>
    %y = milm.linear %x, %w {milm.arena_offset = 1024 : i64} : (tensor<?x64xf32>, !milm.weight<64x64xq4_0>) -> tensor<?x64xf32>
    %s = milm.weight "d.weight.outliers" {milm.section_offset = 40960 : i64} : !milm.weight<64x2xf16>
    %z = milm.outlier_columns %y, %x, %s {columns = array<i64: 5, 60>, milm.arena_offset = 2048 : i64} : (tensor<?x64xf32>, tensor<?x64xf32>, !milm.weight<64x2xf16>) -> tensor<?x64xf32>
    %l = milm.logits %z, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// CHECK: memref.global "private" constant @milm_outlier_columns_0 : memref<2xi32> = dense<[5, 60]>
// CHECK: func.call @milm_op_embedding
// CHECK: %[[COLS:.*]] = memref.get_global @milm_outlier_columns_0 : memref<2xi32>
// CHECK: memref.extract_aligned_pointer_as_index %[[COLS]]
// CHECK: func.call @milm_op_linear(%{{.*}}, %c2_i64{{(_[0-9]+)?}})
// CHECK-NOT: milm_op_outlier_columns
// CHECK: func.call @milm_op_logits

// -----

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 2, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> attributes {milm.cpu_plan = {arena_bytes = 8192 : i64, max_tokens = 4 : i64, moe_offset = 7168 : i64, weights_bytes = 65536 : i64, xq_offset = 7000 : i64}} {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" {milm.section_offset = 0 : i64} : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens {milm.arena_offset = 0 : i64} : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %w = milm.weight "d.weight" {milm.section_offset = 32768 : i64} : !milm.weight<64x64xq4_0>
    %y = milm.linear %x, %w {milm.arena_offset = 1024 : i64} : (tensor<?x64xf32>, !milm.weight<64x64xq4_0>) -> tensor<?x64xf32>
    %s = milm.weight "d.weight.outliers" {milm.section_offset = 40960 : i64} : !milm.weight<64x2xf16>
    %z = milm.outlier_columns %y, %x, %s {columns = array<i64: 5, 60>, milm.arena_offset = 2048 : i64} : (tensor<?x64xf32>, tensor<?x64xf32>, !milm.weight<64x2xf16>) -> tensor<?x64xf32>
    %r = milm.add %z, %y {milm.arena_offset = 3072 : i64} : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    %l = milm.logits %r, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// The product has another user: no fusion.
// CHECK: memref.global "private" constant @milm_outlier_columns_0 : memref<2xi32> = dense<[5, 60]>
// CHECK: func.call @milm_op_linear(%{{.*}}, %c0_i64{{(_[0-9]+)?}})
// CHECK: %[[COLS2:.*]] = memref.get_global @milm_outlier_columns_0 : memref<2xi32>
// CHECK: memref.extract_aligned_pointer_as_index %[[COLS2]]
// CHECK: %[[Z:.*]] = memref.view %{{.*}}[%c2048{{(_[0-9]+)?}}][] : memref<8192xi8> to memref<4x64xf32>
// CHECK: linalg.copy
// CHECK: func.call @milm_op_outlier_columns(%{{.*}}, %{{.*}}, %{{.*}}, %c2_i64{{(_[0-9]+)?}}, %{{.*}}, %{{.*}}, %c64_i64{{(_[0-9]+)?}}, %c64_i64{{(_[0-9]+)?}}, %{{.*}})
// CHECK: func.call @milm_op_logits
