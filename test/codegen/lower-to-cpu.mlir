// The CPU lowering: milm.model -> func @milm_forward in upstream dialects.
// Activations are memref.views of the arena (max_tokens rows, first T rows by
// subview), elementwise ops and norms are linalg, the T/position checks are
// scf/arith, heavy ops are func.calls into the op layer; shapes and offsets are
// constants.
// RUN: milm-opt %s --split-input-file --milm-lower-to-cpu="max-tokens=16" | FileCheck %s

!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 128, element = f16>
milm.model @dense #milm.config<arch = "qwen2", vocab_size = 512, context_length = 128, hidden_size = 128, num_layers = 1, num_heads = 4, num_kv_heads = 2, head_dim = 32, ffn_size = 256, bos_token = 1, eos_token = 2> {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x512xf32> {
    %emb = milm.weight "token_embd.weight" from "m.gguf" at 4096 : !milm.weight<512x128xq8_0>
    %x = milm.embedding %emb, %tokens : (!milm.weight<512x128xq8_0>, tensor<?xi32>) -> tensor<?x128xf32>
    %n = milm.weight "blk.0.attn_norm.weight" from "m.gguf" at 100 : !milm.weight<128xf32>
    %h = milm.rms_norm %x, %n {eps = 1.0e-06 : f64} : (tensor<?x128xf32>, !milm.weight<128xf32>) -> tensor<?x128xf32>
    %wq = milm.weight "blk.0.attn_q.weight" from "m.gguf" at 200 : !milm.weight<128x128xq5_1>
    %bq = milm.weight "blk.0.attn_q.bias" from "m.gguf" at 300 : !milm.weight<128xf32>
    %q = milm.linear %h, %wq, %bq : (tensor<?x128xf32>, !milm.weight<128x128xq5_1>, !milm.weight<128xf32>) -> tensor<?x128xf32>
    %wk = milm.weight "blk.0.attn_k.weight" from "m.gguf" at 400 : !milm.weight<64x128xf16>
    %k = milm.linear %h, %wk : (tensor<?x128xf32>, !milm.weight<64x128xf16>) -> tensor<?x64xf32>
    %qr = milm.rope %q, %pos {base = 1.0e+06 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<neox>, scaling = #milm.rope_scaling<yarn>, factor = 4.0 : f64, original_context = 4096 : i64} : (tensor<?x128xf32>, tensor<?xi32>) -> tensor<?x128xf32>
    %kr = milm.rope %k, %pos {base = 1.0e+06 : f64, head_dim = 32 : i64, pairing = #milm.rope_pairing<neox>} : (tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %a = milm.attention %qr, %kr, %k, %cache, %pos {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 32 : i64} : (tensor<?x128xf32>, tensor<?x64xf32>, tensor<?x64xf32>, !cache, tensor<?xi32>) -> tensor<?x128xf32>
    %r = milm.add %x, %a : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
    %wg = milm.weight "blk.0.ffn_gate.weight" from "m.gguf" at 500 : !milm.weight<256x128xq4_0>
    %g = milm.linear %r, %wg : (tensor<?x128xf32>, !milm.weight<256x128xq4_0>) -> tensor<?x256xf32>
    %m = milm.swiglu %g, %g : (tensor<?x256xf32>, tensor<?x256xf32>) -> tensor<?x256xf32>
    %wd = milm.weight "blk.0.ffn_down.weight" from "m.gguf" at 600 : !milm.weight<128x256xq6_k>
    %f = milm.linear %m, %wd : (tensor<?x256xf32>, !milm.weight<128x256xq6_k>) -> tensor<?x128xf32>
    %out = milm.add %r, %f : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
    // The tied embedding table is referenced again: one place in the weights.
    %emb2 = milm.weight "token_embd.weight" from "m.gguf" at 4096 : !milm.weight<512x128xq8_0>
    %l = milm.logits %out, %emb2 : (tensor<?x128xf32>, !milm.weight<512x128xq8_0>) -> tensor<?x512xf32>
    return %l : tensor<?x512xf32>
  }
}

