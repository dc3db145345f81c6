/*===- SpecDriver.c - Speculative decoding, run where it is built (TESTS ONLY) -===*
 *
 * RuntimeLinkTest links this, FakeModel.c and FakeDraft.c with the runtime
 * archive into a static executable for x86-64 and for AArch64 (run under
 * qemu-aarch64), so that the speculative loop runs as compiled for each. It
 * uses only milm.h:
 *
 *   spec-driver MODEL.milm sample draft|lookup RUNS ID...
 *       RUNS generations of 3 tokens (temperature 1, top-k 3, seed 99) after
 *       the prompt ids, the second and third through one speculative step;
 *       prints "A B C COUNT" per triple, then "drafted D accepted A". The
 *       test compares the counts with the fake model's exact distribution.
 *   spec-driver MODEL.milm greedy ID...
 *       greedy text after the prompt, plain and with the draft (k = 1, 3, 7),
 *       lookup and both: prints "same" or the first scheme that differs.
 *===----------------------------------------------------------------------===*/
#include "milm/milm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_TRIPLES = 4096, MAX_TOKENS = 64 };

typedef struct {
  int32_t ids[MAX_TOKENS];
  int32_t n;
} collected;

static int32_t collect(void *user, int32_t token, const char *piece, size_t len) {
  collected *c = (collected *)user;
  (void)piece;
  (void)len;
  if (c->n < MAX_TOKENS)
    c->ids[c->n++] = token;
  return 0;
}

static int fail(const char *what) {
  fprintf(stderr, "spec-driver: %s: %s\n", what, milm_last_error());
  return 1;
}

static milm_context *new_context(milm_model *m) {
  milm_context_params p = milm_context_default_params();
  p.n_threads = 2;
  return milm_context_new(m, &p);
}

static int sample_runs(milm_model *model, milm_model *draft_model, int use_draft, int runs,
                       const int32_t *prompt, int32_t n_prompt) {
  static int32_t triples[MAX_TRIPLES][4];
  int n_triples = 0;
  long long drafted = 0, accepted = 0;
  milm_sampler_params sp = milm_sampler_default_params();
  sp.temperature = 1.0f;
  sp.top_k = 3;
  sp.top_p = 1.0f;
  sp.min_p = 0.0f;
  sp.seed = 99;
  milm_sampler *s = milm_sampler_new(&sp);
  milm_spec_params spec = milm_spec_default_params();
  spec.n_draft = 2;
  spec.adaptive = 0;
  spec.p_min = 0;
  spec.lookup = !use_draft;
  milm_context *ctx = new_context(model);
  milm_context *dctx = use_draft ? new_context(draft_model) : NULL;
  if (!s || !ctx || (use_draft && !dctx))
    return fail("setting up");
  for (int r = 0; r < runs; ++r) {
    collected c = {{0}, 0};
    milm_generate_stats st;
    if (milm_kv_truncate(ctx, 0) != 0 || (dctx && milm_kv_truncate(dctx, 0) != 0) ||
        milm_generate_speculative_tokens(ctx, dctx, s, prompt, n_prompt, 3, &spec, collect, &c,
                                         &st) != 0)
      return fail("generating");
    if (c.n != 3) {
      fprintf(stderr, "spec-driver: %d tokens instead of 3\n", (int)c.n);
      return 1;
    }
    drafted += st.draft_tokens;
    accepted += st.accepted_tokens;
    int i = 0;
    while (i < n_triples && !(triples[i][0] == c.ids[0] && triples[i][1] == c.ids[1] &&
                              triples[i][2] == c.ids[2]))
      ++i;
    if (i == n_triples) {
      if (n_triples == MAX_TRIPLES) {
        fprintf(stderr, "spec-driver: too many distinct triples\n");
        return 1;
      }
      memcpy(triples[i], c.ids, 3 * sizeof(int32_t));
      triples[i][3] = 0;
      ++n_triples;
    }
    ++triples[i][3];
  }
  for (int i = 0; i < n_triples; ++i)
    printf("%d %d %d %d\n", (int)triples[i][0], (int)triples[i][1], (int)triples[i][2],
           (int)triples[i][3]);
  printf("drafted %lld accepted %lld\n", drafted, accepted);
  milm_context_free(dctx);
  milm_context_free(ctx);
  milm_sampler_free(s);
  return 0;
}

static int greedy(milm_model *model, milm_model *draft_model, const int32_t *prompt,
                  int32_t n_prompt) {
  collected want = {{0}, 0};
  {
    milm_context *ctx = new_context(model);
    milm_sampler_params sp = milm_sampler_default_params();
    sp.temperature = 0;
    milm_sampler *s = milm_sampler_new(&sp);
    if (!ctx || !s || milm_generate_tokens(ctx, s, prompt, n_prompt, 40, collect, &want, NULL))
      return fail("plain generation");
    milm_sampler_free(s);
    milm_context_free(ctx);
  }
  static const struct {
    int draft, lookup, k;
    const char *name;
  } schemes[] = {{1, 0, 1, "draft k=1"}, {1, 0, 3, "draft k=3"}, {1, 0, 7, "draft k=7"},
                 {0, 1, 4, "lookup"},    {1, 1, 5, "both"}};
  for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; ++i) {
    milm_context *ctx = new_context(model);
    milm_context *dctx = schemes[i].draft ? new_context(draft_model) : NULL;
    milm_sampler_params sp = milm_sampler_default_params();
    sp.temperature = 0;
    milm_sampler *s = milm_sampler_new(&sp);
    milm_spec_params spec = milm_spec_default_params();
    spec.n_draft = schemes[i].k;
    spec.p_min = 0;
    spec.lookup = schemes[i].lookup;
    collected got = {{0}, 0};
    if (milm_generate_speculative_tokens(ctx, dctx, s, prompt, n_prompt, 40, &spec, collect, &got,
                                         NULL) != 0)
      return fail(schemes[i].name);
    if (got.n != want.n || memcmp(got.ids, want.ids, (size_t)want.n * sizeof(int32_t)) != 0) {
      printf("differs: %s\n", schemes[i].name);
      return 0;
    }
    milm_sampler_free(s);
    milm_context_free(dctx);
    milm_context_free(ctx);
  }
  printf("same (%d tokens)\n", (int)want.n);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: spec-driver MODEL.milm sample draft|lookup RUNS ID... | greedy ID...\n");
    return 2;
  }
  milm_model *model = milm_model_open(argv[1], NULL);
  milm_model *draft_model = model ? milm_model_open_draft(argv[1], NULL) : NULL;
  if (!model || !draft_model)
    return fail(argv[1]);
  int32_t prompt[32];
  int32_t n = 0;
  const int first = strcmp(argv[2], "sample") == 0 ? 5 : 3;
  for (int i = first; i < argc && n < 32; ++i)
    prompt[n++] = (int32_t)atoi(argv[i]);
  int rc;
  if (strcmp(argv[2], "sample") == 0)
    rc = sample_runs(model, draft_model, strcmp(argv[3], "draft") == 0, atoi(argv[4]), prompt, n);
  else
    rc = greedy(model, draft_model, prompt, n);
  milm_model_close(draft_model);
  milm_model_close(model);
  return rc;
}
