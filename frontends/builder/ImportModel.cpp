//===- ImportModel.cpp - pick the frontend for a model path ---------------===//
#include "frontends/builder/ModelBuilder.h"

#include "frontends/gguf/GGUFImport.h"
#include "frontends/safetensors/SafetensorsImporter.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

namespace milm {

llvm::Expected<ModelDescription> importModel(llvm::StringRef path) {
  if (!llvm::sys::fs::exists(path))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   path + ": no such file or directory");
  if (llvm::sys::fs::is_directory(path))
    return importSafetensors(path);
  llvm::StringRef ext = llvm::sys::path::extension(path);
  if (ext == ".json" || ext == ".safetensors")
    return importSafetensors(path);
  // Anything else is judged by its first bytes, so that a GGUF file with an
  // unusual name still imports and a wrong file gets the GGUF reader's
  // "wrong magic" error naming it.
  return importGGUF(path);
}

} // namespace milm
