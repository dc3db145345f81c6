//===- RuntimeApiTest.cpp - The C API over FakeModel.c -------------------===//
//
// This test executable links FakeModel.c, so milm_model_open() binds to it.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtil.h"

#include "milm/milm.h"
// The API and the generated code's contract together (their names once clashed).
#include "milm/model_abi.h"

#include "llvm/Support/FileSystem.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

extern "C" const unsigned long long fake_model_offsets[3];

using namespace milm;

namespace {

#if defined(__x86_64__)
const char *const kHostTriple = "x86_64-unknown-linux-gnu";
#else
const char *const kHostTriple = "aarch64-unknown-linux-gnu";
#endif

class RuntimeApiTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = fake::makeTempDir("milm-api-test");
    ASSERT_FALSE(dir.empty());
    f = fake::makeFakeArtifact(dir, kHostTriple);
    path = dir + "/model.milm";
    llvm::Error e = artifact::writeArtifact(path, f->spec);
    ASSERT_FALSE(bool(e)) << llvm::toString(std::move(e));
    model = milm_model_open(path.c_str(), nullptr);
    ASSERT_NE(model, nullptr) << milm_last_error();
  }
  void TearDown() override {
    milm_model_close(model);
    llvm::sys::fs::remove_directories(dir);
  }

  milm_context *newContext(int32_t nCtx = 0, int32_t threads = 2) {
    milm_context_params p = milm_context_default_params();
    p.n_ctx = nCtx;
    p.n_threads = threads;
    return milm_context_new(model, &p);
  }
  static milm_sampler *greedy() {
    milm_sampler_params p = milm_sampler_default_params();
    p.temperature = 0;
    return milm_sampler_new(&p);
  }

  std::string dir, path;
  std::unique_ptr<fake::FakeArtifact> f;
  milm_model *model = nullptr;
};

struct Collected {
  std::string text;
  std::vector<int32_t> tokens;
  int stopAfter = -1;
};

int32_t collect(void *user, int32_t token, const char *piece, size_t len) {
  Collected &c = *static_cast<Collected *>(user);
  c.text.append(piece, len);
  c.tokens.push_back(token);
  return c.stopAfter >= 0 && int(c.tokens.size()) >= c.stopAfter;
}

TEST_F(RuntimeApiTest, LayoutMatchesTheFakeModel) {
  // FakeModel.c has its offsets compiled in, like generated code.
  for (const artifact::ArtifactWeight &w : f->spec.weights) {
    size_t i = w.name == "output.weight" ? 0 : w.name == "token_embd.weight" ? 1 : 2;
    EXPECT_EQ(w.offset, fake_model_offsets[i]) << w.name;
  }
}

// This file compiling is the check that milm.h and model_abi.h go together;
// the generated code's descriptor is reachable by its name.
TEST(RuntimeHeaders, ApiAndModelAbiTogether) {
  EXPECT_EQ(milm_model_descriptor.abi_version, uint32_t(MILM_MODEL_ABI_VERSION));
}

TEST_F(RuntimeApiTest, ModelProperties) {
  EXPECT_EQ(milm_model_vocab_size(model), fake::kVocab);
  EXPECT_EQ(milm_model_context_capacity(model), 64);
  EXPECT_EQ(milm_model_max_batch(model), 8);
  EXPECT_STREQ(milm_model_name(model), "fake");
  EXPECT_STREQ(milm_model_target(model), kHostTriple);
  EXPECT_EQ(milm_model_hash(model), fake::kHash);
  EXPECT_EQ(milm_token_bos(model), fake::kBos);
  EXPECT_EQ(milm_token_eos(model), fake::kEos);
  EXPECT_EQ(milm_model_adds_bos(model), 1);
  char info[4096];
  int32_t n = milm_model_info(model, info, sizeof info);
  ASSERT_GT(n, 0);
  EXPECT_NE(std::string(info).find("model hash: 0x6d696c6d66616b65\n"), std::string::npos)
      << info;
  EXPECT_NE(std::string(info).find("option: opt-level = 2\n"), std::string::npos) << info;
}