// CHECK: module attributes {milm.lowered = {arena_bytes = [[ARENABYTES:[0-9]+]] : i64, config = #milm.config<arch = "qwen2"{{.*}}>, kv_capacity = 128 : i64, max_tokens = 16 : i64, model_name = "dense", weights_bytes = [[WB:[0-9]+]] : i64}
// CHECK-SAME: milm.weights = [{file = "m.gguf", format = 8 : i64, name = "token_embd.weight", offset = 0 : i64, shape = array<i64: 512, 128>, size = 69632 : i64, source_offset = 4096 : i64},
// CHECK-SAME: {file = "m.gguf", format = 0 : i64, name = "blk.0.attn_norm.weight", offset = 69632 : i64, shape = array<i64: 128>, size = 512 : i64, source_offset = 100 : i64},
// CHECK-SAME: {file = "m.gguf", format = 7 : i64, name = "blk.0.attn_q.weight", offset = 70144 : i64, shape = array<i64: 128, 128>, size = 12288 : i64, source_offset = 200 : i64}
// CHECK-NOT: token_embd.weight
// The op layer is declared once per function.
// CHECK-DAG: func.func private @milm_op_logits(!llvm.ptr, i32, !llvm.ptr, !llvm.ptr, i64, i64, i64, !llvm.ptr, i32, !llvm.ptr)
// CHECK-DAG: func.func private @milm_op_linear(!llvm.ptr, i32, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, !llvm.ptr, !llvm.ptr, i32, !llvm.ptr, !llvm.ptr, i64)
// Static sizes everywhere: the weight section, 1 layer x k,v x 128 positions x 2 heads x 32 x f16, the arena, 16 token ids.
// CHECK: func.func @milm_forward(%[[EX:.*]]: !llvm.ptr, %[[W:.*]]: memref<[[WB]]xi8>, %[[KV:.*]]: memref<32768xi8>, %[[ARENA:.*]]: memref<[[ARENABYTES]]xi8>, %[[TOK:.*]]: memref<16xi32>, %[[POS:.*]]: memref<16xi32>, %[[T:.*]]: i64, %[[ALL:.*]]: i32, %[[LOGITS:.*]]: !llvm.ptr) -> i32
// T is checked against [1, max_tokens] (else 1), positions against the cache capacity (else 2).
// CHECK: arith.cmpi slt, %[[T]]
// CHECK: %[[MAXT:.*]] = arith.constant 16 : i64
// CHECK: arith.cmpi sgt, %[[T]], %[[MAXT]]
// CHECK: %[[TOK_OK:.*]] = scf.if
// CHECK: %[[TI:.*]] = arith.index_cast %[[T]] : i64 to index
// CHECK: %[[CAP:.*]] = arith.constant 128 : i32
// CHECK: %[[BAD:.*]] = scf.for %[[I:.*]] = %{{.*}} to %[[TI]]
// CHECK: memref.load %[[POS]][%[[I]]]
// CHECK: arith.cmpi sge, %{{.*}}, %[[CAP]]
// CHECK: scf.if %[[BAD]] -> (i32)
// CHECK: arith.constant 2 : i32
// CHECK: } else {
// Embedding: q8_0 (8) table at weight offset 0, dim 128, into the arena's first region.
// CHECK: %[[FQ8:.*]] = arith.constant 8 : i32
// CHECK: memref.view %[[W]][%{{.*}}][] : memref<[[WB]]xi8> to memref<69632xi8>
// CHECK: %[[DIM:.*]] = arith.constant 128 : i64
// CHECK: memref.extract_aligned_pointer_as_index %[[TOK]]
// CHECK: %[[X:.*]] = memref.view %[[ARENA]][%{{.*}}][] : memref<[[ARENABYTES]]xi8> to memref<16x128xf32>
// CHECK: func.call @milm_op_embedding(%[[FQ8]], %{{.*}}, %[[DIM]], %{{.*}}, %[[T]], %{{.*}})
// rms_norm, per row of the first T: the sum of squares in a vector<8xf32>
// carried by an scf.for, summed across lanes, then x * rsqrt(mean + eps) * w
// 8 values at a time, from the embedding's buffer into the norm's.
// CHECK: %[[XN:.*]] = memref.view %[[ARENA]][%{{.*}}][] : memref<[[ARENABYTES]]xi8> to memref<16x128xf32>
// CHECK: %[[NW:.*]] = memref.view %[[W]][%{{.*}}][] : memref<[[WB]]xi8> to memref<128xf32>
// CHECK: %[[INVN:.*]] = arith.constant 7.812500e-03 : f32
// CHECK: %[[EPS:.*]] = arith.constant 9.99999997E-7 : f32
// CHECK: scf.for %[[ROW:.*]] = %{{.*}} to %[[TI]] step
// CHECK: %[[SQ:.*]] = scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (vector<8xf32>)
// CHECK: %[[V:.*]] = vector.load %[[X]][%[[ROW]], %[[I]]] : memref<16x128xf32>, vector<8xf32>
// CHECK: math.fma %[[V]], %[[V]], %[[ACC]] : vector<8xf32>
// CHECK: %[[SUM:.*]] = vector.reduction <add>, %[[SQ]] : vector<8xf32> into f32
// CHECK: %[[MEAN:.*]] = arith.mulf %[[SUM]], %[[INVN]]
// CHECK: arith.addf %[[MEAN]], %[[EPS]]
// CHECK: math.rsqrt
// CHECK: scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step
// CHECK: vector.load %[[X]][%[[ROW]], %[[J]]]
// CHECK: vector.load %[[NW]][%[[J]]]
// CHECK: arith.mulf
// CHECK: arith.mulf
// CHECK: vector.store %{{.*}}, %[[XN]][%[[ROW]], %[[J]]] : memref<16x128xf32>, vector<8xf32>
// q projection: q5_1 (7) with an f32 bias; the quantized activations go to the shared scratch region.
// CHECK: %[[BQ:.*]] = memref.view %[[W]][%{{.*}}][] : memref<[[WB]]xi8> to memref<512xi8>
// CHECK: %[[XQOFF:.*]] = arith.constant [[XQ:[0-9]+]] : index
// CHECK: %[[FQ51:.*]] = arith.constant 7 : i32
// CHECK: func.call @milm_op_linear(%[[EX]], %[[FQ51]], %{{.*}}, %{{.*}}, %{{.*}}, %[[T]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,)]+}})
// k projection: f16 (1), no bias.
// CHECK: %[[NOBIAS:.*]] = llvm.mlir.zero : !llvm.ptr
// CHECK: %[[XQOFF2:.*]] = arith.constant [[XQ]] : index
// CHECK: %[[FF16:.*]] = arith.constant 1 : i32
// CHECK: func.call @milm_op_linear(%[[EX]], %[[FF16]], %{{.*}}, %[[NOBIAS]],
// The q projection is roped in place (neox, yarn x4 from 4096); k has another user (v), so it is copied first.
// CHECK-NOT: linalg.copy
// CHECK: %[[NEOX:.*]] = arith.constant 1 : i32
// CHECK: %[[ROT:.*]] = arith.constant 32 : i32
// CHECK: %[[BASE:.*]] = arith.constant 1.000000e+06 : f32
// CHECK: %[[YARN:.*]] = arith.constant 3 : i32
// CHECK: %[[FACTOR:.*]] = arith.constant 4.000000e+00 : f32
// CHECK: %[[ORIG:.*]] = arith.constant 4096 : i32
// CHECK: func.call @milm_op_rope(%{{.*}}, %[[T]], %{{.*}}, %{{.*}}, %{{.*}}, %[[NEOX]], %[[ROT]], %[[BASE]], %[[YARN]], %[[FACTOR]], %[[ORIG]])
// CHECK: linalg.copy ins(%{{.*}} : memref<?x64xf32, strided<[64, 1]>>) outs(%{{.*}} : memref<?x64xf32, strided<[64, 1]>>)
// CHECK: func.call @milm_op_rope
// Attention: layer 0's slice of the KV cache, 1/sqrt(32).
// CHECK: memref.view %[[KV]][%{{.*}}][] : memref<32768xi8> to memref<32768xi8>
// CHECK: %[[SCALE:.*]] = arith.constant 0.176776692 : f32
// CHECK: func.call @milm_op_attention(%[[EX]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[T]], %{{.*}}, %{{.*}}, %{{.*}}, %[[SCALE]], %{{.*}})
// The residual add is an elementwise linalg.generic over the first T rows.
// CHECK: linalg.generic {{{.*}}iterator_types = ["parallel", "parallel"]} ins(%{{.*}}, %{{.*}} : memref<?x128xf32, strided<[128, 1]>>, memref<?x128xf32, strided<[128, 1]>>) outs(%{{.*}} : memref<?x128xf32, strided<[128, 1]>>)
// CHECK: arith.addf
// CHECK: func.call @milm_op_linear
// swiglu: g / (1 + exp(-g)) * u, exp as a polynomial (range reduction by
// floor, fma chain, 2^n by shifting into the exponent).
// CHECK: linalg.generic
// CHECK: arith.negf
// CHECK-NOT: math.exp
// CHECK: math.floor
// CHECK: math.fma
// CHECK: arith.shli
// CHECK: arith.divf
// CHECK: arith.mulf
// CHECK: func.call @milm_op_linear
// CHECK: linalg.generic
// CHECK: arith.addf
// The logits read the table at the same place as the embedding and write the caller's buffer.
// CHECK: memref.view %[[W]][%{{.*}}][] : memref<[[WB]]xi8> to memref<69632xi8>
// CHECK: func.call @milm_op_logits(%[[EX]], %{{.*}}, %{{.*}}, %{{.*}}, %[[T]], %{{.*}}, %{{.*}}, %[[LOGITS]], %[[ALL]], %{{.*}})
// CHECK: %[[OK:.*]] = arith.constant 0 : i32
// CHECK: scf.yield %[[OK]]
// CHECK: arith.constant 1 : i32
// CHECK: return %[[TOK_OK]] : i32
// CHECK-NOT: = milm.
// CHECK-NOT: milm.model

