// The pattern of milm.embedding (MilmToCPU/Embedding.cpp) and of milm.logits
// (MilmToCPU/Logits.cpp), on IR with the plan written in by hand.
// RUN: milm-opt %s --milm-convert-to-cpu | FileCheck %s

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 2, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> attributes {milm.cpu_plan = {arena_bytes = 8192 : i64, max_tokens = 4 : i64, moe_offset = 7168 : i64, weights_bytes = 65536 : i64, xq_offset = 7000 : i64}} {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" {milm.section_offset = 128 : i64} : !milm.weight<256x64xq8_0>
    %x = milm.embedding %emb, %tokens {milm.arena_offset = 0 : i64} : (!milm.weight<256x64xq8_0>, tensor<?xi32>) -> tensor<?x64xf32>
    %l = milm.logits %x, %emb : (tensor<?x64xf32>, !milm.weight<256x64xq8_0>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// CHECK: func.func @milm_forward(%[[EX:[^:]*]]: !llvm.ptr, %[[W:[^:]*]]: memref<65536xi8>, %{{[^:]*}}: memref<{{[0-9]+}}xi8>, %[[ARENA:[^:]*]]: memref<8192xi8>, %[[TOK:[^:]*]]: memref<4xi32>, %{{[^:]*}}: memref<4xi32>, %[[T:[^:]*]]: i64, %[[ALL:[^:]*]]: i32, %[[LOGITS:[^:]*]]: !llvm.ptr)
// The table: q8_0 (8), 256 rows x 68 bytes at section offset 128; 64 floats a
// row, the call's token ids, T of them, into the arena at 0.
// CHECK: %[[F:.*]] = arith.constant 8 : i32
// CHECK: memref.view %[[W]][%c128{{(_[0-9]+)?}}][] : memref<65536xi8> to memref<17408xi8>
// CHECK: %[[DIM:.*]] = arith.constant 64 : i64
// CHECK: memref.extract_aligned_pointer_as_index %[[TOK]]
// CHECK: %[[X:.*]] = memref.view %[[ARENA]][%c0{{(_[0-9]+)?}}][] : memref<8192xi8> to memref<4x64xf32>
// CHECK: func.call @milm_op_embedding(%[[F]], %{{.*}}, %[[DIM]], %{{.*}}, %[[T]], %{{.*}})
// The logits: the xq scratch, the same table, x, K = 64, N = 256, the
// caller's buffer and its all-rows flag.
// CHECK: memref.view %[[ARENA]][%c7000{{(_[0-9]+)?}}][]
// CHECK: %[[F2:.*]] = arith.constant 8 : i32
// CHECK: memref.extract_aligned_pointer_as_index %[[X]]
// CHECK: %[[K:.*]] = arith.constant 64 : i64
// CHECK: %[[N:.*]] = arith.constant 256 : i64
// CHECK: func.call @milm_op_logits(%[[EX]], %[[F2]], %{{.*}}, %{{.*}}, %[[T]], %[[K]], %[[N]], %[[LOGITS]], %[[ALL]], %{{.*}})
// @forward returned the logits; milm_forward returns 0 (done) in their place.
// CHECK: %[[OK:.*]] = arith.constant 0 : i32
// CHECK: scf.yield %[[OK]] : i32
// CHECK-NOT: milm.