TEST_F(RuntimeApiTest, Tokenize) {
  int32_t ids[16];
  const char *text = "Once upon a time";
  int32_t n = milm_tokenize(model, text, strlen(text), 1, 0, ids, 16);
  ASSERT_EQ(n, 5);
  EXPECT_EQ(ids[0], fake::kBos);
  EXPECT_EQ(ids[4], f->id("▁time"));
  EXPECT_EQ(milm_tokenize(model, text, strlen(text), 0, 0, ids, 2), 4); // count, 2 written
  char piece[16];
  EXPECT_EQ(milm_token_to_piece(model, f->id("▁robot"), 0, piece, 16), 6);
  EXPECT_EQ(std::string(piece, 6), " robot");
  EXPECT_EQ(milm_token_to_piece(model, fake::kEos, 1, piece, 16), 4);
  EXPECT_EQ(std::string(piece, 4), "</s>");
}

TEST_F(RuntimeApiTest, OpenFromMemory) {
  // The bytes of model.milm in a 64-byte aligned buffer: copied by default
  // (the buffer can go right after), used in place with use_mmap.
  const std::string bytes = fake::readFileBytes(path);
  const size_t n = bytes.size();
  auto *buf = static_cast<uint8_t *>(std::aligned_alloc(64, (n + 64) / 64 * 64 + 64));
  ASSERT_NE(buf, nullptr);
  memcpy(buf, bytes.data(), n);
  milm_model *m = milm_model_open_memory(buf, n, nullptr);
  ASSERT_NE(m, nullptr) << milm_last_error();
  memset(buf, 0, n); // copied: the model does not see this
  milm_context *ctx = milm_context_new(m, nullptr);
  milm_sampler_params sp = milm_sampler_default_params();
  sp.temperature = 0;
  milm_sampler *s = milm_sampler_new(&sp);
  Collected c;
  ASSERT_EQ(milm_generate(ctx, s, "Once upon a time", 16, collect, &c, nullptr), 0)
      << milm_last_error();
  EXPECT_EQ(c.text, " there lived one little robot.");
  milm_context_free(ctx);
  milm_model_close(m);
  // In place.
  memcpy(buf, bytes.data(), n);
  milm_model_params mp = milm_model_default_params();
  mp.use_mmap = 1;
  m = milm_model_open_memory(buf, n, &mp);
  ASSERT_NE(m, nullptr) << milm_last_error();
  ctx = milm_context_new(m, nullptr);
  Collected c2;
  milm_sampler_reset(s);
  ASSERT_EQ(milm_generate(ctx, s, "Once upon a time", 16, collect, &c2, nullptr), 0);
  EXPECT_EQ(c2.text, c.text);
  milm_context_free(ctx);
  milm_model_close(m);
  // Errors: misaligned, truncated, NULL.
  memmove(buf + 1, buf, n);
  EXPECT_EQ(milm_model_open_memory(buf + 1, n, nullptr), nullptr);
  EXPECT_NE(std::string(milm_last_error()).find("is not 64-byte aligned"), std::string::npos)
      << milm_last_error();
  memmove(buf, buf + 1, n);
  EXPECT_EQ(milm_model_open_memory(buf, n / 2, nullptr), nullptr);
  EXPECT_NE(std::string(milm_last_error()).find("<model.milm in memory>"), std::string::npos)
      << milm_last_error();
  EXPECT_EQ(milm_model_open_memory(nullptr, n, nullptr), nullptr);
  EXPECT_STREQ(milm_last_error(), "milm_model_open_code_memory: data is NULL");
  milm_sampler_free(s);
  std::free(buf);
}