// -----

!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 64, element = f16>
milm.model @moe #milm.config<arch = "llama", vocab_size = 256, context_length = 64, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128, num_experts = 4, experts_used = 2> {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %r = milm.weight "blk.0.ffn_gate_inp.weight" : !milm.weight<4x64xf32>
    %g = milm.weight "blk.0.ffn_gate_exps.weight" stacked from ["a", "b", "c", "d"] at [0, 1, 2, 3] : !milm.weight<4x128x64xq8_0>
    %u = milm.weight "blk.0.ffn_up_exps.weight" : !milm.weight<4x128x64xq8_0>
    %d = milm.weight "blk.0.ffn_down_exps.weight" : !milm.weight<4x64x128xq4_0>
    %y = milm.moe %x, %r, %g, %u, %d {top_k = 2 : i64} : (tensor<?x64xf32>, !milm.weight<4x64xf32>, !milm.weight<4x128x64xq8_0>, !milm.weight<4x128x64xq8_0>, !milm.weight<4x64x128xq4_0>) -> tensor<?x64xf32>
    %l = milm.logits %y, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// CHECK: model_name = "moe"
// CHECK-SAME: {format = 8 : i64, name = "blk.0.ffn_gate_exps.weight", offset = {{[0-9]+}} : i64, part_files = ["a", "b", "c", "d"], part_offsets = array<i64: 0, 1, 2, 3>, shape = array<i64: 4, 128, 64>, size = 34816 : i64}
// CHECK: func.func @milm_forward
// Hidden 64, ffn 128, 4 experts, top 2, Mixtral weighting (0), router f32, experts q8_0, q8_0, q4_0.
// CHECK: func.call @milm_op_embedding
// CHECK: %[[D:.*]] = arith.constant 64 : i64
// CHECK-NEXT: %[[F:.*]] = arith.constant 128 : i64
// CHECK-NEXT: %[[E:.*]] = arith.constant 4 : i64
// CHECK-NEXT: %[[K:.*]] = arith.constant 2 : i64
// CHECK-NEXT: %[[MODE:.*]] = arith.constant 0 : i32
// CHECK-NEXT: %[[RF:.*]] = arith.constant 0 : i32
// CHECK: %[[GF:.*]] = arith.constant 8 : i32
// CHECK: %[[UF:.*]] = arith.constant 8 : i32
// CHECK: %[[DF:.*]] = arith.constant 2 : i32
// CHECK: func.call @milm_op_moe(%{{.*}}, %{{.*}}, %{{.*}}, %[[D]], %[[F]], %[[E]], %[[K]], %[[MODE]], %[[RF]], %{{.*}}, %[[GF]], %{{.*}}, %[[UF]], %{{.*}}, %[[DF]],

