/* Two packages in one program (package.test): each model opened by its
 * package's name, the first from memory (milm_<name>_open_memory), the second
 * from its file; greedy text from both. */
#include "milm/milm_target_kjv.h"
#include "milm/milm_tiny_kjv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The file's bytes in a 64-byte aligned buffer; *size set. */
static void *read_aligned(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void *buf = aligned_alloc(64, ((size_t)n + 63) / 64 * 64);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return buf;
}

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
  size_t size = 0;
  void *bytes = read_aligned(argv[1], &size);
  if (!bytes)
    return 3;
  milm_model *tiny = milm_tiny_kjv_open_memory(bytes, size, NULL);
  free(bytes); /* copied when opened */
  int rc = run(tiny, "tiny");
  rc |= run(milm_target_kjv_open(argv[2], NULL), "target");
  return rc;
}
