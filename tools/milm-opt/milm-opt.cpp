//===- milm-opt.cpp - mlir-opt with the milm dialect ----------------------===//
//
// Parses, verifies, transforms and prints IR. Registers every upstream dialect
// and pass (canonicalize, cse, ...), the milm dialect and milm's passes
// (--milm-lower-to-cpu).
//
//===----------------------------------------------------------------------===//
#include "codegen/cpu/LowerToCPU.h"
#include "dialects/milm/MilmDialect.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  milm::registerMilmCodegenPasses();
  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registry.insert<mlir::milm::MilmDialect>();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "milm optimizer driver: the milm dialect and its passes\n",
      registry));
}