// -----

// The routing modes reach the op layer as the kernels' milm_uk_moe_mode, which
// carries the dialect's names and numbers: softmax_topk is 1; softmax_topk_norm
// (the top k of softmax(all), renormalised) is the softmax of the top-k
// logits, topk_softmax's 0.
!cache = !milm.kv_cache<layers = 1, kv_heads = 2, head_dim = 32, capacity = 64, element = f16>
milm.model @routing #milm.config<arch = "llama", vocab_size = 256, context_length = 64, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 2, head_dim = 32, ffn_size = 128, num_experts = 4, experts_used = 2> {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x256xf32> {
    %emb = milm.weight "token_embd.weight" : !milm.weight<256x64xf32>
    %x = milm.embedding %emb, %tokens : (!milm.weight<256x64xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    %r = milm.weight "blk.0.ffn_gate_inp.weight" : !milm.weight<4x64xf32>
    %g = milm.weight "blk.0.ffn_gate_exps.weight" : !milm.weight<4x128x64xq8_0>
    %u = milm.weight "blk.0.ffn_up_exps.weight" : !milm.weight<4x128x64xq8_0>
    %d = milm.weight "blk.0.ffn_down_exps.weight" : !milm.weight<4x64x128xq8_0>
    %y = milm.moe %x, %r, %g, %u, %d {top_k = 2 : i64, weighting = #milm.moe_weighting<softmax_topk>} : (tensor<?x64xf32>, !milm.weight<4x64xf32>, !milm.weight<4x128x64xq8_0>, !milm.weight<4x128x64xq8_0>, !milm.weight<4x64x128xq8_0>) -> tensor<?x64xf32>
    %z = milm.moe %y, %r, %g, %u, %d {top_k = 2 : i64, weighting = #milm.moe_weighting<softmax_topk_norm>} : (tensor<?x64xf32>, !milm.weight<4x64xf32>, !milm.weight<4x128x64xq8_0>, !milm.weight<4x128x64xq8_0>, !milm.weight<4x64x128xq8_0>) -> tensor<?x64xf32>
    %l = milm.logits %z, %emb : (tensor<?x64xf32>, !milm.weight<256x64xf32>) -> tensor<?x256xf32>
    return %l : tensor<?x256xf32>
  }
}

// CHECK: model_name = "routing"
// CHECK: %[[K1:.*]] = arith.constant 2 : i64
// CHECK-NEXT: %[[MODE1:.*]] = arith.constant 1 : i32
// CHECK: func.call @milm_op_moe(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[K1]], %[[MODE1]],
// CHECK: %[[K2:.*]] = arith.constant 2 : i64
// CHECK-NEXT: %[[MODE2:.*]] = arith.constant 0 : i32
// CHECK: func.call @milm_op_moe(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[K2]], %[[MODE2]],

// -----

// Weight offsets past 2^31 bytes (any model of a few GB) stay exact: the
// weight section is one static memref, views at index offsets.
!cache = !milm.kv_cache<layers = 1, kv_heads = 1, head_dim = 64, capacity = 64, element = f16>
milm.model @big #milm.config<arch = "llama", vocab_size = 65536, context_length = 64, hidden_size = 8192, num_layers = 1, num_heads = 1, num_kv_heads = 1, head_dim = 64, ffn_size = 128> {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x65536xf32> {
    %emb = milm.weight "token_embd.weight" : !milm.weight<65536x8192xf32>
    %x = milm.embedding %emb, %tokens : (!milm.weight<65536x8192xf32>, tensor<?xi32>) -> tensor<?x8192xf32>
    %out = milm.weight "output.weight" : !milm.weight<65536x8192xq8_0>
    %l = milm.logits %x, %out : (tensor<?x8192xf32>, !milm.weight<65536x8192xq8_0>) -> tensor<?x65536xf32>
    return %l : tensor<?x65536xf32>
  }
}

