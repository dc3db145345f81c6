// The pattern of milm.rms_norm (MilmToCPU/RMSNorm.cpp): per row, the sum of
// squares in vector<8xf32> lanes, then x * rsqrt(mean + eps) * w; 60 features
// leave a scalar tail of 4.
// RUN: milm-opt %s --milm-convert-to-cpu | FileCheck %s

!cache = !milm.kv_cache<layers = 2, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 60, num_layers = 2, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> attributes {milm.cpu_plan = {arena_bytes = 8192 : i64, max_tokens = 4 : i64, moe_offset = 7168 : i64, weights_bytes = 65536 : i64, xq_offset = 7000 : i64}} {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" {milm.section_offset = 0 : i64} : !milm.weight<256x60xf32>
    %x = milm.embedding %emb, %tokens {milm.arena_offset = 0 : i64} : (!milm.weight<256x60xf32>, tensor<?xi32>) -> tensor<?x60xf32>
    %n = milm.weight "norm" {milm.section_offset = 61440 : i64} : !milm.weight<60xf32>
    %h = milm.rms_norm %x, %n {eps = 1.0e-05 : f64, milm.arena_offset = 1024 : i64} : (tensor<?x60xf32>, !milm.weight<60xf32>) -> tensor<?x60xf32>
    %l = milm.logits %h, %emb : (tensor<?x60xf32>, !milm.weight<256x60xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// CHECK: func.func @milm_forward({{.*}}%[[W:[^:]*]]: memref<65536xi8>, %{{[^:]*}}: memref<{{[0-9]+}}xi8>, %[[ARENA:[^:]*]]: memref<8192xi8>
// CHECK: %[[TI:.*]] = arith.index_cast
// CHECK: %[[X:.*]] = memref.view %[[ARENA]][%c0{{(_[0-9]+)?}}][] : memref<8192xi8> to memref<4x60xf32>
// CHECK: func.call @milm_op_embedding
// CHECK: %[[Y:.*]] = memref.view %[[ARENA]][%c1024{{(_[0-9]+)?}}][] : memref<8192xi8> to memref<4x60xf32>
// CHECK: %[[NW:.*]] = memref.view %[[W]][%c61440{{(_[0-9]+)?}}][] : memref<65536xi8> to memref<60xf32>
// 1/60 and eps
// CHECK: %[[INVN:.*]] = arith.constant 0.0166666675 : f32
// CHECK: %[[EPS:.*]] = arith.constant 9.99999974E-6 : f32
// CHECK: scf.for %[[ROW:.*]] = %{{.*}} to %[[TI]] step
// CHECK: %[[SQ:.*]] = scf.for %[[I:.*]] = %{{.*}} to %c56{{(_[0-9]+)?}} step %c8{{(_[0-9]+)?}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (vector<8xf32>)
// CHECK: %[[V:.*]] = vector.load %[[X]][%[[ROW]], %[[I]]] : memref<4x60xf32>, vector<8xf32>
// CHECK: math.fma %[[V]], %[[V]], %[[ACC]] : vector<8xf32>
// CHECK: %[[SUM:.*]] = vector.reduction <add>, %[[SQ]] : vector<8xf32> into f32
// The tail 56..60, one value at a time.
// CHECK: %[[SUM2:.*]] = scf.for %{{.*}} = %c56{{(_[0-9]+)?}} to %c60{{(_[0-9]+)?}} step %c1{{(_[0-9]+)?}} iter_args(%{{.*}} = %[[SUM]]) -> (f32)
// CHECK: %[[MEAN:.*]] = arith.mulf %[[SUM2]], %[[INVN]]
// CHECK: %[[INV:.*]] = math.rsqrt
// CHECK: vector.load %[[NW]]
// CHECK: vector.store %{{.*}}, %[[Y]][%[[ROW]], %{{.*}}] : memref<4x60xf32>, vector<8xf32>
// CHECK: memref.load %[[NW]]
// CHECK: memref.store %{{.*}}, %[[Y]][%[[ROW]], %{{.*}}] : memref<4x60xf32>
// CHECK: func.call @milm_op_logits
