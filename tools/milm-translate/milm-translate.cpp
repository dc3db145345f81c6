//===- milm-translate.cpp - translations into and out of milm IR ----------===//
//
//   milm-translate --import-model MODEL     GGUF or safetensors + config.json -> milm IR
//
// The same import as `milmc import`, as an mlir-translate entry for tests. The
// weights are referenced by the path given on the command line.
//
//===----------------------------------------------------------------------===//
#include "dialects/milm/MilmDialect.h"
#include "frontends/builder/ModelBuilder.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;

int main(int argc, char **argv) {
  TranslateToMLIRRegistration importModel(
      "import-model", "import a GGUF or safetensors model as milm IR",
      [](llvm::SourceMgr &sourceMgr, MLIRContext *ctx) -> OwningOpRef<Operation *> {
        llvm::StringRef path =
            sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID())->getBufferIdentifier();
        auto model = ::milm::importModel(path);
        if (!model) {
          emitError(UnknownLoc::get(ctx)) << llvm::toString(model.takeError());
          return nullptr;
        }
        auto module = ::milm::buildModelIR(*ctx, *model);
        if (!module) {
          emitError(UnknownLoc::get(ctx)) << llvm::toString(module.takeError());
          return nullptr;
        }
        return OwningOpRef<Operation *>(module->release());
      },
      [](DialectRegistry &registry) {
        registry.insert<mlir::milm::MilmDialect, func::FuncDialect>();
      });
  return failed(mlirTranslateMain(argc, argv, "milm translation driver\n"));
}