// CHECK: model_name = "big"
// CHECK: func.func @milm_forward(%{{.*}}: !llvm.ptr, %[[W:.*]]: memref<2717908992xi8>,
// CHECK: %[[OFF:.*]] = arith.constant 2147483648 : index
// CHECK: %[[OUT:.*]] = memref.view %[[W]][%[[OFF]]][] : memref<2717908992xi8> to memref<570425344xi8>
// CHECK: %[[P:.*]] = memref.extract_aligned_pointer_as_index %[[OUT]]
// CHECK: %[[PI:.*]] = arith.index_cast %[[P]] : index to i64
// CHECK: %[[PTR:.*]] = llvm.inttoptr %[[PI]] : i64 to !llvm.ptr
// CHECK: func.call @milm_op_logits(%{{.*}}, %{{.*}}, %[[PTR]],

// -----

// repack (what milmc sets for the x86-64 AVX2/AVX-512 kernels): q4_0 and q8_0
// weights read only by products, with a row count that is a multiple of 8, get
// the q4_0x8 / q8_0x8 layouts (formats 0x102 = 258, 0x108 = 264) in
// milm.weights and in the calls; a table the embedding reads row by row (here
// tied to the logits) keeps q4_0, and so does a product weight of 12 rows;
// q4_1 has no packed layout.
// RUN: milm-opt %s --split-input-file --milm-lower-to-cpu="max-tokens=4 repack=1" | FileCheck %s --check-prefix=PACK
// RUN: milm-opt %s --split-input-file --milm-lower-to-cpu="max-tokens=4" | FileCheck %s --check-prefix=NOPACK
!cache = !milm.kv_cache<layers = 1, kv_heads = 1, head_dim = 32, capacity = 64, element = f16>
milm.model @packed #milm.config<arch = "llama", vocab_size = 64, context_length = 64, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 1, head_dim = 32, ffn_size = 128> {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x64xf32> {
    %emb = milm.weight "token_embd.weight" : !milm.weight<64x64xq4_0>
    %x = milm.embedding %emb, %tokens : (!milm.weight<64x64xq4_0>, tensor<?xi32>) -> tensor<?x64xf32>
    %wg = milm.weight "blk.0.ffn_gate.weight" : !milm.weight<128x64xq4_0>
    %g = milm.linear %x, %wg : (tensor<?x64xf32>, !milm.weight<128x64xq4_0>) -> tensor<?x128xf32>
    %wg2 = milm.weight "blk.0.ffn_up2.weight" : !milm.weight<128x64xq8_0>
    %g2 = milm.linear %x, %wg2 : (tensor<?x64xf32>, !milm.weight<128x64xq8_0>) -> tensor<?x128xf32>
    %w12 = milm.weight "blk.0.odd.weight" : !milm.weight<12x128xq4_0>
    %o = milm.linear %g, %w12 : (tensor<?x128xf32>, !milm.weight<12x128xq4_0>) -> tensor<?x12xf32>
    %wd = milm.weight "blk.0.ffn_down.weight" : !milm.weight<64x128xq8_0>
    %d = milm.linear %g, %wd : (tensor<?x128xf32>, !milm.weight<64x128xq8_0>) -> tensor<?x64xf32>
    %wu = milm.weight "blk.0.ffn_up.weight" : !milm.weight<64x64xq4_1>
    %u = milm.linear %d, %wu : (tensor<?x64xf32>, !milm.weight<64x64xq4_1>) -> tensor<?x64xf32>
    %l = milm.logits %x, %emb : (tensor<?x64xf32>, !milm.weight<64x64xq4_0>) -> tensor<?x64xf32>
    return %l : tensor<?x64xf32>
  }
}

