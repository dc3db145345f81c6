//===- milm-translate.cpp - translations into and out of milm IR ----------===//
#include "dialects/milm/MilmDialect.h"

#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"

int main(int argc, char **argv) {
  return mlir::failed(mlir::mlirTranslateMain(argc, argv, "milm translation driver\n"));
}
