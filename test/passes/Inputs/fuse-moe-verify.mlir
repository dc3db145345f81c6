// Verifier cases of milm.moe_route and milm.moe_combine (fuse-moe.test).
func.func @topk(%h: tensor<?x8xf32>, %r: !milm.weight<4x8xf32>) -> tensor<?x4xf32> {
  %0 = milm.moe_route %h, %r {top_k = 5 : i64} : (tensor<?x8xf32>, !milm.weight<4x8xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}
// -----
func.func @columns(%h: tensor<?x8xf32>, %r: !milm.weight<4x8xf32>) -> tensor<?x3xf32> {
  %0 = milm.moe_route %h, %r {top_k = 2 : i64} : (tensor<?x8xf32>, !milm.weight<4x8xf32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}
// -----
func.func @count(%w: tensor<?x4xf32>, %a: tensor<?x8xf32>, %b: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = milm.moe_combine %w, %a, %b : (tensor<?x4xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
