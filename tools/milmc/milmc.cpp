//===- milmc.cpp - the milm compiler driver -------------------------------===//
#include "dialects/milm/MilmDialect.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

static cl::SubCommand versionCmd("version", "Print milm's version and the LLVM it was built with");

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(argc, argv,
                              "milmc: the milm ahead-of-time compiler for MiLM2 language models\n");
  if (versionCmd) {
    outs() << "milmc 0.1.0 (LLVM " << LLVM_VERSION_STRING << ")\n";
    return 0;
  }
  errs() << "milmc: no command given; run 'milmc --help' for the list\n";
  return 1;
}
