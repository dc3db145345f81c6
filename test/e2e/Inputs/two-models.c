/* Two packages in one program (package.test): each model opened with its
 * package's milm_<name>_open, greedy text from both. */
#include "milm/milm_target_kjv.h"
#include "milm/milm_tiny_kjv.h"

#include <stdio.h>

static int32_t put(void *user, int32_t token, const char *piece, size_t len) {
  (void)user;
  (void)token;
  fwrite(piece, 1, len, stdout);
  return 0;
}

static int run(milm_model *m, const char *name) {
  if (!m) {
    fprintf(stderr, "%s: %s\n", name, milm_last_error());
    return 1;
  }
  milm_context *c = milm_context_new(m, NULL);
  milm_sampler_params sp = milm_sampler_default_params();
  sp.temperature = 0;
  milm_sampler *s = milm_sampler_new(&sp);
  printf("%s:", name);
  int rc = milm_generate(c, s, "And God said", 16, put, NULL, NULL);
  printf("\n");
  milm_sampler_free(s);
  milm_context_free(c);
  milm_model_close(m);
  return rc != 0;
}

int main(int argc, char **argv) {
  if (argc < 3)
    return 2;
  int rc = run(milm_tiny_kjv_open(argv[1], NULL), "tiny");
  rc |= run(milm_target_kjv_open(argv[2], NULL), "target");
  return rc;
}
