// The pattern of milm.moe (MilmToCPU/MoE.cpp): one milm_op_moe call with
// the routing, the four weights and formats, the MoE and xq scratch regions.
// RUN: milm-opt %s --milm-convert-to-cpu | FileCheck %s

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 2, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128, num_experts = 4, experts_used = 2> attributes {milm.cpu_plan = {arena_bytes = 8192 : i64, max_tokens = 4 : i64, moe_offset = 7168 : i64, weights_bytes = 139264 : i64, xq_offset = 7000 : i64}} {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" {milm.section_offset = 0 : i64} : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens {milm.arena_offset = 0 : i64} : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %r = milm.weight "router" {milm.section_offset = 16384 : i64} : !milm.weight<4x64xf32>
    %g = milm.weight "gate" {milm.section_offset = 20480 : i64} : !milm.weight<4x128x64xq8_0>
    %u = milm.weight "up" {milm.section_offset = 55296 : i64, milm.layout = "q4_0x8"} : !milm.weight<4x128x64xq4_0>
    %d = milm.weight "down" {milm.section_offset = 73728 : i64} : !milm.weight<4x64x128xf16>
    %y = milm.moe %x, %r, %g, %u, %d {top_k = 2 : i64, weighting = #milm.moe_weighting<softmax_topk>, milm.arena_offset = 1024 : i64} : (tensor<?x64xf32>, !milm.weight<4x64xf32>, !milm.weight<4x128x64xq8_0>, !milm.weight<4x128x64xq4_0>, !milm.weight<4x64x128xf16>) -> tensor<?x64xf32>
    %l = milm.logits %y, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// CHECK: func.func @milm_forward(%[[EX:[^:]*]]: !llvm.ptr, %[[W:[^:]*]]: memref<139264xi8>, %{{[^:]*}}: memref<{{[0-9]+}}xi8>, %[[ARENA:[^:]*]]: memref<8192xi8>, {{.*}}, %[[T:[^:]*]]: i64,
// CHECK: func.call @milm_op_embedding
// CHECK: memref.view %[[ARENA]][%c7000{{(_[0-9]+)?}}][]
// CHECK: memref.view %[[ARENA]][%c7168{{(_[0-9]+)?}}][]
// D = 64, F = 128, E = 4, k = 2, softmax then top k (mode 1).
// CHECK: %[[D:.*]] = arith.constant 64 : i64
// CHECK: %[[F:.*]] = arith.constant 128 : i64
// CHECK: %[[E:.*]] = arith.constant 4 : i64
// CHECK: %[[K:.*]] = arith.constant 2 : i64
// CHECK: %[[MODE:.*]] = arith.constant 1 : i32
// Router f32 (0) at 16384, gate q8_0 (8) at 20480, up in q4_0x8 (258) at 55296, down f16 (1) at 73728.
// CHECK: %[[RF:.*]] = arith.constant 0 : i32
// CHECK: memref.view %[[W]][%c16384{{(_[0-9]+)?}}][] : memref<139264xi8> to memref<1024xi8>
// CHECK: %[[GF:.*]] = arith.constant 8 : i32
// CHECK: memref.view %[[W]][%c20480{{(_[0-9]+)?}}][] : memref<139264xi8> to memref<34816xi8>
// CHECK: %[[UF:.*]] = arith.constant 258 : i32
// CHECK: memref.view %[[W]][%c55296{{(_[0-9]+)?}}][] : memref<139264xi8> to memref<18432xi8>
// CHECK: %[[DF:.*]] = arith.constant 1 : i32
// CHECK: memref.view %[[W]][%c73728{{(_[0-9]+)?}}][] : memref<139264xi8> to memref<65536xi8>
// CHECK: %[[Y:.*]] = memref.view %[[ARENA]][%c1024{{(_[0-9]+)?}}][] : memref<8192xi8> to memref<4x64xf32>
// CHECK: func.call @milm_op_moe(%[[EX]], %{{.*}}, %[[T]], %[[D]], %[[F]], %[[E]], %[[K]], %[[MODE]], %[[RF]], %{{.*}}, %[[GF]], %{{.*}}, %[[UF]], %{{.*}}, %[[DF]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}})
