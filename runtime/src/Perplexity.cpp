//===- Perplexity.cpp - milm-run --perplexity ------------------------------===//
//
// The method (windows, scored tokens, error) is common/milm/quality.h's.
//
//===----------------------------------------------------------------------===//

#include "Perplexity.h"

#include "milm/quality.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <unistd.h>
#include <vector>

namespace milm::rt {
namespace {

int error(const char *prog, const std::string &msg) {
  fprintf(stderr, "%s: error: %s\n", prog, msg.c_str());
  return 1;
}

} // namespace

int runPerplexity(milm_model *model, milm_context *ctx, const PerplexityOptions &o,
                  const char *prog) {
  const std::string &path = o.textPath;
  if (o.text.find('\0') != std::string::npos)
    return error(prog, path + ": NUL byte at offset " + std::to_string(o.text.find('\0')) +
                           ": the text must be text");
  if (o.text.empty())
    return error(prog, path + ": the text is empty: nothing to score");
  const bool addBos = milm_model_adds_bos(model) && milm_token_bos(model) >= 0;
  int32_t n = milm_tokenize(model, o.text.data(), o.text.size(), addBos ? 1 : 0, 0, nullptr, 0);
  if (n < 0)
    return error(prog, milm_last_error());
  std::vector<int32_t> tokens(size_t(n) + 1);
  n = milm_tokenize(model, o.text.data(), o.text.size(), addBos ? 1 : 0, 0, tokens.data(),
                    int32_t(tokens.size()));
  if (n < 0)
    return error(prog, milm_last_error());
  tokens.resize(size_t(n));

  const int32_t W = int32_t(o.window);
  long long windows = (long long)tokens.size() / W;
  if (windows == 0)
    return error(prog, path + ": " + std::to_string(tokens.size()) +
                           " tokens, fewer than one window of " + std::to_string(W) +
                           " (-c): give a longer text or a smaller -c");
  if (o.maxWindows > 0 && o.maxWindows < windows)
    windows = o.maxWindows;
  const int32_t vocab = milm_model_vocab_size(model);
  const int32_t first = milm_ppl_first_scored(W);
  const int32_t perWindow = milm_ppl_scored_per_window(W);

  FILE *out = nullptr;
  if (o.logitsOut == "-") {
    out = stdout;
  } else if (!o.logitsOut.empty()) {
    out = fopen(o.logitsOut.c_str(), "wb");
    if (!out)
      return error(prog, o.logitsOut + ": cannot write: " + strerror(errno));
  }
  auto closeOut = [&]() {
    bool ok = true;
    if (out && out != stdout)
      ok = fclose(out) == 0;
    else if (out)
      ok = fflush(out) == 0;
    out = nullptr;
    return ok;
  };
  auto writeOut = [&](const void *p, size_t bytes) {
    return fwrite(p, 1, bytes, out) == bytes;
  };
  if (out) {
    milm_logits_stream_header h;
    memcpy(h.magic, MILM_LOGITS_STREAM_MAGIC, sizeof h.magic);
    h.vocab = vocab;
    h.window = W;
    h.windows = int32_t(windows);
    h.scored_per_window = perWindow;
    if (!writeOut(&h, sizeof h)) {
      closeOut();
      return error(prog, o.logitsOut + ": write failed: " + strerror(errno));
    }
  }

  const bool tty = isatty(fileno(stderr));
  fprintf(stderr, "%s: perplexity over %s: %zu tokens, %lld windows of %d, %d scored each\n",
          prog, path.c_str(), tokens.size(), windows, int(W), int(perWindow));
  milm_nll_stats stats = {0, 0, 0};
  const auto t0 = std::chrono::steady_clock::now();
  long long nextReport = 0;
  std::vector<int32_t> window(static_cast<size_t>(W));
  for (long long w = 0; w < windows; ++w) {
    std::copy(tokens.begin() + w * W, tokens.begin() + (w + 1) * W, window.begin());
    if (addBos)
      window[0] = milm_token_bos(model);
    if (milm_kv_truncate(ctx, 0) != 0 || milm_eval(ctx, window.data(), W, 1) != 0) {
      closeOut();
      return error(prog, milm_last_error());
    }
    for (int32_t j = first; j < W - 1; ++j) {
      const float *logits = milm_get_logits(ctx, j);
      const int32_t target = window[size_t(j) + 1];
      if (!logits) {
        closeOut();
        return error(prog, "no logits for position " + std::to_string(j));
      }
      milm_nll_add(&stats, -milm_log_prob(logits, vocab, target));
      if (out && (!writeOut(&target, sizeof target) ||
                  !writeOut(logits, sizeof(float) * size_t(vocab)))) {
        closeOut();
        return error(prog, o.logitsOut + ": write failed: " + strerror(errno));
      }
    }
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // On a terminal one line that updates; in a log a line each tenth.
    if (tty || w + 1 >= nextReport || w + 1 == windows) {
      fprintf(stderr, "%s[%lld/%lld] perplexity so far %.4f, %.2f s a window, %.0f s left%s",
              tty ? "\r" : "", w + 1, windows, milm_nll_perplexity(&stats), s / double(w + 1),
              s / double(w + 1) * double(windows - w - 1), tty ? "" : "\n");
      nextReport = w + 1 + (windows + 9) / 10;
    }
  }
  if (tty)
    fputc('\n', stderr);
  if (!closeOut())
    return error(prog, o.logitsOut + ": write failed: " + strerror(errno));
  FILE *result = o.logitsOut == "-" ? stderr : stdout;
  fprintf(result, "perplexity: %.4f +/- %.4f (%lld windows of %d tokens, %lld tokens scored)\n",
          milm_nll_perplexity(&stats), milm_nll_perplexity_error(&stats), windows, int(W),
          (long long)stats.count);
  fflush(result);
  return 0;
}

} // namespace milm::rt
