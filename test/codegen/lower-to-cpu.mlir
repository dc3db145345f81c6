// The CPU lowering: milm.model -> milm_forward in the LLVM dialect, one call
// into the op layer per milm op, shapes and offsets as constants.
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
// CHECK: llvm.func @milm_forward(%[[EX:.*]]: !llvm.ptr, %[[W:.*]]: !llvm.ptr, %[[KV:.*]]: !llvm.ptr, %[[ARENA:.*]]: !llvm.ptr, %[[TOK:.*]]: !llvm.ptr, %[[POS:.*]]: !llvm.ptr, %[[T:.*]]: i64, %[[ALL:.*]]: i32, %[[LOGITS:.*]]: !llvm.ptr) -> i32
// T is checked against [1, max_tokens], positions against the cache capacity.
// CHECK: llvm.icmp "slt" %[[T]]
// CHECK: %[[MAXT:.*]] = llvm.mlir.constant(16 : i64)
// CHECK: llvm.icmp "sgt" %[[T]], %[[MAXT]]
// CHECK: %[[CAP:.*]] = llvm.mlir.constant(128 : i64)
// CHECK: llvm.call @milm_op_check_positions(%[[POS]], %[[T]], %[[CAP]])
// CHECK: %[[FQ8:.*]] = llvm.mlir.constant(8 : i32)
// CHECK: %[[DIM:.*]] = llvm.mlir.constant(128 : i64)
// CHECK: llvm.call @milm_op_embedding(%[[FQ8]], %[[W]], %[[DIM]], %[[TOK]], %[[T]], %[[ARENA]])
// CHECK: %[[NWOFF:.*]] = llvm.mlir.constant(69632 : i64)
// CHECK: %[[NW:.*]] = llvm.getelementptr %[[W]][%[[NWOFF]]]
// CHECK: %[[EPS:.*]] = llvm.mlir.constant(9.99999997E-7 : f32)
// CHECK: llvm.call @milm_op_rms_norm(%[[ARENA]], %[[NW]], %{{.*}}, %[[T]], %{{.*}}, %[[EPS]])
// CHECK: %[[BQOFF:.*]] = llvm.mlir.constant(82432 : i64)
// CHECK: %[[BQ:.*]] = llvm.getelementptr %[[W]][%[[BQOFF]]]
// CHECK: %[[XQOFF:.*]] = llvm.mlir.constant([[XQ:[0-9]+]] : i64)
// CHECK: %[[XQPTR:.*]] = llvm.getelementptr %[[ARENA]][%[[XQOFF]]]
// CHECK: %[[FQ51:.*]] = llvm.mlir.constant(7 : i32)
// CHECK: llvm.call @milm_op_linear(%[[EX]], %[[FQ51]], %{{.*}}, %[[BQ]], %{{.*}}, %[[T]], %{{.*}}, %{{.*}}, %{{.*}}, %[[XQPTR]])
// CHECK: %[[NOBIAS:.*]] = llvm.mlir.zero : !llvm.ptr
// CHECK: %[[FF16:.*]] = llvm.mlir.constant(1 : i32)
// CHECK: llvm.call @milm_op_linear(%[[EX]], %[[FF16]], %{{.*}}, %[[NOBIAS]],
// The q projection is roped in place; k has another user (v), so it is copied.
// CHECK-NOT: milm_op_copy
// CHECK: %[[NEOX:.*]] = llvm.mlir.constant(1 : i32)
// CHECK: %[[ROT:.*]] = llvm.mlir.constant(32 : i32)
// CHECK: %[[BASE:.*]] = llvm.mlir.constant(1.000000e+06 : f32)
// CHECK: %[[YARN:.*]] = llvm.mlir.constant(3 : i32)
// CHECK: %[[FACTOR:.*]] = llvm.mlir.constant(4.000000e+00 : f32)
// CHECK: %[[ORIG:.*]] = llvm.mlir.constant(4096 : i32)
// CHECK: llvm.call @milm_op_rope(%{{.*}}, %[[T]], %{{.*}}, %{{.*}}, %[[POS]], %[[NEOX]], %[[ROT]], %[[BASE]], %[[YARN]], %[[FACTOR]], %[[ORIG]])
// CHECK: llvm.call @milm_op_copy
// CHECK: llvm.call @milm_op_rope
// CHECK: %[[SCALE:.*]] = llvm.mlir.constant(0.176776692 : f32)
// CHECK: llvm.call @milm_op_attention(%[[EX]], %{{.*}}, %{{.*}}, %{{.*}}, %[[KV]], %{{.*}}, %[[POS]], %[[T]], %{{.*}}, %{{.*}}, %{{.*}}, %[[SCALE]], %{{.*}})
// CHECK: %[[N128:.*]] = llvm.mlir.constant(128 : i64)
// CHECK: %[[ELEMS:.*]] = llvm.mul %[[T]], %[[N128]]
// CHECK: llvm.call @milm_op_add(%[[ARENA]], %{{.*}}, %{{.*}}, %[[ELEMS]])
// CHECK: llvm.call @milm_op_linear
// CHECK: llvm.call @milm_op_swiglu
// CHECK: llvm.call @milm_op_linear
// CHECK: llvm.call @milm_op_add
// The logits read the table at the same place as the embedding and write the caller's buffer.
// CHECK: llvm.call @milm_op_logits(%[[EX]], %{{.*}}, %[[W]], %{{.*}}, %[[T]], %{{.*}}, %{{.*}}, %[[LOGITS]], %[[ALL]], %{{.*}})
// CHECK: %[[OK:.*]] = llvm.mlir.constant(0 : i32)
// CHECK: llvm.return %[[OK]]
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
// CHECK: llvm.func @milm_forward
// Hidden 64, ffn 128, 4 experts, top 2, Mixtral weighting (0), router f32, experts q8_0, q8_0, q4_0.
// CHECK: llvm.call @milm_op_embedding
// CHECK: %[[D:.*]] = llvm.mlir.constant(64 : i64)
// CHECK-NEXT: %[[F:.*]] = llvm.mlir.constant(128 : i64)
// CHECK-NEXT: %[[E:.*]] = llvm.mlir.constant(4 : i64)
// CHECK-NEXT: %[[K:.*]] = llvm.mlir.constant(2 : i64)
// CHECK-NEXT: %[[MODE:.*]] = llvm.mlir.constant(0 : i32)
// CHECK-NEXT: %[[RF:.*]] = llvm.mlir.constant(0 : i32)
// CHECK: %[[GF:.*]] = llvm.mlir.constant(8 : i32)
// CHECK: %[[UF:.*]] = llvm.mlir.constant(8 : i32)
// CHECK: %[[DF:.*]] = llvm.mlir.constant(2 : i32)
// CHECK: llvm.call @milm_op_moe(%{{.*}}, %{{.*}}, %{{.*}}, %[[D]], %[[F]], %[[E]], %[[K]], %[[MODE]], %[[RF]], %{{.*}}, %[[GF]], %{{.*}}, %[[UF]], %{{.*}}, %[[DF]],

// -----

// Weight offsets past 2^28 bytes (any model of a few hundred MB) are i64
// operands: GEP's inline constant indices would wrap.
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
// CHECK: %[[OFF:.*]] = llvm.mlir.constant(2147483648 : i64)
// CHECK: %[[OUT:.*]] = llvm.getelementptr %{{.*}}[%[[OFF]]]
// CHECK: llvm.call @milm_op_logits(%{{.*}}, %{{.*}}, %[[OUT]],
