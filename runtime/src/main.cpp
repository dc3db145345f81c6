//===- main.cpp - The command line of a compiled model ---------------------===//
//
// `milmc compile` links this file (through libmilm_runtime.a) into the model's
// executable. Its options follow llama.cpp's; see usage() below. It uses only
// the C API (milm.h), like any application embedding the runtime.
//
//===----------------------------------------------------------------------===//

#include "Perplexity.h"
#include "milm/milm.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <time.h>
#include <string>
#include <vector>

namespace {

const char *gProg = "milm";

void usage(FILE *out, const char *argv0) {
  fprintf(out,
          "usage: %s [options]\n"
          "\n"
          "Runs the language model compiled into this executable.\n"
          "\n"
          "  -m, --model FILE        weights (default: those embedded in this executable,\n"
          "                          else model.milm next to it)\n"
          "  -p, --prompt TEXT       prompt\n"
          "  -f, --file FILE         read the prompt from FILE (text: no NUL bytes)\n"
          "      --prompt-ids IDS    the prompt as token ids (\"1 72 301\"), used as given\n"
          "                          (no BOS added)\n"
          "  -n, --n-predict N       tokens to generate (default 128; -1: until the end of\n"
          "                          text or a full context)\n"
          "  -c, --ctx-size N        context positions (default: all the model was\n"
          "                          compiled for)\n"
          "  -t, --threads N         threads (default: one per CPU)\n"
          "      --temp T            temperature, T >= 0 (default 0.8; 0: greedy)\n"
          "      --top-k N           keep the N most likely tokens (default 40; 0: off)\n"
          "      --top-p P           nucleus sampling, 0 <= P <= 1 (default 0.95; 1: off)\n"
          "      --min-p P           drop tokens below P x the best one, 0 <= P <= 1\n"
          "                          (default 0.05; 0: off)\n"
          "      --repeat-penalty X  penalize recent tokens, X > 0 (default 1.0: off)\n"
          "      --repeat-last-n N   tokens the penalty looks back on (default 64)\n"
          "  -s, --seed N            random seed (default: from the clock)\n"
          "\n"
          "Speculative decoding (greedy output is the same; sampled output follows the\n"
          "same distribution):\n"
          "  -md, --model-draft FILE draft with the draft model compiled into this\n"
          "                          executable (milmc compile --draft), its weights\n"
          "                          from FILE (default: embedded, else draft.milm next\n"
          "                          to this executable)\n"
          "      --draft N           at most N proposed tokens per step (default 8),\n"
          "                          with the draft model unless only --lookup is given\n"
          "                          and this executable has no draft\n"
          "      --draft-max N       the same as --draft N\n"
          "      --draft-min N       the fewest the adaptive length goes down to (default 1)\n"
          "      --draft-fixed       always propose the most (no adaptive length)\n"
          "      --draft-p-min P     the draft model stops proposing at a token it gives\n"
          "                          less than P (default 0.2; 0: never)\n"
          "      --lookup            prompt lookup: propose what followed the last earlier\n"
          "                          occurrence of the text's last n-gram (with a draft\n"
          "                          model: lookup first, the draft where it finds none)\n"
          "      --lookup-ngram N    longest n-gram looked up (default 4)\n"
          "      --spec-tree W       greedy: check up to W candidate continuations at once\n"
          "                          as a token tree (lookup's, the draft model's and its\n"
          "                          runner-up first token; default 1: one chain)\n"
          "\n"
          "      --mmap              map the model file instead of reading it into memory:\n"
          "                          less memory, slower decoding\n"
          "      --verify            check every tensor's checksum at start (default)\n"
          "      --no-verify         skip that check\n"
          "      --no-display-prompt do not print the prompt before the generated text\n"
          "      --logits-for IDS    evaluate the token ids in IDS, separated by spaces\n"
          "                          or commas (\"1 72 301\"), one\n"
          "                          position per call and print, per position, one JSON\n"
          "                          line {\"pos\": P, \"input\": T, \"logits\": [...]}\n"
          "      --logits-batch      with --logits-for: evaluate all ids in one call\n"
          "      --logits-tree IDS   evaluate the token ids in IDS as one token tree after\n"
          "                          --tree-prefix IDS (milm_eval_tree) and print, per\n"
          "                          token, {\"node\": I, \"input\": T, \"logits\": [...]}\n"
          "      --tree-parents P    with --logits-tree: each token's parent (-1 for the\n"
          "                          first, the root; then earlier indices)\n"
          "      --tree-prefix IDS   with --logits-tree: tokens evaluated before the tree\n"
          "      --perplexity FILE   perplexity of the text in FILE: windows of -c tokens\n"
          "                          (default: the context, at most 512), each scoring\n"
          "                          its second half, as llama-perplexity does\n"
          "      --chunks K          with --perplexity: score only the first K windows\n"
          "      --logits-out PATH   with --perplexity: write the scored rows' logits to\n"
          "                          PATH (- for stdout) for milmc compare\n"
          "      --profile           after the run, print to stderr the time in each op\n"
          "                          kind and weight format (prompt and decode apart),\n"
          "                          with the weight bytes read and GB/s\n"
          "      --bench-batch N     time one evaluation of 1, 2, ..., N tokens after -c/2\n"
          "                          positions (default 128) of context, and print a\n"
          "                          table of milliseconds per evaluation and their ratio\n"
          "                          to one token's: what checking N-1 speculated tokens\n"
          "                          costs on this machine\n"
          "      --info              describe the model and exit\n"
          "  -h, --help              this help\n",
          argv0);
}

int fail(const std::string &msg) {
  fprintf(stderr, "%s: error: %s\n", gProg, msg.c_str());
  return 1;
}

bool parseInt(const char *s, long long lo, long long hi, long long *out) {
  errno = 0;
  char *end = nullptr;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi)
    return false;
  *out = v;
  return true;
}

