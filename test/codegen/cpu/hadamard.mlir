// The pattern of milm.hadamard (MilmToCPU/Hadamard.cpp): the input copied
// into the result's buffer, then milm_op_hadamard in place on T rows.
// RUN: milm-opt %s --milm-convert-to-cpu | FileCheck %s

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 2, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> attributes {milm.cpu_plan = {arena_bytes = 8192 : i64, max_tokens = 4 : i64, moe_offset = 7168 : i64, weights_bytes = 65536 : i64, xq_offset = 7000 : i64}} {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" {milm.section_offset = 0 : i64} : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens {milm.arena_offset = 0 : i64} : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %h = milm.hadamard %x {block = 32 : i64, milm.arena_offset = 1024 : i64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
    %l = milm.logits %h, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// CHECK: %[[TI:.*]] = arith.index_cast
// CHECK: %[[X:.*]] = memref.view %{{.*}}[%c0{{(_[0-9]+)?}}][] : memref<8192xi8> to memref<4x64xf32>
// CHECK: func.call @milm_op_embedding
// CHECK: %[[H:.*]] = memref.view %{{.*}}[%c1024{{(_[0-9]+)?}}][] : memref<8192xi8> to memref<4x64xf32>
// CHECK: %[[XR:.*]] = memref.subview %[[X]][0, 0] [%[[TI]], 64] [1, 1]
// CHECK: %[[HR:.*]] = memref.subview %[[H]][0, 0] [%[[TI]], 64] [1, 1]
// CHECK: linalg.copy ins(%[[XR]] : {{.*}}) outs(%[[HR]] : {{.*}})
// CHECK: memref.extract_aligned_pointer_as_index %[[H]]
// CHECK: func.call @milm_op_hadamard(%{{.*}}, %{{.*}}, %c64_i64{{(_[0-9]+)?}}, %c32_i64{{(_[0-9]+)?}})
// CHECK: func.call @milm_op_logits
