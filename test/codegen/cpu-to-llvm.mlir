// The whole CPU pipeline (what `milmc compile` runs before translating to LLVM
// IR): milm-lower-to-cpu, then linalg -> scf loops -> cf and every dialect to
// LLVM. milm_forward ends with the C signature of runtime/include/milm/model_abi.h
// (static memrefs become bare pointers) and nothing but the LLVM dialect is left.
// RUN: milm-opt %s --milm-cpu-to-llvm="max-tokens=8" | FileCheck %s
// RUN: milm-opt %s --milm-cpu-to-llvm="max-tokens=8" | FileCheck %s --check-prefix=CLEAN

!cache = !milm.kv_cache<layers = 1, kv_heads = 1, head_dim = 32, capacity = 64, element = f16>
milm.model @small #milm.config<arch = "llama", vocab_size = 128, context_length = 64, hidden_size = 64, num_layers = 1, num_heads = 2, num_kv_heads = 1, head_dim = 32, ffn_size = 128> {
  func.func @forward(%tokens: tensor<?xi32>, %pos: tensor<?xi32>, %cache: !cache) -> tensor<?x128xf32> {
    %emb = milm.weight "token_embd.weight" : !milm.weight<128x64xq8_0>
    %x = milm.embedding %emb, %tokens : (!milm.weight<128x64xq8_0>, tensor<?xi32>) -> tensor<?x64xf32>
    %n = milm.weight "output_norm.weight" : !milm.weight<64xf32>
    %h = milm.rms_norm %x, %n {eps = 1.0e-05 : f64} : (tensor<?x64xf32>, !milm.weight<64xf32>) -> tensor<?x64xf32>
    %wg = milm.weight "blk.0.ffn_gate.weight" : !milm.weight<128x64xq4_0>
    %g = milm.linear %h, %wg : (tensor<?x64xf32>, !milm.weight<128x64xq4_0>) -> tensor<?x128xf32>
    %m = milm.swiglu %g, %g : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
    %wd = milm.weight "blk.0.ffn_down.weight" : !milm.weight<64x128xq4_0>
    %f = milm.linear %m, %wd : (tensor<?x128xf32>, !milm.weight<64x128xq4_0>) -> tensor<?x64xf32>
    %r = milm.add %x, %f : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    %l = milm.logits %r, %emb : (tensor<?x64xf32>, !milm.weight<128x64xq8_0>) -> tensor<?x128xf32>
    return %l : tensor<?x128xf32>
  }
}

// CHECK: llvm.func @milm_op_linear(!llvm.ptr, i32, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, !llvm.ptr, !llvm.ptr, i32, !llvm.ptr, !llvm.ptr, i64)
// CHECK: llvm.func @milm_forward(%[[EX:.*]]: !llvm.ptr, %[[W:.*]]: !llvm.ptr, %[[KV:.*]]: !llvm.ptr, %[[ARENA:.*]]: !llvm.ptr, %[[TOK:.*]]: !llvm.ptr, %[[POS:.*]]: !llvm.ptr, %[[T:.*]]: i64, %[[ALL:.*]]: i32, %[[LOGITS:.*]]: !llvm.ptr) -> i32
// The position scan is a loop: a header block comparing the induction variable with T.
// CHECK: ^[[HEAD:bb[0-9]+]](%[[IV:.*]]: i64, %{{.*}}: i1):
// CHECK: llvm.icmp "slt" %[[IV]], %[[T]]
// CHECK: llvm.load %{{.*}} : !llvm.ptr -> i32
// CHECK: llvm.br ^[[HEAD]]
// CHECK: llvm.call @milm_op_embedding
// rms_norm's loops: rsqrt is 1 / llvm.intr.sqrt.
// CHECK: llvm.intr.sqrt
// CHECK: llvm.call @milm_op_linear(%[[EX]]
// swiglu's exp is a polynomial (fma chain, exponent by bit shift), which LLVM
// vectorises with the loop; no per-element libm call.
// CHECK-COUNT-9: llvm.intr.fma
// CHECK: llvm.shl
// CHECK: llvm.call @milm_op_linear(%[[EX]]
// CHECK: llvm.fadd
// CHECK: llvm.call @milm_op_logits(%[[EX]], {{.*}}, %[[LOGITS]], %[[ALL]],
// CHECK: llvm.return

// CLEAN-NOT: memref.
// CLEAN-NOT: linalg.
// CLEAN-NOT: scf.
// CLEAN-NOT: arith.
// CLEAN-NOT: func.
// CLEAN-NOT: unrealized_conversion_cast
// CLEAN-NOT: milm.model
// CLEAN-NOT: llvm.intr.exp
