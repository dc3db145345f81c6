// The patterns of milm.rope (MilmToCPU/Rope.cpp) and milm.attention
// (MilmToCPU/Attention.cpp).
// RUN: milm-opt %s --milm-convert-to-cpu | FileCheck %s

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 2, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> attributes {milm.cpu_plan = {arena_bytes = 8192 : i64, max_tokens = 4 : i64, moe_offset = 7168 : i64, weights_bytes = 65536 : i64, xq_offset = 7000 : i64}} {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" {milm.section_offset = 0 : i64} : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens {milm.arena_offset = 0 : i64} : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    // In place, as planned: x's own buffer is rotated (normal pairing, 10000).
    %q = milm.rope %x, %pos {base = 1.0e+04 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<norm>, milm.arena_offset = 0 : i64, milm.in_place} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    // On a copy at 1024: neox, rotary 16 of 32, linear scaling x2.
    %k = milm.rope %q, %pos {base = 5.0e+05 : f64, head_dim = 32 : i64, rotary_dim = 16 : i64, pairing = #milm.rope_pairing<neox>, scaling = #milm.rope_scaling<linear>, factor = 2.0 : f64, milm.arena_offset = 1024 : i64} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    // Layer 1's slice of the cache: 2 (k, v) x 16 positions x 2 heads x 32 x 2 bytes = 4096 bytes at 4096.
    %a = milm.attention %q, %k, %q, %cache, %pos {layer = 1 : i64, num_heads = 2 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64, scale = 0.5 : f64, milm.arena_offset = 2048 : i64} : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !cache, tensor<?xi32>) -> tensor<?x64xf32>
    %l = milm.logits %a, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// CHECK: func.func @milm_forward(%[[EX:[^:]*]]: !llvm.ptr, %{{[^:]*}}: memref<65536xi8>, %[[KV:[^:]*]]: memref<8192xi8>, %[[ARENA:[^:]*]]: memref<8192xi8>, %{{[^:]*}}: memref<4xi32>, %[[POS:[^:]*]]: memref<4xi32>, %[[T:[^:]*]]: i64,
// CHECK: %[[X:.*]] = memref.view %[[ARENA]][%c0{{(_[0-9]+)?}}][] : memref<8192xi8> to memref<4x64xf32>
// CHECK: func.call @milm_op_embedding
// CHECK-NOT: linalg.copy
// CHECK: memref.extract_aligned_pointer_as_index %[[X]]
// CHECK: %[[H:.*]] = arith.constant 2 : i64
// CHECK: %[[HD:.*]] = arith.constant 32 : i64
// CHECK: memref.extract_aligned_pointer_as_index %[[POS]]
// CHECK: %[[NORM:.*]] = arith.constant 0 : i32
// CHECK: %[[ROT:.*]] = arith.constant 32 : i32
// CHECK: %[[BASE:.*]] = arith.constant 1.000000e+04 : f32
// CHECK: %[[NONE:.*]] = arith.constant 0 : i32
// CHECK: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK: %[[NOCTX:.*]] = arith.constant 0 : i32
// CHECK: func.call @milm_op_rope(%{{.*}}, %[[T]], %[[H]], %[[HD]], %{{.*}}, %[[NORM]], %[[ROT]], %[[BASE]], %[[NONE]], %[[ONE]], %[[NOCTX]])
// CHECK: %[[K:.*]] = memref.view %[[ARENA]][%c1024{{(_[0-9]+)?}}][] : memref<8192xi8> to memref<4x64xf32>
// CHECK: %[[FROM:.*]] = memref.subview %[[X]][0, 0] [%{{.*}}, 64] [1, 1]
// CHECK: %[[TO:.*]] = memref.subview %[[K]][0, 0] [%{{.*}}, 64] [1, 1]
// CHECK: linalg.copy ins(%[[FROM]] : {{.*}}) outs(%[[TO]] : {{.*}})
// CHECK: memref.extract_aligned_pointer_as_index %[[K]]
// CHECK: %[[NEOX:.*]] = arith.constant 1 : i32
// CHECK: %[[ROT16:.*]] = arith.constant 16 : i32
// CHECK: %[[BASE2:.*]] = arith.constant 5.000000e+05 : f32
// CHECK: %[[LIN:.*]] = arith.constant 1 : i32
// CHECK: %[[TWO:.*]] = arith.constant 2.000000e+00 : f32
// CHECK: func.call @milm_op_rope(%{{.*}}, %[[T]], %{{.*}}, %{{.*}}, %{{.*}}, %[[NEOX]], %[[ROT16]], %[[BASE2]], %[[LIN]], %[[TWO]], %{{.*}})
// CHECK: memref.view %[[KV]][%c4096{{(_[0-9]+)?}}][] : memref<8192xi8> to memref<4096xi8>
// CHECK: %[[CAP:.*]] = arith.constant 16 : i64
// CHECK: %[[SCALE:.*]] = arith.constant 5.000000e-01 : f32
// CHECK: %[[OUT:.*]] = memref.view %[[ARENA]][%c2048{{(_[0-9]+)?}}][] : memref<8192xi8> to memref<4x64xf32>
// CHECK: func.call @milm_op_attention(%[[EX]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[CAP]], %{{.*}}, %[[T]], %{{.*}}, %{{.*}}, %{{.*}}, %[[SCALE]], %{{.*}})