TEST_F(RuntimeApiTest, GenerateGreedy) {
  milm_context *ctx = newContext();
  milm_sampler *s = greedy();
  Collected c;
  milm_generate_stats st;
  ASSERT_EQ(milm_generate(ctx, s, "Once upon a time", 128, collect, &c, &st), 0)
      << milm_last_error();
  EXPECT_EQ(c.text, " there lived one little robot.");
  EXPECT_EQ(st.prompt_tokens, 5);
  EXPECT_EQ(st.generated_tokens, 6);
  EXPECT_EQ(st.stop_reason, MILM_STOP_EOS);
  EXPECT_EQ(milm_n_past(ctx), 5 + 6); // the final "." was evaluated, eos was not
  char line[256];
  milm_format_timings(&st, line, sizeof line);
  EXPECT_EQ(std::string(line).rfind("milm: prompt 5 tokens in ", 0), 0u) << line;
  milm_sampler_free(s);
  milm_context_free(ctx);
}

TEST_F(RuntimeApiTest, GenerateWithDefaultSampling) {
  // Top-k/top-p/min-p defaults leave only the table's choice here.
  milm_context *ctx = newContext();
  milm_sampler_params p = milm_sampler_default_params();
  p.seed = 5;
  milm_sampler *s = milm_sampler_new(&p);
  Collected c;
  ASSERT_EQ(milm_generate(ctx, s, "Once upon a time", 128, collect, &c, nullptr), 0);
  EXPECT_EQ(c.text, " there lived one little robot.");
  milm_sampler_free(s);
  milm_context_free(ctx);
}

TEST_F(RuntimeApiTest, StopsOnLengthCallbackAndFullContext) {
  milm_sampler *s = greedy();
  {
    milm_context *ctx = newContext();
    Collected c;
    milm_generate_stats st;
    ASSERT_EQ(milm_generate(ctx, s, "Once upon a time", 3, collect, &c, &st), 0);
    EXPECT_EQ(c.text, " there lived one");
    EXPECT_EQ(st.stop_reason, MILM_STOP_LENGTH);
    EXPECT_EQ(milm_n_past(ctx), 5 + 2); // the last token needs no evaluation
    milm_context_free(ctx);
  }
  {
    milm_context *ctx = newContext();
    Collected c;
    c.stopAfter = 2;
    milm_generate_stats st;
    ASSERT_EQ(milm_generate(ctx, s, "Once upon a time", -1, collect, &c, &st), 0);
    EXPECT_EQ(c.text, " there lived");
    EXPECT_EQ(st.stop_reason, MILM_STOP_CALLBACK);
    milm_context_free(ctx);
  }
  {
    milm_context *ctx = newContext(8);
    Collected c;
    milm_generate_stats st;
    ASSERT_EQ(milm_generate(ctx, s, "Once upon a time", -1, collect, &c, &st), 0);
    EXPECT_EQ(c.text, " there lived one little");
    EXPECT_EQ(st.stop_reason, MILM_STOP_CONTEXT);
    EXPECT_EQ(milm_n_past(ctx), 8);
    milm_context_free(ctx);
  }
  {
    milm_context *ctx = newContext(4);
    EXPECT_EQ(milm_generate(ctx, s, "Once upon a time", -1, nullptr, nullptr, nullptr), -1);
    EXPECT_STREQ(milm_last_error(),
                 "the prompt has 5 tokens, more than the 4 positions left in the context");
    milm_context_free(ctx);
  }
  milm_sampler_free(s);
}

