// The pattern of milm.linear (codegen/cpu/MilmToCPU/Linear.cpp), on IR that
// milm-cpu-plan-buffers' annotations are written into by hand.
// RUN: milm-opt %s --milm-convert-to-cpu | FileCheck %s

!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 16, element = f16>
milm.model @m #milm.config<arch = "llama", vocab_size = 256, context_length = 16, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128> attributes {milm.cpu_plan = {arena_bytes = 8192 : i64, max_tokens = 4 : i64, moe_offset = 8192 : i64, weights_bytes = 40000 : i64, xq_offset = 7000 : i64}} {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" {milm.section_offset = 0 : i64} : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens {milm.arena_offset = 0 : i64} : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %w = milm.weight "w" {milm.section_offset = 4096 : i64, milm.layout = "q4_0x8"} : !milm.weight<128x64xq4_0>
    %b = milm.weight "b" {milm.section_offset = 8192 : i64} : !milm.weight<128xf32>
    %y = milm.linear %x, %w, %b {milm.arena_offset = 1024 : i64} : (tensor<?x64xf32>, !milm.weight<128x64xq4_0>, !milm.weight<128xf32>) -> tensor<?x128xf32>
    %w2 = milm.weight "w2" {milm.section_offset = 12288 : i64} : !milm.weight<64x128xq8_0>
    %z = milm.linear %y, %w2 {milm.arena_offset = 3072 : i64, milm.xq_ready} : (tensor<?x128xf32>, !milm.weight<64x128xq8_0>) -> tensor<?x64xf32>
    %l = milm.logits %z, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// CHECK: func.func private @milm_op_linear(!llvm.ptr, i32, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, !llvm.ptr, !llvm.ptr, i32, !llvm.ptr, !llvm.ptr, i64)
// CHECK: func.func @milm_forward(%[[EX:[^:]*]]: !llvm.ptr, %[[W:[^:]*]]: memref<40000xi8>, %{{[^:]*}}: memref<{{[0-9]+}}xi8>, %[[ARENA:[^:]*]]: memref<8192xi8>, {{.*}}, %[[T:[^:]*]]: i64,
// The embedding's buffer is the input.
// (MLIR names an index constant after its value: %c0 is 0, %c0_2 another 0.)
// CHECK: %[[X:.*]] = memref.view %[[ARENA]][%c0{{(_[0-9]+)?}}][] : memref<8192xi8> to memref<4x64xf32>
// The bias first (its section offset, 128 floats), then the xq scratch at the plan's offset.
// CHECK: memref.view %[[W]][%c8192{{(_[0-9]+)?}}][] : memref<40000xi8> to memref<512xi8>
// CHECK: memref.view %[[ARENA]][%c7000{{(_[0-9]+)?}}][]
// The weight: q4_0 in its packed layout q4_0x8 (0x102 = 258), 128 rows x 2 blocks x 18 bytes.
// CHECK: %[[FMT:.*]] = arith.constant 258 : i32
// CHECK: memref.view %[[W]][%c4096{{(_[0-9]+)?}}][] : memref<40000xi8> to memref<4608xi8>
// CHECK: memref.extract_aligned_pointer_as_index %[[X]]
// CHECK: %[[K:.*]] = arith.constant 64 : i64
// CHECK: %[[N:.*]] = arith.constant 128 : i64
// CHECK: %[[Y:.*]] = memref.view %[[ARENA]][%c1024{{(_[0-9]+)?}}][] : memref<8192xi8> to memref<4x128xf32>
// CHECK: %[[NOTREADY:.*]] = arith.constant 0 : i32
// CHECK: func.call @milm_op_linear(%[[EX]], %[[FMT]], %{{.*}}, %{{.*}}, %{{.*}}, %[[T]], %[[K]], %[[N]], %{{.*}}, %{{.*}}, %[[NOTREADY]], %{{[^,]+}}, %{{[^,]+}}, %{{[^,)]+}})
// The second product: no bias (a null pointer), q8_0 (8), its input is the
// first's output, and the plan says its 8-bit activations are ready.
// CHECK: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
// CHECK: %[[FMT2:.*]] = arith.constant 8 : i32
// CHECK: memref.extract_aligned_pointer_as_index %[[Y]]
// CHECK: %[[READY:.*]] = arith.constant 1 : i32
// CHECK: func.call @milm_op_linear(%[[EX]], %[[FMT2]], %{{.*}}, %[[NULL]], %{{.*}}, %[[T]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[READY]], %{{[^,]+}}, %{{[^,]+}}, %{{[^,)]+}})
// CHECK-NOT: milm.
