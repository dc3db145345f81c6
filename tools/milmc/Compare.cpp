//===- Compare.cpp - milmc compare ------------------------------------------===//

#include "tools/milmc/Compare.h"

#include "milm/quality.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char **environ;

namespace milm {
namespace {

llvm::Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// A model folder's milm-run (or the executable itself).
llvm::Expected<std::string> findExecutable(const std::string &what) {
  std::string exe = what;
  if (llvm::sys::fs::is_directory(what))
    exe = what + "/milm-run";
  if (!llvm::sys::fs::exists(exe))
    return err(what + ": not a compiled model (no milm-run " +
               (exe == what ? "there" : "in it") + "); compile one with milmc compile MODEL -o " +
               what);
  if (llvm::sys::fs::is_directory(exe) || !llvm::sys::fs::can_execute(exe))
    return err(exe + ": not an executable");
  return exe;
}

/// One model's milm-run, writing its logits stream into a pipe.
struct Child {
  std::string label, exe, errPath;
  pid_t pid = -1;
  int fd = -1;
  uint64_t rowsRead = 0;

  llvm::Error spawn(const CompareOptions &o) {
    std::vector<std::string> args = {exe, "--perplexity", o.text, "--logits-out", "-"};
    if (o.window)
      args.insert(args.end(), {"-c", std::to_string(o.window)});
    if (o.chunks)
      args.insert(args.end(), {"--chunks", std::to_string(o.chunks)});
    if (o.threads)
      args.insert(args.end(), {"-t", std::to_string(o.threads)});
    std::vector<char *> argv;
    for (std::string &s : args)
      argv.push_back(s.data());
    argv.push_back(nullptr);
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
      return err(llvm::Twine("pipe: ") + strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (rc != 0) {
      close(p[0]);
      pid = -1;
      return err(exe + ": cannot run: " + strerror(rc));
    }
    fd = p[0];
    return llvm::Error::success();
  }

  /// Reads exactly n bytes; false at the end of the stream.
  bool read(void *dst, size_t n) {
    char *p = static_cast<char *>(dst);
    while (n) {
      ssize_t got = ::read(fd, p, n);
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        return false;
      p += got;
      n -= size_t(got);
    }
    return true;
  }

  /// Waits for the process; its error line when it failed, else "".
  std::string finish(bool kill) {
    if (fd >= 0)
      close(fd);
    fd = -1;
    if (pid < 0)
      return "";
    if (kill)
      ::kill(pid, SIGTERM);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    pid = -1;
    if (kill || (WIFEXITED(status) && WEXITSTATUS(status) == 0))
      return "";
    std::string last;
    if (auto buf = llvm::MemoryBuffer::getFile(errPath)) {
      llvm::SmallVector<llvm::StringRef> lines;
      (*buf)->getBuffer().split(lines, '\n', -1, false);
      for (llvm::StringRef l : lines)
        if (l.contains("error"))
          last = l.trim().str();
      if (last.empty() && !lines.empty())
        last = lines.back().trim().str();
    }
    if (WIFSIGNALED(status))
      return exe + " was killed by signal " + std::to_string(WTERMSIG(status)) +
             (last.empty() ? "" : ": " + last);
    return last.empty() ? exe + " failed with exit code " + std::to_string(WEXITSTATUS(status))
                        : last;
  }
};

double percentile(std::vector<double> &v, double p) {
  if (v.empty())
    return NAN;
  size_t k = std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + long(k), v.end());
  return v[k];
}

} // namespace

llvm::Expected<CompareResult> runComparison(const CompareOptions &o) {
  if (o.text.empty())
    return err("compare needs a text: --text FILE");
  {
    auto buf = llvm::MemoryBuffer::getFile(o.text, /*IsText=*/false, /*RequiresNullTerminator=*/false);
    if (!buf)
      return err(o.text + ": cannot read: " + buf.getError().message());
    if (llvm::sys::fs::is_directory(o.text))
      return err(o.text + ": is a directory, not a text");
  }
  Child c[2];
  c[0].label = "A";
  c[1].label = "B";
  for (int i = 0; i < 2; ++i) {
    auto exe = findExecutable(i == 0 ? o.a : o.b);
    if (!exe)
      return exe.takeError();
    c[i].exe = *exe;
  }
  llvm::SmallString<128> tmpDir;
  if (std::error_code ec = llvm::sys::fs::createUniqueDirectory("milmc-compare", tmpDir))
    return err("cannot create a temporary folder: " + ec.message());
  struct Cleanup {
    Child *c;
    std::string dir;
    ~Cleanup() {
      c[0].finish(true);
      c[1].finish(true);
      llvm::sys::fs::remove_directories(dir);
    }
  } cleanup{c, std::string(tmpDir)};
  for (int i = 0; i < 2; ++i) {
    c[i].errPath = std::string(tmpDir) + "/" + c[i].label + ".stderr";
    if (llvm::Error e = c[i].spawn(o))
      return e;
  }
  // Either stream ending early means that model's milm-run failed: its message.
  auto failed = [&](int i, const std::string &what) -> llvm::Error {
    std::string why = c[i].finish(false);
    c[1 - i].finish(true);
    return err(c[i].label + " (" + (i == 0 ? o.a : o.b) + "): " +
               (why.empty() ? what : why));
  };

  milm_logits_stream_header h[2];
  for (int i = 0; i < 2; ++i) {
    if (!c[i].read(&h[i], sizeof h[i]))
      return failed(i, "no logits stream");
    if (memcmp(h[i].magic, MILM_LOGITS_STREAM_MAGIC, sizeof h[i].magic) != 0 || h[i].vocab <= 0 ||
        h[i].window < 4 || h[i].windows <= 0 ||
        h[i].scored_per_window != milm_ppl_scored_per_window(h[i].window))
      return failed(i, "not a logits stream of this milm (rebuild the model with this milmc)");
  }
  if (h[0].vocab != h[1].vocab)
    return err("A has a vocabulary of " + llvm::Twine(h[0].vocab) + " tokens and B of " +
               llvm::Twine(h[1].vocab) + ": only models with the same tokenizer compare");
  if (h[0].window != h[1].window || h[0].windows != h[1].windows)
    return err("A scores " + llvm::Twine(h[0].windows) + " windows of " +
               llvm::Twine(h[0].window) + " tokens and B " + llvm::Twine(h[1].windows) + " of " +
               llvm::Twine(h[1].window) + ": give both the same -c (their contexts differ)");

  const int32_t vocab = h[0].vocab;
  const uint64_t total = uint64_t(h[0].windows) * uint64_t(h[0].scored_per_window);
  std::vector<float> row[2] = {std::vector<float>(size_t(vocab)),
                               std::vector<float>(size_t(vocab))};
  std::vector<double> kls;
  kls.reserve(total);
  milm_nll_stats nll[2] = {{0, 0, 0}, {0, 0, 0}};
  milm_nll_stats kl = {0, 0, 0};
  uint64_t agree = 0;
  const bool tty = isatty(2);
  for (uint64_t r = 0; r < total; ++r) {
    int32_t target[2], argmax[2];
    double lse[2]; // each row's log-sum-exp, shared by its NLL and the KL
    for (int i = 0; i < 2; ++i) {
      if (!c[i].read(&target[i], sizeof target[i]) ||
          !c[i].read(row[i].data(), sizeof(float) * size_t(vocab)))
        return failed(i, "the logits stream ended after " + std::to_string(r) + " of " +
                             std::to_string(total) + " rows");
      if (target[i] < 0 || target[i] >= vocab)
        return failed(i, "token id " + std::to_string(target[i]) + " out of the vocabulary");
      lse[i] = milm_log_sum_exp(row[i].data(), vocab, &argmax[i]);
      milm_nll_add(&nll[i], lse[i] - double(row[i][size_t(target[i])]));
    }
    if (target[0] != target[1])
      return err("A and B tokenize " + o.text + " differently (scored token " +
                 llvm::Twine(r) + " is " + llvm::Twine(target[0]) + " for A and " +
                 llvm::Twine(target[1]) + " for B): only models with the same tokenizer compare");
    double d = milm_kl_divergence(row[0].data(), lse[0], row[1].data(), lse[1], vocab);
    kls.push_back(d);
    milm_nll_add(&kl, d);
    agree += argmax[0] == argmax[1];
    const uint64_t per = uint64_t(h[0].scored_per_window);
    if ((r + 1) % per == 0) {
      const uint64_t w = (r + 1) / per;
      if (tty || w % std::max<uint64_t>(1, (uint64_t(h[0].windows) + 9) / 10) == 0 ||
          w == uint64_t(h[0].windows))
        llvm::errs() << (tty ? "\r" : "") << "milmc compare: [" << w << "/" << h[0].windows
                     << "] mean KL so far " << llvm::format("%.6f", kl.sum / double(kl.count))
                     << (tty ? "" : "\n");
    }
  }
  if (tty)
    llvm::errs() << "\n";
  for (int i = 0; i < 2; ++i) {
    // The stream must end here, and the process succeed.
    char extra;
    if (c[i].read(&extra, 1))
      return failed(i, "more logits than its header announced");
    if (std::string why = c[i].finish(false); !why.empty())
      return err(c[i].label + " (" + (i == 0 ? o.a : o.b) + "): " + why);
  }

  CompareResult r;
  r.window = h[0].window;
  r.windows = h[0].windows;
  r.scored = int64_t(total);
  r.pplA = milm_nll_perplexity(&nll[0]);
  r.pplAErr = milm_nll_perplexity_error(&nll[0]);
  r.pplB = milm_nll_perplexity(&nll[1]);
  r.pplBErr = milm_nll_perplexity_error(&nll[1]);
  r.klMean = kl.sum / double(kl.count);
  r.klMeanErr =
      kl.count > 1 ? std::sqrt(std::max(0.0, kl.sum2 / double(kl.count) - r.klMean * r.klMean) /
                               double(kl.count - 1))
                   : 0.0;
  r.klMax = *std::max_element(kls.begin(), kls.end());
  r.klMedian = percentile(kls, 0.5);
  r.klP99 = percentile(kls, 0.99);
  r.top1 = double(agree) / double(total);
  return r;
}

llvm::Error compareModels(const CompareOptions &o, llvm::raw_ostream &out) {
  llvm::Expected<CompareResult> got = runComparison(o);
  if (!got)
    return got.takeError();
  const CompareResult &r = *got;
  if (o.json) {
    llvm::json::Object j{{"text", o.text},
                         {"window", r.window},
                         {"windows", r.windows},
                         {"scored", r.scored},
                         {"a", llvm::json::Object{{"model", o.a},
                                                  {"ppl", r.pplA},
                                                  {"ppl_stderr", r.pplAErr}}},
                         {"b", llvm::json::Object{{"model", o.b},
                                                  {"ppl", r.pplB},
                                                  {"ppl_stderr", r.pplBErr}}},
                         {"kl_mean", r.klMean},
                         {"kl_mean_stderr", r.klMeanErr},
                         {"kl_median", r.klMedian},
                         {"kl_p99", r.klP99},
                         {"kl_max", r.klMax},
                         {"top1_agreement", r.top1}};
    out << llvm::formatv("{0}", llvm::json::Value(std::move(j))) << "\n";
    return llvm::Error::success();
  }
  const uint64_t agree = uint64_t(std::llround(r.top1 * double(r.scored)));
  out << "compare: " << o.text << ", " << r.windows << " windows of " << r.window << " tokens, "
      << r.scored << " tokens scored\n";
  out << llvm::format("  A  perplexity %10.4f +/- %.4f  %s\n", r.pplA, r.pplAErr, o.a.c_str());
  out << llvm::format("  B  perplexity %10.4f +/- %.4f  %s\n", r.pplB, r.pplBErr, o.b.c_str());
  out << llvm::format("  ln(PPL(B)/PPL(A))  %.6f\n", std::log(r.pplB / r.pplA));
  out << llvm::format("  KL(A || B)  mean %.6f +/- %.6f, median %.6f, p99 %.6f, max %.6f\n",
                      r.klMean, r.klMeanErr, r.klMedian, r.klP99, r.klMax);
  out << llvm::format("  top-1 agreement  %.2f%% (%llu of %llu)\n", 100.0 * r.top1,
                      (unsigned long long)agree, (unsigned long long)r.scored);
  return llvm::Error::success();
}

} // namespace milm