TEST_F(RuntimeApiTest, LogitsPerTokenBatchedAndChunkedAgree) {
  // 20 tokens: more than max_tokens (8), so the batch is evaluated in chunks.
  std::vector<int32_t> ids;
  for (int i = 0; i < 20; ++i)
    ids.push_back((i * 37 + 1) % fake::kVocab);
  milm_context *one = newContext(), *batch = newContext(0, 3);
  ASSERT_EQ(milm_eval(batch, ids.data(), int32_t(ids.size()), 1), 0) << milm_last_error();
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_EQ(milm_eval(one, &ids[i], 1, 1), 0) << milm_last_error();
    const float *a = milm_get_logits(one, 0);
    const float *b = milm_get_logits(batch, int32_t(i));
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    std::vector<float> want =
        f->expectedLogits(std::vector<int32_t>(ids.begin(), ids.begin() + long(i) + 1));
    ASSERT_EQ(memcmp(a, want.data(), want.size() * 4), 0) << "position " << i;
    ASSERT_EQ(memcmp(b, want.data(), want.size() * 4), 0) << "position " << i;
  }
  EXPECT_EQ(milm_get_logits(one, 1), nullptr);
  EXPECT_STREQ(milm_last_error(), "milm_get_logits: token 1 is not in [0, 1)");
  // Without all_logits only the last row is kept.
  milm_context *last = newContext();
  ASSERT_EQ(milm_eval(last, ids.data(), int32_t(ids.size()), 0), 0);
  EXPECT_EQ(memcmp(milm_get_logits(last, -1), milm_get_logits(batch, 19), fake::kVocab * 4), 0);
  EXPECT_EQ(milm_get_logits(last, 19), milm_get_logits(last, -1));
  EXPECT_EQ(milm_get_logits(last, 0), nullptr);
  EXPECT_STREQ(milm_last_error(), "milm_get_logits: token 0 has no logits (evaluated without "
                                  "all_logits: only token 19 has)");
  milm_context_free(one);
  milm_context_free(batch);
  milm_context_free(last);
}

TEST_F(RuntimeApiTest, KvTruncateRollsBack) {
  milm_context *a = newContext(), *b = newContext();
  std::vector<int32_t> first = {1, 5, 9, 13, 17}, second = {40, 41};
  ASSERT_EQ(milm_eval(a, first.data(), 5, 0), 0);
  ASSERT_EQ(milm_kv_truncate(a, 3), 0);
  EXPECT_EQ(milm_n_past(a), 3);
  ASSERT_EQ(milm_eval(a, second.data(), 2, 0), 0);
  std::vector<int32_t> fresh = {1, 5, 9, 40, 41};
  ASSERT_EQ(milm_eval(b, fresh.data(), 5, 0), 0);
  EXPECT_EQ(memcmp(milm_get_logits(a, -1), milm_get_logits(b, -1), fake::kVocab * 4), 0);
  EXPECT_EQ(milm_kv_truncate(a, 9), -1);
  EXPECT_STREQ(milm_last_error(), "milm_kv_truncate: 9 is not in [0, 5]");
  milm_context_free(a);
  milm_context_free(b);
}

TEST_F(RuntimeApiTest, EvalErrors) {
  milm_context *ctx = newContext(6);
  int32_t bad[2] = {3, 320};
  EXPECT_EQ(milm_eval(ctx, bad, 2, 0), -1);
  EXPECT_STREQ(milm_last_error(),
               "milm_eval: token 320 at index 1 is outside the vocabulary (320 tokens)");
  EXPECT_EQ(milm_n_past(ctx), 0);
  int32_t ok[7] = {1, 2, 3, 4, 5, 6, 7};
  EXPECT_EQ(milm_eval(ctx, ok, 7, 0), -1);
  EXPECT_STREQ(milm_last_error(), "context full: 0 + 7 tokens exceed the context of 6 positions");
  EXPECT_EQ(milm_get_logits(ctx, -1), nullptr);
  EXPECT_STREQ(milm_last_error(), "milm_get_logits: no logits (nothing evaluated)");
  milm_context_free(ctx);
  milm_context_params p = milm_context_default_params();
  p.n_ctx = 65;
  EXPECT_EQ(milm_context_new(model, &p), nullptr);
  EXPECT_STREQ(milm_last_error(),
               "context size 65 exceeds the 64 positions the model was compiled for");
}