/// A finite number in [lo, hi].
bool parseFloat(const char *s, float *out, double lo = -HUGE_VAL, double hi = HUGE_VAL) {
  errno = 0;
  char *end = nullptr;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !std::isfinite(v) || v < lo || v > hi)
    return false;
  *out = float(v);
  return true;
}

bool readFile(const char *path, std::string *out) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return false;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    out->append(buf, n);
  bool ok = !ferror(f);
  fclose(f);
  return ok;
}

/// Token ids (0 to INT32_MAX) separated by white space or by one comma:
/// "1 72 301", "1,72,301", "1, 72, 301". An empty field ("1,,2", "1,") is an error.
bool parseIds(const char *s, std::vector<int32_t> *ids) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n'; };
  const char *p = s;
  for (bool first = true;; first = false) {
    while (space(*p))
      ++p;
    if (!first && *p == ',') { // a comma must have an id on each side
      ++p;
      while (space(*p))
        ++p;
      if (!*p)
        return false;
    }
    if (!*p)
      return !ids->empty();
    if (*p < '0' || *p > '9')
      return false;
    errno = 0;
    char *end = nullptr;
    long long v = strtoll(p, &end, 10);
    if (errno || v > INT32_MAX || !(*end == 0 || *end == ',' || space(*end)))
      return false;
    ids->push_back(int32_t(v));
    p = end;
  }
}

void appendFloat(std::string &line, float v) {
  char buf[32];
  if (std::isnan(v))
    line += "NaN";
  else if (std::isinf(v))
    line += v > 0 ? "Infinity" : "-Infinity";
  else {
    int n = snprintf(buf, sizeof buf, "%.9g", double(v));
    line.append(buf, size_t(n));
  }
}

void printLogitsLine(int32_t pos, int32_t input, const float *logits, int32_t vocab,
                     const char *key = "pos") {
  std::string line;
  line.reserve(size_t(vocab) * 16 + 64);
  char head[96];
  snprintf(head, sizeof head, "{\"%s\": %d, \"input\": %d, \"logits\": [", key, int(pos),
           int(input));
  line += head;
  for (int32_t i = 0; i < vocab; ++i) {
    if (i)
      line += ", ";
    appendFloat(line, logits[i]);
  }
  line += "]}\n";
  fwrite(line.data(), 1, line.size(), stdout);
}

int32_t onToken(void *, int32_t, const char *piece, size_t len) {
  fwrite(piece, 1, len, stdout);
  fflush(stdout);
  return 0;
}

