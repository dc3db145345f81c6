//===- Perplexity.h - milm-run --perplexity ---------------------*- C++ -*-===//
//
// Part of the model executable's command line (main.cpp): perplexity over a
// text by the method of common/milm/quality.h, with a progress line, and the
// scored rows' logits streamed to a file or pipe for `milmc compare`.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_RUNTIME_PERPLEXITY_H
#define MILM_RUNTIME_PERPLEXITY_H

#include "milm/milm.h"

#include <string>

namespace milm::rt {

struct PerplexityOptions {
  std::string textPath; // for messages
  std::string text;     // the text itself
  long long window = 0; // W, already checked against the context
  long long maxWindows = 0; // 0: every full window of the text
  std::string logitsOut;    // "" none, "-" stdout, else a file
};

/// Runs the windows on `ctx` (whose size is at least W) and prints the result:
/// progress on stderr, the final line on stdout (on stderr when the logits go
/// to stdout). Returns the exit code; errors are one line on stderr.
int runPerplexity(milm_model *model, milm_context *ctx, const PerplexityOptions &o,
                  const char *prog);

} // namespace milm::rt

#endif