TEST_F(RuntimeApiTest, OpenErrors) {
  EXPECT_EQ(milm_model_open((dir + "/missing.milm").c_str(), nullptr), nullptr);
  EXPECT_EQ(std::string(milm_last_error()),
            dir + "/missing.milm: cannot open: No such file or directory");
  auto g = fake::makeFakeArtifact(dir, kHostTriple, 42);
  const std::string other = dir + "/other.milm";
  ASSERT_FALSE(bool(artifact::writeArtifact(other, g->spec)));
  EXPECT_EQ(milm_model_open(other.c_str(), nullptr), nullptr);
  EXPECT_EQ(std::string(milm_last_error()),
            other + ": model hash 0x000000000000002a does not match this binary's "
                    "0x6d696c6d66616b65 (compiled from another model, or by another "
                    "milmc version)");
  // A corrupted weight: caught by the checksums, unless they are skipped.
  std::string bytes = fake::readFileBytes(path);
  bytes[bytes.size() - 100] ^= 4; // inside the experts, the last tensor
  fake::writeFileBytes(other, bytes);
  EXPECT_EQ(milm_model_open(other.c_str(), nullptr), nullptr);
  EXPECT_EQ(std::string(milm_last_error()),
            other + ": tensor 'blk.0.ffn_up_exps.weight': checksum mismatch");
  milm_model_params mp = milm_model_default_params();
  mp.verify_checksums = 0;
  milm_model *m = milm_model_open(other.c_str(), &mp);
  EXPECT_NE(m, nullptr);
  milm_model_close(m);
}

TEST_F(RuntimeApiTest, SamplerThroughTheApi) {
  milm_sampler_params p = milm_sampler_default_params();
  EXPECT_FLOAT_EQ(p.temperature, 0.8f);
  EXPECT_EQ(p.top_k, 40);
  EXPECT_EQ(p.seed, MILM_SEED_RANDOM);
  milm_sampler *s = milm_sampler_new(&p);
  EXPECT_NE(milm_sampler_seed(s), MILM_SEED_RANDOM);
  float l[3] = {0, 5, 1};
  p.temperature = 0;
  milm_sampler *g = milm_sampler_new(&p);
  EXPECT_EQ(milm_sample(g, l, 3), 1);
  EXPECT_EQ(milm_sample(g, nullptr, 3), -1);
  milm_sampler_free(s);
  milm_sampler_free(g);
  p.repeat_penalty = 0;
  EXPECT_EQ(milm_sampler_new(&p), nullptr);
  EXPECT_STREQ(milm_last_error(), "milm_sampler_new: repeat penalty must be positive");
}

} // namespace

