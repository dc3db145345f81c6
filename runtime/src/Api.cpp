//===- Api.cpp - The C API: model, context, evaluation, generation ---------===//

#include "ApiInternal.h"
#include "LinkedModel.h"
#include "milm/cpu_features.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <pthread.h>
#include <string>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <vector>

using milm::rt::Artifact;
using milm::rt::OpProfile;
using milm::rt::Sampler;
using milm::rt::SamplerParams;
using milm::rt::ThreadPool;
using milm::rt::Tokenizer;

namespace {
thread_local char tlError[1024];
} // namespace

int32_t milm::rt::setApiError(const std::string &msg) {
  size_t n = msg.size() < sizeof(tlError) - 1 ? msg.size() : sizeof(tlError) - 1;
  memcpy(tlError, msg.data(), n);
  tlError[n] = '\0';
  return -1;
}

int32_t milm::rt::setApiErrorf(const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  vsnprintf(tlError, sizeof tlError, format, ap);
  va_end(ap);
  return -1;
}

int32_t milm::rt::evalPrompt(milm_context *ctx, Sampler &sampler, const int32_t *prompt,
                             int32_t n_prompt, milm_generate_stats &st) {
  if (n_prompt < 0 || (n_prompt == 0 && ctx->logitsRows == 0))
    return setApiError("the prompt is empty (no tokens to start from)");
  if (int64_t(ctx->nPast) + n_prompt > ctx->nCtx)
    return setApiErrorf("the prompt has %d tokens, more than the %d positions left in the context",
                        int(n_prompt), int(ctx->nCtx - ctx->nPast));
  const double t0 = monotonicSeconds();
  if (n_prompt > 0 && milm_eval(ctx, prompt, n_prompt, 0) != 0)
    return -1;
  for (int32_t i = 0; i < n_prompt; ++i)
    sampler.accept(prompt[i]);
  st.prompt_tokens = n_prompt;
  st.prompt_seconds = monotonicSeconds() - t0;
  return 0;
}

int32_t milm::rt::promptTokens(const milm_context *ctx, const char *prompt,
                               std::vector<int32_t> &ids) {
  const milm_model *m = ctx->model;
  const Tokenizer &tok = m->artifact.tokenizer();
  if (!tok.valid())
    return setApiError(m->artifact.tokenizerError());
  const bool addBos = m->artifact.addBos() && ctx->nPast == 0;
  ids = tok.encode(prompt ? prompt : "", addBos, /*parseSpecial=*/true);
  return 0;
}

double milm::rt::monotonicSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

namespace {

using milm::rt::setApiError;
using milm::rt::setApiErrorf;
double nowSeconds() { return milm::rt::monotonicSeconds(); }

using ll = long long;
using ull = unsigned long long;

int resolveThreads(int32_t n) { return n > 0 ? int(n) : ThreadPool::hardwareThreads(); }

/// Anonymous zeroed memory, committed on first touch; nullptr on failure.
void *mapAnonymous(size_t bytes) {
  void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

char gDefaultPath[4096];
char gDraftPath[4096];
pthread_once_t gDefaultPathOnce = PTHREAD_ONCE_INIT;

/// model.milm and draft.milm next to the executable.
void computeDefaultPaths() {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) {
    snprintf(gDefaultPath, sizeof gDefaultPath, "model.milm");
    snprintf(gDraftPath, sizeof gDraftPath, "draft.milm");
    return;
  }
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash)
    *slash = '\0';
  snprintf(gDefaultPath, sizeof gDefaultPath, "%s/model.milm", slash ? exe : ".");
  snprintf(gDraftPath, sizeof gDraftPath, "%s/draft.milm", slash ? exe : ".");
}

} // namespace

// Defined by the linker script milmc passes with `compile --embed-weights`
// around the model.milm (and draft.milm) it links in (64 KiB aligned);
// otherwise undefined and, being weak, null.
extern "C" const unsigned char milm_embedded_artifact_start[] __attribute__((weak));
extern "C" const unsigned char milm_embedded_artifact_end[] __attribute__((weak));
extern "C" const unsigned char milm_embedded_draft_start[] __attribute__((weak));
extern "C" const unsigned char milm_embedded_draft_end[] __attribute__((weak));

namespace {

uint64_t randomSeed() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t s = uint64_t(ts.tv_sec) * 1000000007ull ^ uint64_t(ts.tv_nsec) ^
               (uint64_t(getpid()) << 32);
  return s == MILM_SEED_RANDOM ? 0 : s;
}

} // namespace


extern "C" {

const char *milm_last_error(void) { return tlError; }

//===---- Model -------------------------------------------------------------===//

milm_model_params milm_model_default_params(void) {
  milm_model_params p;
  p.verify_checksums = 1;
  p.n_threads = 0;
  p.use_mmap = 0;
  return p;
}

const char *milm_default_model_path(void) {
  pthread_once(&gDefaultPathOnce, computeDefaultPaths);
  return gDefaultPath;
}

const char *milm_default_draft_path(void) {
  pthread_once(&gDefaultPathOnce, computeDefaultPaths);
  return gDraftPath;
}

} // extern "C"

