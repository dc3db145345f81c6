//===- milm-opt.cpp - mlir-opt with the milm dialect ----------------------===//
//
// Parses, verifies, transforms and prints IR. Registers every upstream dialect
// and pass (canonicalize, cse, ...), the milm dialect, milm's model-level
// passes and pipeline (passes/Passes.td, --milm-model-pipeline), its codegen
// passes (--milm-lower-to-cpu) and the test-only passes of test/lib
// (--milm-test-*).
//
//===----------------------------------------------------------------------===//
#include "codegen/cpu/LowerToCPU.h"
#include "dialects/milm/MilmDialect.h"
#include "passes/Passes.h"
#include "test/lib/Passes/TestPasses.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  milm::registerMilmPasses();
  milm::registerMilmCodegenPasses();
  milm::test::registerMilmTestPasses();
  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registry.insert<mlir::milm::MilmDialect>();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "milm optimizer driver: the milm dialect and its passes\n",
      registry));
}