// Misuse of the C API: every NULL handle or buffer is an error value with a
// message naming the function and the argument, never a crash.
TEST_F(RuntimeApiTest, NullArgumentsAreErrors) {
  auto expectError = [](int64_t got, int64_t want, const char *fn, const char *arg) {
    EXPECT_EQ(got, want) << fn;
    EXPECT_EQ(std::string(milm_last_error()), std::string(fn) + ": " + arg) << fn;
  };
  expectError(milm_model_vocab_size(nullptr), -1, "milm_model_vocab_size", "m is NULL");
  expectError(milm_model_context_capacity(nullptr), -1, "milm_model_context_capacity",
              "m is NULL");
  expectError(milm_model_max_batch(nullptr), -1, "milm_model_max_batch", "m is NULL");
  EXPECT_EQ(milm_model_name(nullptr), nullptr);
  EXPECT_STREQ(milm_last_error(), "milm_model_name: m is NULL");
  EXPECT_EQ(milm_model_target(nullptr), nullptr);
  expectError(int64_t(milm_model_hash(nullptr)), 0, "milm_model_hash", "m is NULL");
  expectError(milm_token_bos(nullptr), -1, "milm_token_bos", "m is NULL");
  expectError(milm_token_eos(nullptr), -1, "milm_token_eos", "m is NULL");
  expectError(milm_model_adds_bos(nullptr), -1, "milm_model_adds_bos", "m is NULL");
  expectError(milm_model_info(nullptr, nullptr, 0), -1, "milm_model_info", "m is NULL");
  expectError(milm_model_info(model, nullptr, 16), -1, "milm_model_info",
              "buf is NULL but capacity is not 0");
  int32_t ids[4];
  expectError(milm_tokenize(nullptr, "a", 1, 1, 0, ids, 4), -1, "milm_tokenize", "m is NULL");
  expectError(milm_tokenize(model, nullptr, 3, 1, 0, ids, 4), -1, "milm_tokenize",
              "text is NULL but text_len is not 0");
  expectError(milm_tokenize(model, "a", 1, 1, 0, nullptr, 4), -1, "milm_tokenize",
              "tokens is NULL but capacity is not 0");
  expectError(milm_tokenize(model, "a", 1, 1, 0, ids, -1), -1, "milm_tokenize",
              "capacity is negative");
  EXPECT_GE(milm_tokenize(model, nullptr, 0, 1, 0, nullptr, 0), 0) << milm_last_error();
  char piece[8];
  expectError(milm_token_to_piece(nullptr, 1, 0, piece, 8), -1, "milm_token_to_piece",
              "m is NULL");
  expectError(milm_token_to_piece(model, 1, 0, nullptr, 8), -1, "milm_token_to_piece",
              "buf is NULL but capacity is not 0");
  EXPECT_EQ(milm_context_new(nullptr, nullptr), nullptr);
  EXPECT_STREQ(milm_last_error(), "milm_context_new: model is NULL");
  expectError(milm_context_size(nullptr), -1, "milm_context_size", "ctx is NULL");
  expectError(milm_context_threads(nullptr), -1, "milm_context_threads", "ctx is NULL");
  expectError(milm_n_past(nullptr), -1, "milm_n_past", "ctx is NULL");
  expectError(milm_kv_truncate(nullptr, 0), -1, "milm_kv_truncate", "ctx is NULL");
  expectError(milm_eval(nullptr, ids, 1, 0), -1, "milm_eval", "ctx is NULL");
  EXPECT_EQ(milm_get_logits(nullptr, 0), nullptr);
  EXPECT_STREQ(milm_last_error(), "milm_get_logits: ctx is NULL");
  expectError(int64_t(milm_sampler_seed(nullptr)), 0, "milm_sampler_seed", "s is NULL");
  float logits[4] = {0, 1, 2, 3};
  expectError(milm_sample(nullptr, logits, 4), -1, "milm_sample", "s is NULL");
  milm_sampler_accept(nullptr, 1); // ignored
  milm_sampler_reset(nullptr);     // ignored
  milm_sampler_free(nullptr);
  milm_context_free(nullptr);
  milm_model_close(nullptr);
  expectError(milm_format_timings(nullptr, piece, 8), -1, "milm_format_timings", "s is NULL");
  expectError(milm_format_profile(nullptr, piece, 8), -1, "milm_format_profile",
              "ctx is NULL");

  milm_context *ctx = newContext();
  ASSERT_NE(ctx, nullptr) << milm_last_error();
  milm_sampler *s = greedy();
  ASSERT_NE(s, nullptr) << milm_last_error();
  expectError(milm_eval(ctx, nullptr, 2, 0), -1, "milm_eval", "tokens is NULL");
  milm_generate_stats st;
  expectError(milm_generate(nullptr, s, "a", 4, nullptr, nullptr, &st), -1, "milm_generate",
              "ctx is NULL");
  EXPECT_EQ(st.stop_reason, MILM_STOP_ERROR);
  expectError(milm_generate(ctx, nullptr, "a", 4, nullptr, nullptr, &st), -1, "milm_generate",
              "sampler is NULL");
  expectError(milm_generate_tokens(ctx, s, nullptr, 3, 4, nullptr, nullptr, &st), -1,
              "milm_generate_tokens", "prompt is NULL");
  expectError(milm_generate_tokens(nullptr, s, ids, 1, 4, nullptr, nullptr, nullptr), -1,
              "milm_generate_tokens", "ctx is NULL");
  expectError(milm_format_profile(ctx, nullptr, 8), -1, "milm_format_profile",
              "buf is NULL but capacity is not 0");
  // The context still works after all that.
  ids[0] = fake::kBos;
  EXPECT_EQ(milm_eval(ctx, ids, 1, 0), 0) << milm_last_error();
  milm_sampler_free(s);
  milm_context_free(ctx);
}