struct Options {
  const char *model = nullptr;
  std::string prompt;
  bool havePrompt = false;
  std::vector<int32_t> promptIds; // --prompt-ids
  bool textPrompt = false;        // -p or -f
  long long nPredict = 128;
  long long nCtx = 0;
  long long threads = 0;
  milm_sampler_params sampling = milm_sampler_default_params();
  bool verify = true;
  bool displayPrompt = true;
  bool logitsFor = false;
  bool logitsBatch = false;
  std::vector<int32_t> logitIds;
  bool logitsTree = false;
  std::vector<int32_t> treeIds, treeParents, treePrefix;
  const char *perplexity = nullptr;
  long long chunks = 0;
  std::string logitsOut;
  bool info = false;
  long long benchBatch = 0;
  bool profile = false;
  bool useMmap = false;
  // Speculative decoding.
  const char *draftModel = nullptr; // -md
  bool draftRequested = false;      // --draft/--draft-max or -md
  bool lookup = false;
  milm_spec_params spec = milm_spec_default_params();
  bool specFlags = false; // a --draft-* or --lookup-* option was given
};

/// Parses argv; returns -1 to go on, else the exit code.
int parseArgs(int argc, char **argv, Options &o) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string inlineValue;
    bool hasInline = false;
    if (arg.size() > 2 && arg[0] == '-' && arg[1] == '-') {
      size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        inlineValue = arg.substr(eq + 1);
        arg.resize(eq);
        hasInline = true;
      }
    }
    auto value = [&](const char **out) {
      if (hasInline) {
        *out = argv[i] + (strchr(argv[i], '=') - argv[i]) + 1;
        return true;
      }
      if (i + 1 >= argc)
        return false;
      *out = argv[++i];
      return true;
    };
    const char *v = nullptr;
    auto needValue = [&]() {
      if (!value(&v)) {
        fail("option " + arg + " needs a value");
        return false;
      }
      return true;
    };
    auto badValue = [&](const char *accepted = nullptr) {
      return fail("invalid value '" + std::string(v) + "' for " + arg +
                  (accepted ? std::string(" (") + accepted + ")" : std::string()));
    };
    long long n;
    if (arg == "-h" || arg == "--help") {
      usage(stdout, argv[0]);
      return 0;
    } else if (arg == "-m" || arg == "--model") {
      if (!needValue())
        return 1;
      o.model = v;
    } else if (arg == "-p" || arg == "--prompt") {
      if (!needValue())
        return 1;
      o.prompt = v;
      o.havePrompt = o.textPrompt = true;
    } else if (arg == "-f" || arg == "--file") {
      if (!needValue())
        return 1;
      o.prompt.clear();
      if (!readFile(v, &o.prompt))
        return fail(std::string(v) + ": cannot read: " + strerror(errno));
      // The prompt is text: a NUL byte would cut it short where it stands.
      if (size_t nul = o.prompt.find('\0'); nul != std::string::npos)
        return fail(std::string(v) + ": NUL byte at offset " + std::to_string(nul) +
                    ": the prompt file must be text");
      o.havePrompt = o.textPrompt = true;
    } else if (arg == "--prompt-ids") {
      if (!needValue())
        return 1;
      o.promptIds.clear();
      if (!parseIds(v, &o.promptIds))
        return badValue("token ids >= 0 separated by spaces or commas, e.g. \"1 72 301\"");
      o.havePrompt = true;
    } else if (arg == "-n" || arg == "--n-predict") {
      if (!needValue())
        return 1;
      if (!parseInt(v, -1, INT32_MAX, &o.nPredict))
        return badValue();
    } else if (arg == "-c" || arg == "--ctx-size") {
      if (!needValue())
        return 1;
      if (!parseInt(v, 0, INT32_MAX, &o.nCtx))
        return badValue();
    } else if (arg == "-t" || arg == "--threads") {
      if (!needValue())
        return 1;
      if (!parseInt(v, 1, 1024, &o.threads))
        return badValue();
    } else if (arg == "--temp") {
      if (!needValue())
        return 1;
      if (!parseFloat(v, &o.sampling.temperature, 0.0))
        return badValue("a number >= 0; 0: greedy");
    } else if (arg == "--top-k") {
      if (!needValue())
        return 1;
      if (!parseInt(v, 0, INT32_MAX, &n))
        return badValue();
      o.sampling.top_k = int32_t(n);
    } else if (arg == "--top-p") {
      if (!needValue())
        return 1;
      if (!parseFloat(v, &o.sampling.top_p, 0.0, 1.0))
        return badValue("a number from 0 to 1");
    } else if (arg == "--min-p") {
      if (!needValue())
        return 1;
      if (!parseFloat(v, &o.sampling.min_p, 0.0, 1.0))
        return badValue("a number from 0 to 1");
    } else if (arg == "--repeat-penalty") {
      if (!needValue())
        return 1;
      if (!parseFloat(v, &o.sampling.repeat_penalty) || !(o.sampling.repeat_penalty > 0))
        return badValue("a number > 0");
    } else if (arg == "--repeat-last-n") {
      if (!needValue())
        return 1;
      if (!parseInt(v, 0, INT32_MAX, &n))
        return badValue();
      o.sampling.repeat_last_n = int32_t(n);
    } else if (arg == "-s" || arg == "--seed") {
      if (!needValue())
        return 1;
      if (!parseInt(v, -1, INT64_MAX, &n))
        return badValue();
      o.sampling.seed = n < 0 ? MILM_SEED_RANDOM : uint64_t(n);
    } else if (arg == "-md" || arg == "--model-draft") {
      if (!needValue())
        return 1;
      o.draftModel = v;
      o.draftRequested = true;
    } else if (arg == "--draft" || arg == "--draft-max") {
      if (!needValue())
        return 1;
      if (!parseInt(v, 1, 4096, &n))
        return badValue("a number of tokens from 1 to 4096");
      o.spec.n_draft = int32_t(n);
      o.draftRequested = true;
    } else if (arg == "--draft-min") {
      if (!needValue())
        return 1;
      if (!parseInt(v, 1, 4096, &n))
        return badValue("a number of tokens from 1 to 4096");
      o.spec.n_draft_min = int32_t(n);
      o.specFlags = true;
    } else if (arg == "--draft-fixed") {
      o.spec.adaptive = 0;
      o.specFlags = true;
    } else if (arg == "--draft-p-min") {
      if (!needValue())
        return 1;
      if (!parseFloat(v, &o.spec.p_min, 0.0, 1.0))
        return badValue("a number from 0 to 1");
      o.specFlags = true;
    } else if (arg == "--lookup") {
      o.lookup = true;
    } else if (arg == "--lookup-ngram") {
      if (!needValue())
        return 1;
      if (!parseInt(v, 1, 64, &n))
        return badValue("a number from 1 to 64");
      o.spec.ngram_max = int32_t(n);
      o.specFlags = true;
    } else if (arg == "--spec-tree") {
      if (!needValue())
        return 1;
      if (!parseInt(v, 1, 64, &n))
        return badValue("a number of candidates from 1 to 64");
      o.spec.tree_width = int32_t(n);
      o.specFlags = true;
    } else if (arg == "--mmap") {
      o.useMmap = true;
    } else if (arg == "--profile") {
      o.profile = true;
    } else if (arg == "--verify") {
      o.verify = true;
    } else if (arg == "--no-verify") {
      o.verify = false;
    } else if (arg == "--no-display-prompt") {
      o.displayPrompt = false;
    } else if (arg == "--logits-for") {
      if (!needValue())
        return 1;
      o.logitIds.clear();
      if (!parseIds(v, &o.logitIds))
        return badValue("token ids >= 0 separated by spaces or commas, e.g. \"1 72 301\"");
      o.logitsFor = true;
    } else if (arg == "--logits-tree" || arg == "--tree-prefix") {
      if (!needValue())
        return 1;
      std::vector<int32_t> &ids = arg == "--logits-tree" ? o.treeIds : o.treePrefix;
      ids.clear();
      if (!parseIds(v, &ids))
        return badValue("token ids >= 0 separated by spaces or commas, e.g. \"1 72 301\"");
      o.logitsTree = o.logitsTree || arg == "--logits-tree";
    } else if (arg == "--tree-parents") {
      if (!needValue())
        return 1;
      o.treeParents.clear();
      // "-1 0 0 1": the root's -1, then indices.
      std::string rest = v;
      if (rest.rfind("-1", 0) != 0)
        return badValue("-1 (the root), then each token's parent index");
      o.treeParents.push_back(-1);
      rest = rest.substr(2);
      if (rest.find_first_not_of(" ,\t") != std::string::npos &&
          !parseIds(rest.substr(rest.find_first_not_of(" ,\t")).c_str(), &o.treeParents))
        return badValue("-1 (the root), then each token's parent index");
    } else if (arg == "--logits-batch") {
      o.logitsBatch = true;
    } else if (arg == "--perplexity") {
      if (!needValue())
        return 1;
      o.perplexity = v;
    } else if (arg == "--chunks") {
      if (!needValue())
        return 1;
      if (!parseInt(v, 1, INT32_MAX, &o.chunks))
        return badValue("a number of windows >= 1");
    } else if (arg == "--logits-out") {
      if (!needValue())
        return 1;
      if (!*v)
        return badValue("a file, or - for stdout");
      o.logitsOut = v;
    } else if (arg == "--bench-batch") {
      if (!needValue())
        return 1;
      if (!parseInt(v, 1, 4096, &o.benchBatch))
        return badValue("a number of tokens from 1 to 4096");
    } else if (arg == "--info") {
      o.info = true;
    } else {
      fail("unknown option '" + arg + "' (see --help)");
      return 1;
    }
  }
  if (o.textPrompt && !o.promptIds.empty())
    return fail("--prompt-ids cannot be combined with a text prompt (-p/-f)");
  const bool speculative = o.draftRequested || o.lookup;
  if (o.specFlags && !speculative)
    return fail("--draft-min, --draft-fixed, --draft-p-min, --lookup-ngram and --spec-tree need "
                "-md, --draft or --lookup");
  if (o.spec.n_draft_min > o.spec.n_draft)
    return fail("--draft-min " + std::to_string(o.spec.n_draft_min) + " is more than --draft " +
                std::to_string(o.spec.n_draft));
  if (o.benchBatch && (o.perplexity || o.logitsFor || o.havePrompt || speculative))
    return fail("--bench-batch runs alone (no prompt, --perplexity, --logits-for or "
                "speculative options)");
  if (speculative && (o.perplexity || o.logitsFor))
    return fail(std::string("speculative decoding (-md, --draft, --lookup) generates text; it "
                            "cannot be combined with ") +
                (o.perplexity ? "--perplexity" : "--logits-for"));
  if ((!o.treeParents.empty() || !o.treePrefix.empty()) && !o.logitsTree)
    return fail("--tree-parents and --tree-prefix need --logits-tree");
  if (o.logitsTree && o.treeParents.size() != o.treeIds.size())
    return fail("--logits-tree has " + std::to_string(o.treeIds.size()) +
                " tokens, --tree-parents " + std::to_string(o.treeParents.size()) +
                " parents");
  if (o.logitsTree && (o.logitsFor || o.perplexity || o.havePrompt || speculative))
    return fail("--logits-tree runs alone (no prompt, --logits-for, --perplexity or "
                "speculative options)");
  if (o.logitsBatch && !o.logitsFor)
    return fail("--logits-batch needs --logits-for");
  if ((o.chunks || !o.logitsOut.empty()) && !o.perplexity)
    return fail(std::string(o.chunks ? "--chunks" : "--logits-out") + " needs --perplexity");
  if (o.perplexity && (o.logitsFor || o.havePrompt))
    return fail(std::string("--perplexity cannot be combined with ") +
                (o.logitsFor ? "--logits-for" : "a prompt (-p/-f)"));
  if (o.perplexity && o.nCtx != 0 && o.nCtx < 4)
    return fail("-c " + std::to_string(o.nCtx) +
                ": a perplexity window needs at least 4 tokens");
  return -1;
}

double seconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

/// --bench-batch: the time of one evaluation of k tokens, k = 1..N, after a
/// context of `past` tokens: the median of repeated runs (at least 5, and at
/// least 0.2 s of them), each rolled back with milm_kv_truncate.
int runBenchBatch(milm_context *ctx, milm_model *model, const Options &o) {
  const int32_t maxBatch = milm_model_max_batch(model);
  const int32_t n = int32_t(std::min<long long>(o.benchBatch, maxBatch));
  const int32_t size = milm_context_size(ctx);
  const int32_t past = std::min(o.nCtx ? int32_t(o.nCtx / 2) : 128, size - n);
  if (past < 0)
    return fail("--bench-batch " + std::to_string(n) + ": the context of " +
                std::to_string(size) + " positions is too small");
  const int32_t vocab = milm_model_vocab_size(model);
  std::vector<int32_t> tokens(size_t(past + n));
  for (size_t i = 0; i < tokens.size(); ++i)
    tokens[i] = int32_t((i * 7919u + 13u) % uint32_t(vocab)); // any valid ids
  if (past > 0 && milm_eval(ctx, tokens.data(), past, 0) != 0)
    return fail(milm_last_error());
  if (n < o.benchBatch)
    fprintf(stderr, "%s: --bench-batch %lld: the model takes at most %d tokens an evaluation\n",
            gProg, o.benchBatch, int(maxBatch));
  printf("tokens  ms/eval  ratio  (after %d positions, %d threads, all logits)\n", int(past),
         int(milm_context_threads(ctx)));
  double one = 0;
  for (int32_t k = 1; k <= n; ++k) {
    std::vector<double> times;
    double spent = 0;
    while (times.size() < 5 || spent < 0.2) {
      const double t0 = seconds();
      if (milm_eval(ctx, tokens.data() + past, k, 1) != 0)
        return fail(milm_last_error());
      const double dt = seconds() - t0;
      times.push_back(dt);
      spent += dt;
      if (milm_kv_truncate(ctx, past) != 0)
        return fail(milm_last_error());
      if (times.size() >= 1000)
        break;
    }
    std::sort(times.begin(), times.end());
    const double med = times[times.size() / 2] * 1e3;
    if (k == 1)
      one = med;
    printf("%6d  %7.3f  %5.2f\n", int(k), med, one > 0 ? med / one : 0.0);
  }
  fflush(stdout);
  return 0;
}

