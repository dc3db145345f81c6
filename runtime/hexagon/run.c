/*===- run.c - milm-run-hexagon: a compiled model under qemu-hexagon -------===*
 *
 * The test executable `milmc compile --target hexagon` links with the model's
 * object and the DSP library's code (dsp.c): it reads model.milm, checks it
 * (milm_dsp_check_artifact), and evaluates token ids with the DSP ABI, so a
 * run under `qemu-hexagon -cpu v67` tests what a device runs. Freestanding:
 * its own _start and Linux system calls (trap0(#1), number in r6, arguments
 * in r0-r5), since no Hexagon libc is packaged.
 *
 *   milm-run-hexagon [--model FILE] [--verify] --logits-for "IDS" [--logits-batch]
 *   milm-run-hexagon [--model FILE] [--verify] --generate "IDS" [-n N]
 *   milm-run-hexagon [--model FILE] --info
 *
 * --logits-for prints one JSON line per id, {"pos": P, "input": T, "logits":
 * [...]}, as milm-run does (the tests compare both with the same scripts);
 * --generate prints the ids greedy decoding appends (N, default 16, or until
 * the KV cache is full). FILE defaults to model.milm next to the executable.
 * Errors: one line on stderr, exit status 1 (2 for a wrong command line).
 *===----------------------------------------------------------------------===*/
#include "hx_sys.h"
#include "milm_dsp.h"

#include <stddef.h>
#include <stdint.h>

/*---- output ------------------------------------------------------------------------------*/

static char outBuf[1 << 16];
static uint32_t outLen;

static void flushOut(void) {
  uint32_t done = 0;
  while (done < outLen) {
    long w = sys6(SYS_write, 1, (long)(outBuf + done), (long)(outLen - done), 0, 0, 0);
    if (w <= 0)
      break;
    done += (uint32_t)w;
  }
  outLen = 0;
}
static void out(const char *s) {
  for (; *s; ++s) {
    if (outLen == sizeof outBuf)
      flushOut();
    outBuf[outLen++] = *s;
  }
}
static uint32_t slen(const char *s) {
  uint32_t n = 0;
  while (s[n])
    ++n;
  return n;
}
static void errLine(const char *a, const char *b) {
  flushOut();
  sys6(SYS_write, 2, (long)"milm-run-hexagon: ", 18, 0, 0, 0);
  sys6(SYS_write, 2, (long)a, (long)slen(a), 0, 0, 0);
  if (b)
    sys6(SYS_write, 2, (long)b, (long)slen(b), 0, 0, 0);
  sys6(SYS_write, 2, (long)"\n", 1, 0, 0, 0);
}
static void outI(int64_t v) {
  char b[24];
  out(hxFormatInt(v, b));
}

/* A float with 9 significant digits (enough to read the same float back):
 * d.dddddddde+XX, or 0, NaN, Infinity (the JSON milm-run writes). */
static void outF(float f) {
  double a = f;
  if (a != a) {
    out("NaN");
    return;
  }
  if (a < 0) {
    out("-");
    a = -a;
  }
  if (a == 0) {
    out("0");
    return;
  }
  if (a > 3.5e38) {
    out("Infinity");
    return;
  }
  int e10 = 0;
  while (a >= 1e8) {
    a /= 1e8;
    e10 += 8;
  }
  while (a < 1e-8) {
    a *= 1e8;
    e10 -= 8;
  }
  while (a >= 10.0) {
    a /= 10.0;
    ++e10;
  }
  while (a < 1.0) {
    a *= 10.0;
    --e10;
  }
  uint64_t digits = (uint64_t)(a * 1e8 + 0.5);
  if (digits >= 1000000000ull) {
    digits = (digits + 5) / 10;
    ++e10;
  }
  char b[16];
  for (int i = 8; i >= 0; --i) {
    b[i == 0 ? 0 : i + 1] = (char)('0' + (int)(digits % 10));
    digits /= 10;
  }
  b[1] = '.';
  b[11] = 0;
  out(b);
  out(e10 < 0 ? "e-" : "e+");
  if (e10 < 0)
    e10 = -e10;
  if (e10 < 10)
    out("0");
  outI(e10);
}

/*---- arguments ---------------------------------------------------------------------------*/

static int eq(const char *a, const char *b) {
  while (*a && *a == *b)
    ++a, ++b;
  return *a == *b;
}

static int usage(const char *why) {
  errLine(why, "\nusage: milm-run-hexagon [--model FILE] [--verify] --logits-for \"IDS\" "
               "[--logits-batch]\n       milm-run-hexagon [--model FILE] [--verify] --generate "
               "\"IDS\" [-n N]\n       milm-run-hexagon [--model FILE] --info");
  return 2;
}

/*---- main ----------------------------------------------------------------------------------*/

