//===- TestPasses.h - Test-only milm passes ---------------------*- C++ -*-===//
#ifndef MILM_TEST_LIB_PASSES_TESTPASSES_H
#define MILM_TEST_LIB_PASSES_TESTPASSES_H

#include "dialects/milm/MilmDialect.h"

#include "mlir/Pass/Pass.h"

#include <memory>
#include <string>

namespace milm::test {

/// create<Name>() for each pass, and registerMilmTestPasses(), which
/// registers them all (milm-opt only).
#define GEN_PASS_DECL
#define GEN_PASS_REGISTRATION
#include "test/lib/Passes/TestPasses.h.inc"

} // namespace milm::test

#endif