// PACK-LABEL: model_name = "packed"
// PACK-SAME: milm.weights = [{format = 2 : i64, name = "token_embd.weight"
// PACK-SAME: {format = 258 : i64, name = "blk.0.ffn_gate.weight"
// PACK-SAME: {format = 264 : i64, name = "blk.0.ffn_up2.weight"
// PACK-SAME: {format = 2 : i64, name = "blk.0.odd.weight"
// PACK-SAME: {format = 264 : i64, name = "blk.0.ffn_down.weight"
// PACK-SAME: {format = 3 : i64, name = "blk.0.ffn_up.weight"
// PACK: %[[E:.*]] = arith.constant 2 : i32
// PACK: func.call @milm_op_embedding(%[[E]],
// The argument xq_ready (before side, cols, k) is 1 where the previous linear quantized the
// same input into the same 8-bit blocks (q4_0 and q8_0 both use q8_32 blocks):
// ffn_up2 after ffn_gate, ffn_down after odd; not ffn_up (another input).
// PACK: %[[G:.*]] = arith.constant 258 : i32
// PACK: %[[GR:.*]] = arith.constant 0 : i32
// PACK: func.call @milm_op_linear(%{{.*}}, %[[G]], {{.*}}, %[[GR]], %{{[^,]+}}, %{{[^,]+}}, %{{[^,)]+}})
// PACK: %[[G2:.*]] = arith.constant 264 : i32
// PACK: %[[G2R:.*]] = arith.constant 1 : i32
// PACK: func.call @milm_op_linear(%{{.*}}, %[[G2]], {{.*}}, %[[G2R]], %{{[^,]+}}, %{{[^,]+}}, %{{[^,)]+}})
// PACK: %[[O:.*]] = arith.constant 2 : i32
// PACK: %[[OR:.*]] = arith.constant 0 : i32
// PACK: func.call @milm_op_linear(%{{.*}}, %[[O]], {{.*}}, %[[OR]], %{{[^,]+}}, %{{[^,]+}}, %{{[^,)]+}})
// PACK: %[[D:.*]] = arith.constant 264 : i32
// PACK: %[[DR:.*]] = arith.constant 1 : i32
// PACK: func.call @milm_op_linear(%{{.*}}, %[[D]], {{.*}}, %[[DR]], %{{[^,]+}}, %{{[^,]+}}, %{{[^,)]+}})
// PACK: %[[U:.*]] = arith.constant 3 : i32
// PACK: %[[UR:.*]] = arith.constant 0 : i32
// PACK: func.call @milm_op_linear(%{{.*}}, %[[U]], {{.*}}, %[[UR]], %{{[^,]+}}, %{{[^,]+}}, %{{[^,)]+}})
// PACK: %[[L:.*]] = arith.constant 2 : i32
// PACK: func.call @milm_op_logits(%{{.*}}, %[[L]],
// NOPACK-NOT: format = 258
// NOPACK-NOT: format = 264
// NOPACK-NOT: constant 258
// NOPACK-NOT: constant 264