namespace {

/// Opens the weights of the code `desc`/`forward`: `path`, else the artifact
/// embedded between `embStart` and `embEnd` when there is one, else
/// `defaultPath`.
/// Where a model's weights are: a file, or bytes in memory (embedded in the
/// executable, or the application's) with a name for messages.
struct WeightSource {
  const char *path = nullptr;
  const unsigned char *data = nullptr;
  uint64_t size = 0;
  const char *name = nullptr;
};

/// The weights of an open call: `path`, else the artifact embedded between
/// `embStart` and `embEnd` when there is one, else `defaultPath`.
WeightSource fileOrEmbedded(const char *path, const unsigned char *embStart,
                            const unsigned char *embEnd, const char *defaultPath,
                            const char *embeddedName) {
  WeightSource w;
  if (!path && embStart && embEnd) {
    w.data = embStart;
    w.size = uint64_t(embEnd - embStart);
    w.name = embeddedName;
  } else {
    w.path = path ? path : defaultPath;
  }
  return w;
}

milm_model *openModel(const milm_model_desc *desc, milm_forward_fn forward,
                      const WeightSource &src, const milm_model_params *params) {
  milm_model_params p = params ? *params : milm_model_default_params();
  milm_model *m = new milm_model;
  m->desc = desc;
  m->forward = forward;
  std::string err;
  // Before anything runs the model's code: a binary compiled for instructions
  // this CPU lacks is refused here, not killed by SIGILL later.
  char missing[512];
  if (m->desc->abi_version == MILM_MODEL_ABI_VERSION &&
      !milm_cpu_has_features(m->desc->cpu_features, missing, sizeof missing)) {
    setApiError(std::string("this binary was compiled for CPU features that this CPU lacks: ") +
                missing + "; compile the model for this CPU (milmc compile --target host)");
    delete m;
    return nullptr;
  }
  // Read into memory (faster decoding; mapped anyway when the copy would not
  // fit in the memory available) unless asked to map.
  const Artifact::Load load = p.use_mmap ? Artifact::Load::Map : Artifact::Load::Read;
  bool ok = src.data ? m->artifact.openMemory(src.data, src.size, src.name, &err, load)
                     : m->artifact.open(src.path, &err, load);
  ok = ok && m->artifact.checkAgainst(*m->desc, &err);
  if (ok && p.verify_checksums) {
    ThreadPool pool;
    pool.start(resolveThreads(p.n_threads));
    ok = m->artifact.verifyChecksums(&pool, &err);
  }
  if (!ok) {
    setApiError(err);
    delete m;
    return nullptr;
  }
  return m;
}

/// The model code linked under the default names (milm_forward); when there
/// is none, null members and the error says so for `fn`, naming the package
/// function `packageFn` to call instead.
milm::rt::LinkedCode defaultModelCode(const char *fn, const char *packageFn) {
  const milm::rt::LinkedCode code = milm::rt::linkedModel();
  if (!code.desc || !code.forward)
    setApiErrorf("%s: no model's code is linked under the default names (a package's model "
                 "opens with its %s, milm_<name>.h)",
                 fn, packageFn);
  return code;
}

/// One call of the model code on the context's buffers: `n` tokens at the
/// positions already in ctx->positions, logits into `out`; `treeMask`
/// (milm_eval_tree) non-null makes it a token tree. Profiled with the
/// context. Returns what milm_forward returns.
int32_t callForward(milm_context *ctx, const int32_t *tokens, int32_t n, int32_t allLogits,
                    float *out, const uint8_t *treeMask) {
  uint64_t t0 = 0;
  if (ctx->profile) {
    ctx->profile->setPhase(n == 1 && !treeMask ? OpProfile::Decode : OpProfile::Prompt);
    t0 = OpProfile::nowNs();
  }
  milm_exec *ex = ctx->borrowedExec ? ctx->borrowedExec : ctx->pool.exec();
  ex->treeMask = treeMask;
  const int32_t rc = ctx->model->forward(ex, ctx->model->artifact.weights(), ctx->kv,
                                         ctx->arena, tokens, ctx->positions.data(), n, allLogits,
                                         out);
  ex->treeMask = nullptr;
  if (ctx->profile)
    ctx->profile->addForward(OpProfile::nowNs() - t0);
  return rc;
}

} // namespace