// Sampler parameters out of range are refused with what the range is.
TEST(RuntimeSamplerParams, OutOfRangeIsRefused) {
  struct Case {
    void (*set)(milm_sampler_params &);
    const char *message;
  };
  const Case cases[] = {
      {[](milm_sampler_params &p) { p.temperature = -0.5f; },
       "milm_sampler_new: temperature must be a finite number >= 0 (0: greedy)"},
      {[](milm_sampler_params &p) { p.temperature = NAN; },
       "milm_sampler_new: temperature must be a finite number >= 0 (0: greedy)"},
      {[](milm_sampler_params &p) { p.top_k = -1; }, "milm_sampler_new: top_k must be >= 0 (0: off)"},
      {[](milm_sampler_params &p) { p.top_p = 1.5f; },
       "milm_sampler_new: top_p must be in [0, 1] (1: off)"},
      {[](milm_sampler_params &p) { p.top_p = NAN; },
       "milm_sampler_new: top_p must be in [0, 1] (1: off)"},
      {[](milm_sampler_params &p) { p.min_p = 2.0f; },
       "milm_sampler_new: min_p must be in [0, 1] (0: off)"},
      {[](milm_sampler_params &p) { p.repeat_penalty = 0.0f; },
       "milm_sampler_new: repeat penalty must be positive"},
      {[](milm_sampler_params &p) { p.repeat_penalty = INFINITY; },
       "milm_sampler_new: repeat penalty must be positive"},
      {[](milm_sampler_params &p) { p.repeat_last_n = -2; },
       "milm_sampler_new: repeat_last_n must be >= 0"},
  };
  for (const Case &c : cases) {
    milm_sampler_params p = milm_sampler_default_params();
    c.set(p);
    EXPECT_EQ(milm_sampler_new(&p), nullptr) << c.message;
    EXPECT_STREQ(milm_last_error(), c.message);
  }
  milm_sampler_params edge = milm_sampler_default_params();
  edge.temperature = 0;
  edge.top_p = 1;
  edge.min_p = 0;
  edge.top_k = 0;
  milm_sampler *s = milm_sampler_new(&edge);
  EXPECT_NE(s, nullptr) << milm_last_error();
  milm_sampler_free(s);
}

// A model is shared by threads: two contexts on it, evaluated at the same time
// from two threads, give the logits one context gives alone.
TEST_F(RuntimeApiTest, TwoContextsInTwoThreads) {
  const std::vector<int32_t> ids = {fake::kBos, 5, 17, 42, 99, 3, 250, 7};
  auto run = [&](std::vector<float> &out, std::string &err) {
    milm_context *ctx = newContext(0, 2);
    if (!ctx) {
      err = milm_last_error();
      return;
    }
    for (int round = 0; round < 50 && err.empty(); ++round) {
      milm_kv_truncate(ctx, 0);
      if (milm_eval(ctx, ids.data(), int32_t(ids.size()), 1) != 0)
        err = milm_last_error();
    }
    if (err.empty())
      for (int32_t i = 0; i < int32_t(ids.size()); ++i) {
        const float *l = milm_get_logits(ctx, i);
        out.insert(out.end(), l, l + fake::kVocab);
      }
    milm_context_free(ctx);
  };
  std::vector<float> alone, a, b;
  std::string errAlone, errA, errB;
  run(alone, errAlone);
  ASSERT_EQ(errAlone, "");
  std::thread ta([&] { run(a, errA); });
  std::thread tb([&] { run(b, errB); });
  ta.join();
  tb.join();
  EXPECT_EQ(errA, "");
  EXPECT_EQ(errB, "");
  ASSERT_EQ(a.size(), alone.size());
  EXPECT_EQ(0, memcmp(a.data(), alone.data(), alone.size() * sizeof(float)));
  EXPECT_EQ(0, memcmp(b.data(), alone.data(), alone.size() * sizeof(float)));
}