/// --logits-tree: one milm_eval_tree after the prefix; a JSON line per token.
int runLogitsTree(milm_context *ctx, const Options &o, int32_t vocab) {
  if (!o.treePrefix.empty() &&
      milm_eval(ctx, o.treePrefix.data(), int32_t(o.treePrefix.size()), 0) != 0)
    return fail(milm_last_error());
  if (milm_eval_tree(ctx, o.treeIds.data(), o.treeParents.data(), int32_t(o.treeIds.size())) !=
      0)
    return fail(milm_last_error());
  for (size_t i = 0; i < o.treeIds.size(); ++i)
    printLogitsLine(int32_t(i), o.treeIds[i], milm_get_logits(ctx, int32_t(i)), vocab, "node");
  fflush(stdout);
  return 0;
}

int runLogits(milm_context *ctx, const Options &o, int32_t vocab) {
  const std::vector<int32_t> &ids = o.logitIds;
  if (o.logitsBatch) {
    if (milm_eval(ctx, ids.data(), int32_t(ids.size()), 1) != 0)
      return fail(milm_last_error());
    for (size_t i = 0; i < ids.size(); ++i)
      printLogitsLine(int32_t(i), ids[i], milm_get_logits(ctx, int32_t(i)), vocab);
  } else {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (milm_eval(ctx, &ids[i], 1, 1) != 0)
        return fail(milm_last_error());
      printLogitsLine(int32_t(i), ids[i], milm_get_logits(ctx, 0), vocab);
    }
  }
  fflush(stdout);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  int rc = parseArgs(argc, argv, o);
  if (rc >= 0)
    return rc;

  milm_model_params mp = milm_model_default_params();
  mp.verify_checksums = o.verify ? 1 : 0;
  mp.n_threads = int32_t(o.threads);
  mp.use_mmap = o.useMmap ? 1 : 0;
  milm_model *model = milm_model_open(o.model, &mp);
  if (!model)
    return fail(milm_last_error());

  if (o.info) {
    std::string text(size_t(milm_model_info(model, nullptr, 0)) + 1, '\0');
    milm_model_info(model, &text[0], text.size());
    text.pop_back();
    fputs(text.c_str(), stdout);
    milm_model_close(model);
    return 0;
  }

  milm::rt::PerplexityOptions ppl;
  if (o.perplexity) {
    ppl.textPath = o.perplexity;
    if (!readFile(o.perplexity, &ppl.text)) {
      rc = fail(std::string(o.perplexity) + ": cannot read: " + strerror(errno));
      milm_model_close(model);
      return rc;
    }
    ppl.window = o.nCtx ? o.nCtx : std::min<long long>(milm_model_context_capacity(model), 512);
    ppl.maxWindows = o.chunks;
    ppl.logitsOut = o.logitsOut;
    if (ppl.window < 4) {
      rc = fail("the model's context of " + std::to_string(ppl.window) +
                " positions is too small for a perplexity window (4 tokens at least)");
      milm_model_close(model);
      return rc;
    }
  }

  milm_context_params cp = milm_context_default_params();
  cp.n_ctx = int32_t(o.perplexity ? ppl.window : o.nCtx);
  cp.n_threads = int32_t(o.threads);
  cp.profile = o.profile ? 1 : 0;
  milm_context *ctx = milm_context_new(model, &cp);
  if (!ctx) {
    rc = fail(milm_last_error());
    milm_model_close(model);
    return rc;
  }

  // The draft model, when asked for and compiled in: its own weights and
  // context (the same size as the model's, or all it has when smaller).
  milm_model *draftModel = nullptr;
  milm_context *draftCtx = nullptr;
  o.spec.lookup = o.lookup ? 1 : 0;
  if (o.draftRequested && (milm_has_draft() || !o.lookup || o.draftModel)) {
    draftModel = milm_model_open_draft(o.draftModel, &mp);
    if (draftModel) {
      milm_context_params dp = cp;
      dp.n_ctx = std::min(milm_context_size(ctx), milm_model_context_capacity(draftModel));
      dp.profile = 0;
      draftCtx = milm_context_new(draftModel, &dp);
    }
    if (!draftCtx) {
      rc = fail(milm_last_error());
      milm_model_close(draftModel);
      milm_context_free(ctx);
      milm_model_close(model);
      return rc;
    }
  }

  if (o.benchBatch) {
    rc = runBenchBatch(ctx, model, o);
  } else if (o.perplexity) {
    rc = milm::rt::runPerplexity(model, ctx, ppl, gProg);
  } else if (o.logitsFor) {
    rc = runLogits(ctx, o, milm_model_vocab_size(model));
  } else if (o.logitsTree) {
    rc = runLogitsTree(ctx, o, milm_model_vocab_size(model));
  } else {
    milm_sampler *sampler = milm_sampler_new(&o.sampling);
    if (!sampler) {
      rc = fail(milm_last_error());
    } else if (milm_tokenize(model, "", 0, 0, 0, nullptr, 0) < 0) {
      // No usable tokenizer: say so before echoing a prompt that goes nowhere.
      rc = fail(milm_last_error());
      milm_sampler_free(sampler);
    } else {
      if (o.displayPrompt) {
        if (o.promptIds.empty()) {
          fwrite(o.prompt.data(), 1, o.prompt.size(), stdout);
        } else {
          char piece[256];
          for (int32_t id : o.promptIds) {
            int32_t n = milm_token_to_piece(model, id, 0, piece, sizeof piece);
            if (n > 0)
              fwrite(piece, 1, size_t(std::min<int32_t>(n, int32_t(sizeof piece))), stdout);
          }
        }
        fflush(stdout);
      }
      milm_generate_stats stats;
      int32_t grc;
      const int32_t *ids = o.promptIds.data();
      const int32_t nIds = int32_t(o.promptIds.size());
      const bool byIds = !o.promptIds.empty();
      if ((draftCtx || o.lookup) && byIds)
        grc = milm_generate_speculative_tokens(ctx, draftCtx, sampler, ids, nIds,
                                               int32_t(o.nPredict), &o.spec, onToken, nullptr,
                                               &stats);
      else if (draftCtx || o.lookup)
        grc = milm_generate_speculative(ctx, draftCtx, sampler, o.prompt.c_str(),
                                        int32_t(o.nPredict), &o.spec, onToken, nullptr, &stats);
      else if (byIds)
        grc = milm_generate_tokens(ctx, sampler, ids, nIds, int32_t(o.nPredict), onToken,
                                   nullptr, &stats);
      else
        grc = milm_generate(ctx, sampler, o.prompt.c_str(), int32_t(o.nPredict), onToken,
                            nullptr, &stats);
      if (grc != 0) {
        fputc('\n', stdout);
        fflush(stdout);
        rc = fail(milm_last_error());
      } else {
        fputc('\n', stdout);
        fflush(stdout);
        if (stats.stop_reason == MILM_STOP_CONTEXT)
          fprintf(stderr, "%s: stopped: the context of %d positions is full\n", gProg,
                  int(milm_context_size(ctx)));
        char line[512];
        milm_format_timings(&stats, line, sizeof line);
        fprintf(stderr, "%s\n", line);
        rc = 0;
      }
      milm_sampler_free(sampler);
    }
  }
  if (o.profile) {
    std::string table(size_t(milm_format_profile(ctx, nullptr, 0)) + 1, '\0');
    milm_format_profile(ctx, &table[0], table.size());
    fputs(table.c_str(), stderr);
  }
  milm_context_free(draftCtx);
  milm_model_close(draftModel);
  milm_context_free(ctx);
  milm_model_close(model);
  return rc;
}