extern "C" {

milm_model *milm_model_open(const char *path, const milm_model_params *params) {
  const milm::rt::LinkedCode code =
      defaultModelCode("milm_model_open", "milm_<name>_open");
  if (!code.desc || !code.forward)
    return nullptr;
  return openModel(code.desc, code.forward,
                   fileOrEmbedded(path, milm_embedded_artifact_start, milm_embedded_artifact_end,
                                  milm_default_model_path(), "<embedded model.milm>"),
                   params);
}

milm_model *milm_model_open_code(const struct milm_model_desc *descriptor,
                                 milm_forward_function forward, const char *path,
                                 const milm_model_params *params) {
  MILM_NONNULL(descriptor, nullptr);
  MILM_NONNULL(forward, nullptr);
  MILM_NONNULL(path, nullptr);
  WeightSource src;
  src.path = path;
  return openModel(descriptor, forward, src, params);
}

milm_model *milm_model_open_code_memory(const struct milm_model_desc *descriptor,
                                        milm_forward_function forward, const void *data,
                                        size_t size, const milm_model_params *params) {
  MILM_NONNULL(descriptor, nullptr);
  MILM_NONNULL(forward, nullptr);
  MILM_NONNULL(data, nullptr);
  WeightSource src;
  src.data = static_cast<const unsigned char *>(data);
  src.size = uint64_t(size);
  src.name = "<model.milm in memory>";
  return openModel(descriptor, forward, src, params);
}

milm_model *milm_model_open_memory(const void *data, size_t size,
                                   const milm_model_params *params) {
  const milm::rt::LinkedCode code =
      defaultModelCode("milm_model_open_memory", "milm_<name>_open_memory");
  if (!code.desc || !code.forward)
    return nullptr;
  return milm_model_open_code_memory(code.desc, code.forward, data, size, params);
}

int32_t milm_has_draft(void) { return milm::rt::linkedDraft().desc ? 1 : 0; }

milm_model *milm_model_open_draft(const char *path, const milm_model_params *params) {
  const milm::rt::LinkedCode code = milm::rt::linkedDraft();
  if (!code.desc || !code.forward) {
    setApiError("this executable has no draft model (compile one in with milmc compile "
                "--draft MODEL)");
    return nullptr;
  }
  return openModel(code.desc, code.forward,
                   fileOrEmbedded(path, milm_embedded_draft_start, milm_embedded_draft_end,
                                  milm_default_draft_path(), "<embedded draft.milm>"),
                   params);
}

void milm_model_close(milm_model *model) { delete model; }

int32_t milm_model_vocab_size(const milm_model *m) {
  MILM_NONNULL(m, -1);
  return int32_t(m->desc->vocab_size);
}
int32_t milm_model_context_capacity(const milm_model *m) {
  MILM_NONNULL(m, -1);
  return int32_t(m->desc->kv_capacity);
}
int32_t milm_model_max_batch(const milm_model *m) {
  MILM_NONNULL(m, -1);
  return int32_t(m->desc->max_tokens);
}
const char *milm_model_name(const milm_model *m) {
  MILM_NONNULL(m, nullptr);
  return m->desc->model_name ? m->desc->model_name : "";
}
const char *milm_model_target(const milm_model *m) {
  MILM_NONNULL(m, nullptr);
  return m->desc->target ? m->desc->target : "";
}
uint64_t milm_model_hash(const milm_model *m) {
  MILM_NONNULL(m, 0);
  return m->desc->model_hash;
}
int32_t milm_token_bos(const milm_model *m) {
  MILM_NONNULL(m, -1);
  return m->artifact.tokenizer().bos();
}
int32_t milm_token_eos(const milm_model *m) {
  MILM_NONNULL(m, -1);
  return m->artifact.tokenizer().eos();
}
int32_t milm_model_adds_bos(const milm_model *m) {
  MILM_NONNULL(m, -1);
  return m->artifact.addBos() ? 1 : 0;
}

int32_t milm_model_info(const milm_model *m, char *buf, size_t capacity) {
  MILM_NONNULL(m, -1);
  MILM_REQUIRE(buf || capacity == 0, "buf is NULL but capacity is not 0", -1);
  const Artifact &a = m->artifact;
  const milm::fb::Model &h = a.header();
  const milm::fb::ModelConfig &c = *h.config();
  const milm::fb::Tokenizer &t = *h.tokenizer();
  const milm_model_desc &d = *m->desc;
  // Strings from the file may hold control characters (ESC, NUL): escaped.
  auto s = [](const flatbuffers::String *v) {
    return v ? milm::rt::printable(v->data(), v->size()) : std::string();
  };
  char line[512];
  std::string out;
  snprintf(line, sizeof line, "file: %s (%llu bytes)\nformat: %u.%u, written by %s\n",
           a.path().c_str(), (unsigned long long)a.fileSize(), unsigned(a.versionMajor()),
           unsigned(a.versionMinor()), s(h.producer()).c_str());
  out += line;
  snprintf(line, sizeof line, "target: %s\nmodel hash: 0x%016llx\n", s(h.target()).c_str(),
           (unsigned long long)h.model_hash());
  out += line;
  snprintf(line, sizeof line,
           "model: %s (%s): vocab %lld, context %lld, hidden %lld, layers %lld, heads %lld "
           "(kv %lld), head_dim %lld, ffn %lld, experts %lld (%lld used)\n",
           s(c.name()).c_str(), s(c.arch()).c_str(), (long long)c.vocab_size(),
           (long long)c.context_length(), (long long)c.hidden_size(), (long long)c.num_layers(),
           (long long)c.num_heads(), (long long)c.num_kv_heads(), (long long)c.head_dim(),
           (long long)c.ffn_size(), (long long)c.num_experts(), (long long)c.num_experts_used());
  out += line;
  // A structurally pruned model (format 1.2): the sizes of each layer.
  auto perLayer = [&](const char *what, const flatbuffers::Vector<int64_t> *v) {
    if (!v || v->size() == 0)
      return;
    out += out.back() == '\n' ? "per layer: " : "; ";
    out += what;
    for (int64_t x : *v)
      out += " " + std::to_string(x);
  };
  const size_t before = out.size();
  perLayer("heads", c.layer_num_heads());
  perLayer("kv heads", c.layer_num_kv_heads());
  perLayer("ffn", c.layer_ffn_size());
  if (out.size() != before)
    out += "\n";
  snprintf(line, sizeof line, "tokenizer: %s%s%s, %u tokens, bos %d, eos %d, add_bos %s%s%s\n",
           s(t.kind()).c_str(), t.pre() && t.pre()->size() ? " pre " : "", s(t.pre()).c_str(),
           t.tokens() ? unsigned(t.tokens()->size()) : 0u, int(t.bos()), int(t.eos()),
           t.add_bos() ? "yes" : "no", a.tokenizer().valid() ? "" : " -- unusable: ",
           a.tokenizer().valid() ? "" : a.tokenizerError().c_str());
  out += line;
  snprintf(line, sizeof line,
           "weights: %u tensors, %llu bytes at byte %llu, checksums %s\n"
           "compiled code: kv_capacity %lld, max_tokens %lld, arena %llu bytes\n",
           unsigned(h.tensors()->size()), (unsigned long long)a.weightsSize(),
           (unsigned long long)a.weightsOffset(),
           h.checksum_kind() == milm::fb::ChecksumKind_Milm64 ? "milm64" : "none",
           (long long)d.kv_capacity, (long long)d.max_tokens, (unsigned long long)d.arena_bytes);
  out += line;
  {
    // The KV cache: bytes a position takes in every layer, and each layer's
    // KV heads when they differ (a pruned model).
    uint64_t kv = 0, perPos = 0;
    if (milm_model_kv_bytes(&d, &kv) && d.kv_capacity > 0)
      perPos = kv / uint64_t(d.kv_capacity);
    snprintf(line, sizeof line, "KV cache: %llu bytes (%llu a position)",
             (unsigned long long)kv, (unsigned long long)perPos);
    out += line;
    if (d.layer_kv_heads) {
      out += ", KV heads per layer";
      for (int64_t l = 0; l < d.num_layers; ++l)
        out += " " + std::to_string(d.layer_kv_heads[l]);
    }
    out += "\n";
  }
  // How many tensors of each storage format (packed layouts included), in
  // order of first appearance.
  {
    uint32_t formats[16], counts[16];
    int n = 0;
    for (const milm::fb::Tensor *t : *h.tensors()) {
      int i = 0;
      while (i < n && formats[i] != t->format())
        ++i;
      if (i == n && n < 16)
        formats[n] = t->format(), counts[n++] = 0;
      if (i < n)
        ++counts[i];
    }
    out += "formats:";
    for (int i = 0; i < n; ++i) {
      const char *name = milm::rt::storageFormatName(formats[i]);
      snprintf(line, sizeof line, "%s %s x%u", i ? "," : "", name ? name : "?", counts[i]);
      out += line;
    }
    out += "\n";
  }
  if (h.options())
    for (const milm::fb::CompileOption *o : *h.options())
      out += "option: " + s(o->key()) + " = " + s(o->value()) + "\n";
  if (capacity) {
    size_t n = out.size() < capacity - 1 ? out.size() : capacity - 1;
    memcpy(buf, out.data(), n);
    buf[n] = '\0';
  }
  return int32_t(out.size());
}

//===---- Tokenizer ---------------------------------------------------------===//

int32_t milm_tokenize(const milm_model *m, const char *text, size_t text_len, int32_t add_bos,
                      int32_t parse_special, int32_t *tokens, int32_t capacity) {
  MILM_NONNULL(m, -1);
  MILM_REQUIRE(text || text_len == 0, "text is NULL but text_len is not 0", -1);
  MILM_REQUIRE(capacity >= 0, "capacity is negative", -1);
  MILM_REQUIRE(tokens || capacity == 0, "tokens is NULL but capacity is not 0", -1);
  const milm::rt::Tokenizer &tok = m->artifact.tokenizer();
  if (!tok.valid())
    return setApiError(m->artifact.tokenizerError());
  std::vector<int32_t> ids =
      tok.encode(std::string_view(text ? text : "", text ? text_len : 0), add_bos != 0,
                 parse_special != 0);
  if (ids.size() > size_t(INT32_MAX))
    return setApiError("milm_tokenize: the text has too many tokens");
  for (size_t i = 0; i < ids.size() && int64_t(i) < int64_t(capacity); ++i)
    tokens[i] = ids[i];
  return int32_t(ids.size());
}

int32_t milm_token_to_piece(const milm_model *m, int32_t token, int32_t render_special,
                            char *buf, int32_t capacity) {
  MILM_NONNULL(m, -1);
  MILM_REQUIRE(buf || capacity <= 0, "buf is NULL but capacity is not 0", -1);
  const milm::rt::Tokenizer &tok = m->artifact.tokenizer();
  if (!tok.valid())
    return setApiError(m->artifact.tokenizerError());
  std::string piece = tok.tokenPiece(token, render_special != 0);
  if (capacity > 0)
    memcpy(buf, piece.data(), piece.size() < size_t(capacity) ? piece.size() : size_t(capacity));
  return int32_t(piece.size());
}

//===---- Context -----------------------------------------------------------===//

milm_context_params milm_context_default_params(void) {
  milm_context_params p;
  p.n_ctx = 0;
  p.n_threads = 0;
  p.profile = 0;
  return p;
}

milm_context *milm_context_new(milm_model *model, const milm_context_params *params) {
  MILM_NONNULL(model, nullptr);
  milm_context_params p = params ? *params : milm_context_default_params();
  const milm_model_desc &d = *model->desc;
  if (d.kv_capacity <= 0 || d.kv_capacity > MILM_MODEL_MAX_KV_CAPACITY || d.max_tokens <= 0 ||
      d.vocab_size <= 0 || d.num_layers < 0 || d.num_kv_heads < 0 || d.head_dim < 0) {
    setApiErrorf("the compiled model's descriptor is invalid (kv_capacity %lld, max_tokens %lld, "
              "vocab_size %lld)",
              ll(d.kv_capacity), ll(d.max_tokens), ll(d.vocab_size));
    return nullptr;
  }
  if (p.n_ctx < 0 || p.n_ctx > d.kv_capacity) {
    setApiErrorf("context size %d exceeds the %lld positions the model was compiled for",
              int(p.n_ctx), ll(d.kv_capacity));
    return nullptr;
  }
  uint64_t kv = 0;
  if (!milm_model_kv_bytes(&d, &kv) ||
      kv > SIZE_MAX / 2 || d.arena_bytes > SIZE_MAX / 2) {
    setApiError("the KV cache or the arena is too large for this machine");
    return nullptr;
  }
  milm_context *ctx = new milm_context;
  ctx->model = model;
  ctx->nCtx = p.n_ctx ? p.n_ctx : int32_t(d.kv_capacity);
  ctx->kvBytes = kv ? size_t(kv) : 64;
  ctx->arenaBytes = d.arena_bytes ? size_t(d.arena_bytes) : 64;
  ctx->kv = static_cast<uint16_t *>(mapAnonymous(ctx->kvBytes));
  ctx->arena = static_cast<uint8_t *>(mapAnonymous(ctx->arenaBytes));
  if (!ctx->kv || !ctx->arena) {
    setApiErrorf("cannot allocate %llu bytes of KV cache and %llu bytes of scratch",
              ull(ctx->kvBytes), ull(ctx->arenaBytes));
    milm_context_free(ctx);
    return nullptr;
  }
  ctx->positions.resize(size_t(d.max_tokens));
  ctx->pool.start(resolveThreads(p.n_threads));
  if (p.profile) {
    ctx->profile.reset(new OpProfile);
    ctx->pool.exec()->profile = ctx->profile.get();
  }
  return ctx;
}

void milm_context_free(milm_context *ctx) {
  if (!ctx)
    return;
  ctx->pool.stop();
  if (ctx->kv)
    munmap(ctx->kv, ctx->kvBytes);
  if (ctx->arena)
    munmap(ctx->arena, ctx->arenaBytes);
  delete ctx;
}

int32_t milm_context_size(const milm_context *ctx) {
  MILM_NONNULL(ctx, -1);
  return ctx->nCtx;
}
int32_t milm_context_threads(const milm_context *ctx) {
  MILM_NONNULL(ctx, -1);
  return ctx->pool.size();
}
int32_t milm_n_past(const milm_context *ctx) {
  MILM_NONNULL(ctx, -1);
  return ctx->nPast;
}

int32_t milm_kv_truncate(milm_context *ctx, int32_t n_past) {
  MILM_NONNULL(ctx, -1);
  if (n_past < 0 || n_past > ctx->nPast)
    return setApiErrorf("milm_kv_truncate: %d is not in [0, %d]", int(n_past), int(ctx->nPast));
  ctx->nPast = n_past;
  ctx->tokens.resize(size_t(n_past));
  ctx->logitsRows = 0;
  ctx->treeTokens.clear();
  return 0;
}

int32_t milm_eval(milm_context *ctx, const int32_t *tokens, int32_t n_tokens,
                  int32_t all_logits) {
  MILM_NONNULL(ctx, -1);
  MILM_REQUIRE(tokens || n_tokens <= 0, "tokens is NULL", -1);
  const milm_model_desc &d = *ctx->model->desc;
  const int64_t vocab = d.vocab_size;
  if (n_tokens <= 0)
    return setApiError("milm_eval: no tokens");
  for (int32_t i = 0; i < n_tokens; ++i)
    if (tokens[i] < 0 || tokens[i] >= vocab)
      return setApiErrorf("milm_eval: token %d at index %d is outside the vocabulary (%lld tokens)",
                       int(tokens[i]), int(i), ll(vocab));
  if (int64_t(ctx->nPast) + n_tokens > ctx->nCtx)
    return setApiErrorf("context full: %d + %d tokens exceed the context of %d positions",
                     int(ctx->nPast), int(n_tokens), int(ctx->nCtx));
  const int64_t rows = all_logits ? n_tokens : 1;
  ctx->logits.resize(size_t(rows * vocab));
  ctx->logitsRows = 0;
  ctx->treeTokens.clear();
  for (int32_t done = 0; done < n_tokens;) {
    int32_t m = int32_t(n_tokens - done < d.max_tokens ? n_tokens - done : d.max_tokens);
    for (int32_t i = 0; i < m; ++i)
      ctx->positions[size_t(i)] = ctx->nPast + i;
    float *out = all_logits ? ctx->logits.data() + size_t(done) * size_t(vocab)
                            : ctx->logits.data();
    const int32_t rc = callForward(ctx, tokens + done, m, all_logits ? 1 : 0, out, nullptr);
    if (rc != 0)
      return setApiErrorf("the model code refused %d tokens at position %d (milm_forward returned "
                       "%d)",
                       int(m), int(ctx->nPast), int(rc));
    ctx->nPast += m;
    ctx->tokens.insert(ctx->tokens.end(), tokens + done, tokens + done + m);
    done += m;
  }
  ctx->logitsRows = rows;
  ctx->evalTokens = n_tokens;
  return 0;
}

int32_t milm_eval_tree(milm_context *ctx, const int32_t *tokens, const int32_t *parents,
                       int32_t n_tokens) {
  MILM_NONNULL(ctx, -1);
  MILM_REQUIRE(tokens || n_tokens <= 0, "tokens is NULL", -1);
  MILM_REQUIRE(parents || n_tokens <= 0, "parents is NULL", -1);
  const milm_model_desc &d = *ctx->model->desc;
  const int64_t vocab = d.vocab_size;
  ctx->treeTokens.clear();
  ctx->logitsRows = 0;
  if (!(d.flags & MILM_MODEL_FLAG_TREE_ATTENTION))
    return setApiError("milm_eval_tree: this model's code does not take token trees (compiled "
                       "by an older milmc?)");
  if (n_tokens <= 0 || n_tokens > d.max_tokens)
    return setApiErrorf("milm_eval_tree: %d tokens, not in [1, %lld] (the model's max batch)",
                        int(n_tokens), ll(d.max_tokens));
  std::vector<int32_t> depth(size_t(n_tokens), 0);
  int32_t deepest = 0;
  for (int32_t i = 0; i < n_tokens; ++i) {
    if (tokens[i] < 0 || tokens[i] >= vocab)
      return setApiErrorf("milm_eval_tree: token %d at index %d is outside the vocabulary (%lld "
                          "tokens)",
                          int(tokens[i]), int(i), ll(vocab));
    const int32_t p = parents[i];
    if (i == 0 ? p != -1 : (p < 0 || p >= i))
      return setApiErrorf("milm_eval_tree: parent %d of token %d: token 0 is the root (parent "
                          "-1), every other token's parent comes before it",
                          int(p), int(i));
    if (i > 0)
      deepest = std::max(deepest, depth[size_t(i)] = depth[size_t(p)] + 1);
  }
  const int32_t stack = deepest + 1;
  if (int64_t(ctx->nPast) + stack + n_tokens > ctx->nCtx)
    return setApiErrorf("context full: a tree of %d tokens %d deep needs %d positions after the "
                        "%d used, the context has %d",
                        int(n_tokens), int(stack), int(stack + n_tokens), int(ctx->nPast),
                        int(ctx->nCtx));
  // Token i sees j when j is i or an ancestor.
  ctx->treeMask.assign(size_t(n_tokens) * size_t(n_tokens), 0);
  for (int32_t i = 0; i < n_tokens; ++i)
    for (int32_t j = i; j >= 0; j = parents[j])
      ctx->treeMask[size_t(i) * size_t(n_tokens) + size_t(j)] = 1;
  for (int32_t i = 0; i < n_tokens; ++i)
    ctx->positions[size_t(i)] = ctx->nPast + depth[size_t(i)];
  ctx->logits.resize(size_t(n_tokens) * size_t(vocab));
  const int32_t rc =
      callForward(ctx, tokens, n_tokens, 1, ctx->logits.data(), ctx->treeMask.data());
  if (rc != 0)
    return setApiErrorf("the model code refused a tree of %d tokens at position %d "
                        "(milm_forward returned %d)",
                        int(n_tokens), int(ctx->nPast), int(rc));
  ctx->treeTokens.assign(tokens, tokens + n_tokens);
  ctx->treeParents.assign(parents, parents + n_tokens);
  ctx->treeStack = stack;
  ctx->logitsRows = n_tokens;
  ctx->evalTokens = n_tokens;
  return 0;
}

int32_t milm_tree_accept(milm_context *ctx, const int32_t *path, int32_t n_path) {
  MILM_NONNULL(ctx, -1);
  MILM_REQUIRE(path || n_path <= 0, "path is NULL", -1);
  const int32_t n = int32_t(ctx->treeTokens.size());
  if (n == 0)
    return setApiError("milm_tree_accept: no tree evaluated since the last change to the "
                       "context");
  if (n_path < 1 || n_path > n)
    return setApiErrorf("milm_tree_accept: a path of %d tokens in a tree of %d", int(n_path),
                        int(n));
  for (int32_t e = 0; e < n_path; ++e) {
    const int32_t node = path[e];
    if (node < 0 || node >= n || ctx->treeParents[size_t(node)] != (e ? path[e - 1] : -1))
      return setApiErrorf("milm_tree_accept: path[%d] = %d is not %s", int(e), int(node),
                          e ? "a child of the one before it" : "the root (0)");
  }
  // [layers][2][capacity][kv_heads of the layer][head_dim] f16: move each
  // path token's rows from its own slot (nPast + S + node) to nPast + e.
  const milm_model_desc &d = *ctx->model->desc;
  uint16_t *base = ctx->kv;
  for (int64_t layer = 0; layer < d.num_layers; ++layer) {
    const size_t row = size_t(milm_model_layer_kv_heads(&d, layer)) * size_t(d.head_dim);
    for (int plane = 0; plane < 2; ++plane, base += size_t(d.kv_capacity) * row)
      for (int32_t e = 0; e < n_path; ++e) {
        const size_t from = size_t(ctx->nPast) + size_t(ctx->treeStack) + size_t(path[e]);
        const size_t to = size_t(ctx->nPast) + size_t(e);
        memmove(base + to * row, base + from * row, row * sizeof(uint16_t));
      }
  }
  for (int32_t e = 0; e < n_path; ++e)
    ctx->tokens.push_back(ctx->treeTokens[size_t(path[e])]);
  ctx->nPast += n_path;
  ctx->treeTokens.clear();
  return 0;
}

const float *milm_get_logits(milm_context *ctx, int32_t i) {
  MILM_NONNULL(ctx, nullptr);
  if (ctx->logitsRows == 0) {
    setApiError("milm_get_logits: no logits (nothing evaluated)");
    return nullptr;
  }
  const int32_t n = ctx->evalTokens;
  if (i == -1)
    i = n - 1;
  if (i < 0 || i >= n) {
    setApiErrorf("milm_get_logits: token %d is not in [0, %d)", int(i), int(n));
    return nullptr;
  }
  const int64_t first = n - ctx->logitsRows; // the first token with a row
  if (i < first) {
    setApiErrorf("milm_get_logits: token %d has no logits (evaluated without all_logits: only "
              "token %d has)",
              int(i), int(n - 1));
    return nullptr;
  }
  return ctx->logits.data() + size_t(i - first) * size_t(ctx->model->desc->vocab_size);
}

//===---- Sampling ----------------------------------------------------------===//

milm_sampler_params milm_sampler_default_params(void) {
  SamplerParams d;
  milm_sampler_params p;
  p.temperature = d.temperature;
  p.top_k = d.topK;
  p.top_p = d.topP;
  p.min_p = d.minP;
  p.repeat_penalty = d.repeatPenalty;
  p.repeat_last_n = d.repeatLastN;
  p.seed = MILM_SEED_RANDOM;
  return p;
}

milm_sampler *milm_sampler_new(const milm_sampler_params *params) {
  milm_sampler_params p = params ? *params : milm_sampler_default_params();
  SamplerParams s;
  s.temperature = p.temperature;
  s.topK = p.top_k;
  s.topP = p.top_p;
  s.minP = p.min_p;
  s.repeatPenalty = p.repeat_penalty;
  s.repeatLastN = p.repeat_last_n;
  s.seed = p.seed == MILM_SEED_RANDOM ? randomSeed() : p.seed;
  // Out-of-range parameters are refused (NaN fails every comparison).
  MILM_REQUIRE(p.temperature >= 0.0f && std::isfinite(p.temperature),
               "temperature must be a finite number >= 0 (0: greedy)", nullptr);
  MILM_REQUIRE(p.top_k >= 0, "top_k must be >= 0 (0: off)", nullptr);
  MILM_REQUIRE(p.top_p >= 0.0f && p.top_p <= 1.0f, "top_p must be in [0, 1] (1: off)", nullptr);
  MILM_REQUIRE(p.min_p >= 0.0f && p.min_p <= 1.0f, "min_p must be in [0, 1] (0: off)", nullptr);
  MILM_REQUIRE(s.repeatPenalty > 0.0f && std::isfinite(s.repeatPenalty),
               "repeat penalty must be positive", nullptr);
  MILM_REQUIRE(p.repeat_last_n >= 0, "repeat_last_n must be >= 0", nullptr);
  return new milm_sampler(s);
}

void milm_sampler_free(milm_sampler *s) { delete s; }
uint64_t milm_sampler_seed(const milm_sampler *s) {
  MILM_NONNULL(s, 0);
  return s->sampler.params().seed;
}

int32_t milm_sample(milm_sampler *s, const float *logits, int32_t n_vocab) {
  MILM_NONNULL(s, -1);
  if (!logits || n_vocab <= 0)
    return setApiError("milm_sample: no logits");
  return s->sampler.sample(logits, n_vocab);
}

void milm_sampler_accept(milm_sampler *s, int32_t token) {
  if (s)
    s->sampler.accept(token);
}
void milm_sampler_reset(milm_sampler *s) {
  if (s)
    s->sampler.reset();
}

//===---- Generation --------------------------------------------------------===//

int32_t milm_generate_tokens(milm_context *ctx, milm_sampler *sampler, const int32_t *prompt,
                             int32_t n_prompt, int32_t n_predict, milm_token_callback cb,
                             void *user, milm_generate_stats *stats) {
  milm_generate_stats local;
  milm_generate_stats &st = stats ? *stats : local;
  st = milm_generate_stats{};
  st.stop_reason = MILM_STOP_ERROR;
  MILM_NONNULL(ctx, -1);
  MILM_NONNULL(sampler, -1);
  MILM_REQUIRE(prompt || n_prompt <= 0, "prompt is NULL", -1);
  const milm_model *m = ctx->model;
  const milm::rt::Tokenizer &tok = m->artifact.tokenizer();
  const int32_t vocab = int32_t(m->desc->vocab_size);
  const int32_t eos = tok.valid() ? tok.eos() : -1;

  if (milm::rt::evalPrompt(ctx, sampler->sampler, prompt, n_prompt, st) != 0)
    return -1;
  const double t1 = nowSeconds();

  std::string piece;
  int32_t result = 0;
  for (;;) {
    if (n_predict >= 0 && st.generated_tokens >= n_predict) {
      st.stop_reason = MILM_STOP_LENGTH;
      break;
    }
    const float *logits = milm_get_logits(ctx, -1);
    int32_t token = logits ? sampler->sampler.sample(logits, vocab) : -1;
    if (token < 0) {
      result = -1;
      break;
    }
    sampler->sampler.accept(token);
    if (token == eos) {
      st.stop_reason = MILM_STOP_EOS;
      break;
    }
    ++st.generated_tokens;
    if (cb) {
      piece = tok.valid() ? tok.tokenPiece(token) : std::string();
      if (cb(user, token, piece.data(), piece.size()) != 0) {
        st.stop_reason = MILM_STOP_CALLBACK;
        break;
      }
    }
    if (n_predict >= 0 && st.generated_tokens >= n_predict) {
      st.stop_reason = MILM_STOP_LENGTH;
      break;
    }
    if (ctx->nPast >= ctx->nCtx) {
      st.stop_reason = MILM_STOP_CONTEXT;
      break;
    }
    if (milm_eval(ctx, &token, 1, 0) != 0) {
      result = -1;
      break;
    }
  }
  st.generate_seconds = nowSeconds() - t1;
  return result;
}

int32_t milm_generate(milm_context *ctx, milm_sampler *sampler, const char *prompt,
                      int32_t n_predict, milm_token_callback cb, void *user,
                      milm_generate_stats *stats) {
  if (stats) {
    *stats = milm_generate_stats{};
    stats->stop_reason = MILM_STOP_ERROR;
  }
  MILM_NONNULL(ctx, -1);
  MILM_NONNULL(sampler, -1);
  std::vector<int32_t> ids;
  if (milm::rt::promptTokens(ctx, prompt, ids) != 0)
    return -1;
  return milm_generate_tokens(ctx, sampler, ids.data(), int32_t(ids.size()), n_predict, cb, user,
                              stats);
}

int32_t milm_format_timings(const milm_generate_stats *s, char *buf, size_t capacity) {
  MILM_NONNULL(s, -1);
  MILM_REQUIRE(buf || capacity == 0, "buf is NULL but capacity is not 0", -1);
  auto rate = [](int32_t n, double sec) { return sec > 0 ? double(n) / sec : 0.0; };
  int n = snprintf(buf, capacity,
                   "milm: prompt %d tokens in %.3f s (%.1f tok/s), generated %d tokens in "
                   "%.3f s (%.1f tok/s)",
                   int(s->prompt_tokens), s->prompt_seconds,
                   rate(s->prompt_tokens, s->prompt_seconds), int(s->generated_tokens),
                   s->generate_seconds, rate(s->generated_tokens, s->generate_seconds));
  if (n < 0 || s->speculative == MILM_SPEC_NONE)
    return int32_t(n);
  const char *kind = s->speculative == MILM_SPEC_DRAFT    ? "draft model"
                     : s->speculative == MILM_SPEC_LOOKUP ? "prompt lookup"
                                                          : "prompt lookup, else draft model";
  size_t at = size_t(n) < capacity ? size_t(n) : capacity;
  int m = snprintf(buf ? buf + at : nullptr, capacity - at,
                   "\nmilm: speculative (%s): drafted %d, accepted %d (%.1f%%), mean accepted "
                   "length %.2f, %.2f tokens per model evaluation (%d evaluations, %d of the "
                   "draft)",
                   kind, int(s->draft_tokens), int(s->accepted_tokens),
                   s->draft_tokens ? 100.0 * s->accepted_tokens / s->draft_tokens : 0.0,
                   s->target_forwards ? double(s->accepted_tokens) / s->target_forwards : 0.0,
                   s->target_forwards
                       ? double(s->accepted_tokens + s->target_forwards) / s->target_forwards
                       : 0.0,
                   int(s->target_forwards), int(s->draft_forwards));
  return int32_t(n + (m > 0 ? m : 0));
}

int32_t milm_format_profile(const milm_context *ctx, char *buf, size_t capacity) {
  MILM_NONNULL(ctx, -1);
  MILM_REQUIRE(buf || capacity == 0, "buf is NULL but capacity is not 0", -1);
  if (!ctx->profile) {
    if (capacity)
      buf[0] = 0;
    return 0;
  }
  const std::string t = ctx->profile->format();
  return int32_t(snprintf(buf, capacity, "%s", t.c_str()));
}

} // extern "C"