static int run(int argc, char **argv) {
  const char *model = NULL, *logitsFor = NULL, *generate = NULL;
  int batch = 0, verify = 0, info = 0;
  int64_t steps = 16;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    const int hasValue = i + 1 < argc;
    if (eq(a, "--model") && hasValue)
      model = argv[++i];
    else if (eq(a, "--logits-for") && hasValue)
      logitsFor = argv[++i];
    else if (eq(a, "--generate") && hasValue)
      generate = argv[++i];
    else if (eq(a, "-n") && hasValue) {
      int32_t n[1];
      if (hxParseIds(argv[++i], n, 1) != 1)
        return usage("-n takes a number");
      steps = n[0];
    } else if (eq(a, "--logits-batch"))
      batch = 1;
    else if (eq(a, "--verify"))
      verify = 1;
    else if (eq(a, "--info"))
      info = 1;
    else if (eq(a, "--help") || eq(a, "-h")) {
      out("usage: milm-run-hexagon [--model FILE] [--verify] --logits-for \"IDS\" [--logits-batch]\n"
          "       milm-run-hexagon [--model FILE] [--verify] --generate \"IDS\" [-n N]\n"
          "       milm-run-hexagon [--model FILE] --info\n"
          "Runs a model compiled by milmc --target hexagon on token ids (docs/HEXAGON.md).\n");
      flushOut();
      return 0;
    }
    else
      return usage(eq(a, "--model") || eq(a, "--logits-for") || eq(a, "--generate") || eq(a, "-n")
                       ? "an option lacks its value"
                       : "unknown argument");
  }
  if (!info && !!logitsFor == !!generate)
    return usage("give --logits-for or --generate (one of them), or --info");
  if (batch && !logitsFor)
    return usage("--logits-batch needs --logits-for");

  milm_dsp_model_info mi;
  milm_dsp_get_info(&mi);
  if (info) {
    out("model ");
    out(mi.model_name);
    out(" for ");
    out(mi.target);
    out("\nvocab ");
    outI(mi.vocab_size);
    out(", layers ");
    outI(mi.num_layers);
    out(", KV cache ");
    outI(mi.kv_capacity);
    out(" positions (");
    outI((int64_t)mi.kv_bytes);
    out(" bytes), scratch ");
    outI((int64_t)mi.scratch_bytes);
    out(" bytes, weights ");
    outI((int64_t)mi.weights_bytes);
    out(" bytes, at most ");
    outI(mi.max_tokens);
    out(" tokens a call\n");
    flushOut();
    return 0;
  }

  /* model.milm: next to the executable unless --model says */
  static char path[4096];
  if (!model) {
    const uint32_t n = slen(argv[0]);
    uint32_t dir = n;
    while (dir > 0 && argv[0][dir - 1] != '/')
      --dir;
    if (dir + 11 > sizeof path)
      return errLine("the executable's path is too long", NULL), 1;
    for (uint32_t i = 0; i < dir; ++i)
      path[i] = argv[0][i];
    const char *leaf = "model.milm";
    for (uint32_t i = 0; i <= 10; ++i)
      path[dir + i] = leaf[i];
    model = path;
  }
  uint64_t size = 0;
  const char *why = "";
  const uint8_t *file = mapFile(model, &size, &why);
  if (!file)
    return errLine(model, why), 1;
  static char error[512];
  const uint8_t *weights = NULL;
  if (milm_dsp_check_artifact(file, size, verify, &weights, error,
                              sizeof error) != MILM_DSP_OK)
    return errLine(error, NULL), 1;

  uint16_t *kv = mapAnon(mi.kv_bytes, 0);
  uint8_t *scratch = mapAnon(mi.scratch_bytes, 0);
  const int64_t maxIds = mi.kv_capacity;
  int32_t *ids = mapAnon((uint64_t)maxIds * 4, 0);
  float *logits = mapAnon((uint64_t)mi.vocab_size * 4 * (uint64_t)mi.max_tokens, 0);
  if (!kv || !scratch || !ids || !logits)
    return errLine("out of memory for the KV cache, scratch or logits", NULL), 1;
  milm_dsp_session s;
  if (milm_dsp_init(&s, weights, kv, mi.kv_bytes, scratch, mi.scratch_bytes, error, sizeof error) !=
      MILM_DSP_OK)
    return errLine(error, NULL), 1;

  const int64_t n = hxParseIds(logitsFor ? logitsFor : generate, ids, maxIds);
  if (n < 1)
    return errLine(n == 0 ? "no token ids given"
                          : "the ids must be numbers separated by spaces or commas, at most the "
                            "KV cache's positions",
                   NULL),
           1;

  if (logitsFor) {
    for (int64_t i = 0; i < n;) {
      const int64_t take = batch ? (n - i < mi.max_tokens ? n - i : mi.max_tokens) : 1;
      if (milm_dsp_forward(&s, ids + i, (int32_t)take, 1, logits, error, sizeof error) != MILM_DSP_OK)
        return errLine(error, NULL), 1;
      for (int64_t t = 0; t < take; ++t) {
        out("{\"pos\": ");
        outI(i + t);
        out(", \"input\": ");
        outI(ids[i + t]);
        out(", \"logits\": [");
        for (int64_t v = 0; v < mi.vocab_size; ++v) {
          if (v)
            out(", ");
          outF(logits[t * mi.vocab_size + v]);
        }
        out("]}\n");
      }
      i += take;
    }
    flushOut();
    return 0;
  }
  /* greedy: the prompt in calls of max_tokens, then one token a call */
  for (int64_t i = 0; i < n;) {
    const int64_t take = n - i < mi.max_tokens ? n - i : mi.max_tokens;
    if (milm_dsp_forward(&s, ids + i, (int32_t)take, 0, logits, error, sizeof error) != MILM_DSP_OK)
      return errLine(error, NULL), 1;
    i += take;
  }
  for (int64_t k = 0; k < steps; ++k) {
    int32_t next = milm_dsp_argmax(logits, mi.vocab_size);
    if (k)
      out(" ");
    outI(next);
    if (k + 1 == steps || s.n_past >= mi.kv_capacity)
      break;
    if (milm_dsp_forward(&s, &next, 1, 0, logits, error, sizeof error) != MILM_DSP_OK)
      return errLine(error, NULL), 1;
  }
  out("\n");
  flushOut();
  return 0;
}

__attribute__((used)) static void startC(long *sp) {
  const int rc = run((int)sp[0], (char **)(sp + 1));
  flushOut();
  sys6(SYS_exit_group, rc, 0, 0, 0, 0, 0);
  for (;;)
    ;
}
MILM_HX_START(startC);
