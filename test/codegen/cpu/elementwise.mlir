// The patterns of milm.swiglu and milm.add (MilmToCPU/Elementwise.cpp):
// linalg.generic over the first T rows.
// RUN: milm-opt %s --milm-convert-to-cpu | FileCheck %s

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 2, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> attributes {milm.cpu_plan = {arena_bytes = 8192 : i64, max_tokens = 4 : i64, moe_offset = 7168 : i64, weights_bytes = 65536 : i64, xq_offset = 7000 : i64}} {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" {milm.section_offset = 0 : i64} : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens {milm.arena_offset = 0 : i64} : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %s = milm.swiglu %x, %x {milm.arena_offset = 1024 : i64} : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    %r = milm.add %x, %s {milm.arena_offset = 2048 : i64} : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    %l = milm.logits %r, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// CHECK: %[[TI:.*]] = arith.index_cast
// CHECK: %[[X:.*]] = memref.view %{{.*}}[%c0{{(_[0-9]+)?}}][] : memref<8192xi8> to memref<4x64xf32>
// CHECK: func.call @milm_op_embedding
// CHECK: %[[G:.*]] = memref.subview %[[X]][0, 0] [%[[TI]], 64] [1, 1]
// CHECK: %[[U:.*]] = memref.subview %[[X]][0, 0] [%[[TI]], 64] [1, 1]
// CHECK: %[[S:.*]] = memref.view %{{.*}}[%c1024{{(_[0-9]+)?}}][] : memref<8192xi8> to memref<4x64xf32>
// CHECK: %[[SR:.*]] = memref.subview %[[S]][0, 0] [%[[TI]], 64] [1, 1]
// CHECK: linalg.generic {{{.*}}iterator_types = ["parallel", "parallel"]} ins(%[[G]], %[[U]] : {{.*}}) outs(%[[SR]] : {{.*}})
// CHECK: ^bb0(%[[A:.*]]: f32, %[[B:.*]]: f32, %{{.*}}: f32):
// silu(a) * b, exp as a polynomial (no math.exp left)
// CHECK-NOT: math.exp
// CHECK: arith.negf %[[A]]
// CHECK: arith.divf %[[A]]
// CHECK: arith.mulf %{{.*}}, %[[B]]
// CHECK: linalg.yield
// CHECK: %[[R:.*]] = memref.view %{{.*}}[%c2048{{(_[0-9]+)?}}][] : memref<8192xi8> to memref<4x64xf32>
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : {{.*}}) outs(%{{.*}} : {{.*}})
// CHECK: arith.addf
// CHECK: linalg.yield
// CHECK: memref.extract_aligned_pointer_as_index %[[R]]
// CHECK: func.call @milm_op_logits