// -----

// q6_k product weights get q6_kx8 (0x10E = 270), the logits' weight too (one
// token per call: the layout is not slower for one token).
!cache = !milm.kv_cache<layers = 1, kv_heads = 1, head_dim = 32, capacity = 64, element = f16>
milm.model @q6out #milm.config<arch = "llama", vocab_size = 64, context_length = 64, hidden_size = 256, num_layers = 1, num_heads = 8, num_kv_heads = 1, head_dim = 32, ffn_size = 256> {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x64xf32> {
    %emb = milm.weight "token_embd.weight" : !milm.weight<64x256xq8_0>
    %x = milm.embedding %emb, %tokens : (!milm.weight<64x256xq8_0>, tensor<?xi32>) -> tensor<?x256xf32>
    %wd = milm.weight "blk.0.ffn_down.weight" : !milm.weight<256x256xq6_k>
    %d = milm.linear %x, %wd : (tensor<?x256xf32>, !milm.weight<256x256xq6_k>) -> tensor<?x256xf32>
    %out = milm.weight "output.weight" : !milm.weight<64x256xq6_k>
    %l = milm.logits %d, %out : (tensor<?x256xf32>, !milm.weight<64x256xq6_k>) -> tensor<?x64xf32>
    return %l : tensor<?x64xf32>
  }
}

// PACK-LABEL: model_name = "q6out"
// PACK-SAME: {format = 270 : i64, name = "blk.0.ffn_down.weight"
// PACK-SAME: {format = 270 : i64, name = "output.weight"
// PACK: %[[DF:.*]] = arith.constant 270 : i32
// PACK: func.call @milm_op_linear(%{{.*}}, %[[DF]],
// PACK: %[[OF:.*]] = arith.constant 270 : i32
// PACK: func.call @milm_op_logits(%{{.*}}, %[[OF]],
