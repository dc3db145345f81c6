//===- TestPasses.td - Test-only milm passes ---------------*- tablegen -*-===//
//
// Passes that exist for the tests in test/passes/ and are registered only in
// milm-opt. They are declared like the passes of passes/Passes.td.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_TEST_PASSES_TD
#define MILM_TEST_PASSES_TD

include "mlir/Pass/PassBase.td"

def TestStoreWeight : Pass<"milm-test-store-weight", "::mlir::ModuleOp"> {
  let summary = "Test only: copies one weight into the weight store and "
                "references the copy";
  let description = [{
    Reads the bytes of the weight named `weight` from wherever its
    `milm.weight` op references them (a model file or a weight store),
    appends them unchanged to the weight store `weight-store`, and points
    every `milm.weight` op of that name at the copy:

    ```mlir
    %w = milm.weight "blk.0.attn_q.weight" from "model.gguf" at 380256
        : !milm.weight<256x256xq8_0>
    // becomes
    %w = milm.weight "blk.0.attn_q.weight" from "w.milmstore" at 64
        : !milm.weight<256x256xq8_0>
    ```

    The model computes the same thing before and after. It shows, and the
    tests check, what a real weight-writing pass does: bytes written through
    passes/WeightStore.h, referenced by file and offset like a model file's.
  }];
  let options = [
    Option<"weightName", "weight", "std::string", /*default=*/"\"\"",
           "Name of the weight to copy">,
    Option<"weightStore", "weight-store", "std::string", /*default=*/"\"\"",
           "Path of the weight store to append to (created if missing)">,
  ];
  let dependentDialects = ["::mlir::milm::MilmDialect"];
}

#endif // MILM_TEST_PASSES_TD
