//===- Passes.td - milm's model-level passes ---------------*- tablegen -*-===//
//
// Every model-level pass (pruning, rotation, quantization, outlier separation,
// MoE fusion, draft heads) is declared here, with its summary, description
// and options; mlir-tblgen generates its base class (GEN_PASS_DEF_<NAME>), its
// create function and options struct (GEN_PASS_DECL_<NAME>) and its
// registration, which milm::registerMilmPasses() calls. A pass that writes
// weights takes the weight store's path as an option:
//
//   def QuantizeWeights : Pass<"milm-quantize-weights", "::mlir::ModuleOp"> {
//     let summary = "...";
//     let description = [{ ... }];
//     let options = [
//       Option<"weightStore", "weight-store", "std::string", /*default=*/"\"\"",
//              "The weight store new weights are appended to (passes/WeightStore.h)">,
//     ];
//     let dependentDialects = ["::mlir::milm::MilmDialect"];
//   }
//
// None is declared yet: the first arrives with the pass issues. docs/DESIGN.md,
// "Adding a pass", is the recipe; test/lib/Passes/TestPasses.td declares a
// test-only pass the same way.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_PASSES_TD
#define MILM_PASSES_TD

include "mlir/Pass/PassBase.td"

#endif // MILM_PASSES_TD
