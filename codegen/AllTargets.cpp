//===- AllTargets.cpp - Registers every target milm has -------------------===//
#include "codegen/Target.h"
#include "codegen/cpu/CPUCodegen.h"
#include "codegen/hexagon/HexagonTarget.h"

#include <mutex>

namespace milm {

void registerAllTargets() {
  static std::once_flag once;
  std::call_once(once, [] {
    registerCPUTargets();
    registerHexagonTarget();
  });
}

} // namespace milm
