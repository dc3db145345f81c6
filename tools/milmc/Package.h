//===- Package.h - milmc compile --emit package ------------------*- C++ -*-===//
//
// What a device team receives besides milm-run: a folder with the model's code
// and the runtime as one position-independent static library, the C API's
// header, a CMake package config and a pkg-config file, a minimal example and a
// README written for this model (target, CPU features, memory, link line).
//
//   OUT/lib/libmilm_<name>.a
//   OUT/lib/libmilm_<name>.so (only the C API and the model's symbols exported)
//   OUT/lib/pkgconfig/milm_<name>.pc
//   OUT/lib/cmake/milm_<name>/milm_<name>Config.cmake
//   OUT/include/milm/milm.h, model_abi.h, milm_<name>.h
//   OUT/examples/generate.c
//   OUT/README.md
//
//===----------------------------------------------------------------------===//
#ifndef MILM_TOOLS_MILMC_PACKAGE_H
#define MILM_TOOLS_MILMC_PACKAGE_H

#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace milm {
namespace link {
struct TargetLinkConfig;
}

struct PackageSpec {
  std::string dir;                  ///< where to write (the staging folder)
  std::string modelName;            ///< the model's name (milm_model_name)
  std::string triple, cpu, requiredFeatures;
  std::vector<std::string> objects; ///< model.o (and draft.o)
  std::string runtimeArchive;       ///< libmilm_runtime.a of the target
  const link::TargetLinkConfig *link = nullptr; ///< links lib/libmilm_<name>.so
  std::string headerDir;            ///< runtime/include/milm: milm.h and model_abi.h
  std::string symbolPrefix;         ///< the model object's symbols: "milm_<name>_"
  bool hasDraft = false;
  /// false (--emit lib): the libraries and headers only, without pkg-config,
  /// CMake, the example and README.md.
  bool full = true;
  uint64_t weightsBytes = 0, kvBytes = 0, arenaBytes = 0;
  int64_t kvCapacity = 0, maxTokens = 0;
};

/// The library's name for a model name: lowercase letters, digits and '_'
/// ("milm_tiny_kjv" -> "tiny_kjv": the package is milm_<name> already).
std::string packageName(const std::string &modelName);

/// Whether the README.md at `path` is one writePackage wrote (a package's
/// sheet may replace it; a README.md of the user's own may not be touched).
bool isPackageReadme(const std::string &path);

/// Writes the package's files into spec.dir (lib/, include/, examples/,
/// README.md); returns the folders and files it wrote, relative to dir.
llvm::Expected<std::vector<std::string>> writePackage(const PackageSpec &spec);

} // namespace milm

#endif
