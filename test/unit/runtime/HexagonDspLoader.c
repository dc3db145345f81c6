/*===- HexagonDspLoader.c - Runs libmilm_model_dsp.so under qemu-hexagon ---===*
 *
 *   dsp-loader LIB.so MODEL.milm "IDS" N
 *
 * Loads the DSP shared object the way a loader on the device does (its
 * PT_LOAD segments into memory, its relocations applied, its exported
 * functions found by name in .dynsym), then decodes greedily through the
 * milm_dsp.h ABI: checks MODEL.milm, evaluates the ids, prints the N ids
 * greedy decoding appends, one line, as `milm-run-hexagon --generate` does.
 * The e2e test compares the two outputs: the .so works, not only links.
 * Refuses (exit 1, one line) an object that is not a Hexagon ELF32 shared
 * object, that needs another library or symbol, or that carries a
 * relocation other than NONE, 32, RELATIVE, GLOB_DAT and JMP_SLOT.
 * Freestanding (runtime/hexagon/hx_sys.h; memcpy and the compiler helpers
 * from runtime/hexagon/freestanding.c).
 *===----------------------------------------------------------------------===*/
#include "hx_sys.h"
#include "milm_dsp.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint8_t ident[16];
  uint16_t type, machine;
  uint32_t version, entry, phoff, shoff, flags;
  uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
} Ehdr;
typedef struct {
  uint32_t type, offset, vaddr, paddr, filesz, memsz, flags, align;
} Phdr;
typedef struct {
  uint32_t name, type, flags, addr, offset, size, link, info, addralign, entsize;
} Shdr;
typedef struct {
  int32_t tag;
  uint32_t val;
} Dyn;
typedef struct {
  uint32_t name, value, size;
  uint8_t info, other;
  uint16_t shndx;
} Sym;
typedef struct {
  uint32_t offset, info;
  int32_t addend;
} Rela;

static uint32_t slen(const char *s) {
  uint32_t n = 0;
  while (s[n])
    ++n;
  return n;
}
static void say(int fd, const char *s) { sys6(SYS_write, fd, (long)s, (long)slen(s), 0, 0, 0); }
static int die(const char *a, const char *b) {
  say(2, "dsp-loader: ");
  say(2, a);
  if (b)
    say(2, b);
  say(2, "\n");
  return 1;
}
static int eq(const char *a, const char *b) {
  while (*a && *a == *b)
    ++a, ++b;
  return *a == *b;
}
static void sayInt(int64_t v) {
  char b[24];
  say(1, hxFormatInt(v, b));
}

static const uint8_t *image;
static uint64_t imageSize;
static uint8_t *base;
static uint32_t span;
static const Sym *dynsym;
static uint32_t nsyms;
static const char *dynstr;
static uint32_t dynstrSize;

static int inFile(uint64_t off, uint64_t n) { return off <= imageSize && n <= imageSize - off; }
static int inImage(uint64_t vaddr, uint64_t n) { return vaddr <= span && n <= span - vaddr; }

static void *lookup(const char *name) {
  for (uint32_t i = 1; i < nsyms; ++i) {
    const Sym *s = &dynsym[i];
    if (s->shndx != 0 && s->name < dynstrSize && eq(dynstr + s->name, name) &&
        inImage(s->value, 1))
      return base + s->value;
  }
  return NULL;
}

static int relocate(uint32_t vaddr, uint32_t bytes) {
  if (!inImage(vaddr, bytes))
    return die("relocations outside the image", NULL);
  const Rela *r = (const Rela *)(base + vaddr);
  for (uint32_t i = 0; i < bytes / sizeof(Rela); ++i) {
    const uint32_t type = r[i].info & 0xFF, sym = r[i].info >> 8;
    if (!inImage(r[i].offset, 4))
      return die("a relocation outside the image", NULL);
    uint32_t *where = (uint32_t *)(base + r[i].offset);
    switch (type) {
    case 0: /* R_HEX_NONE */
      break;
    case 35: /* R_HEX_RELATIVE */
      *where = (uint32_t)(uintptr_t)base + (uint32_t)r[i].addend;
      break;
    case 6:  /* R_HEX_32 */
    case 33: /* R_HEX_GLOB_DAT */
    case 34: /* R_HEX_JMP_SLOT */
      if (sym == 0 || sym >= nsyms || dynsym[sym].shndx == 0)
        return die("a relocation against an undefined symbol: the object needs something else",
                   sym < nsyms && dynsym[sym].name < dynstrSize ? dynstr + dynsym[sym].name : "");
      *where = (uint32_t)(uintptr_t)base + dynsym[sym].value + (uint32_t)r[i].addend;
      break;
    default:
      return die("a relocation type this loader does not apply", NULL);
    }
  }
  return 0;
}

static int load(const char *path) {
  const char *why = "";
  image = mapFile(path, &imageSize, &why);
  if (!image)
    return die(path, why);
  const Ehdr *e = (const Ehdr *)image;
  if (imageSize < sizeof(Ehdr) || e->ident[0] != 0x7F || e->ident[1] != 'E' ||
      e->ident[4] != 1 /* ELFCLASS32 */ || e->type != 3 /* ET_DYN */ ||
      e->machine != 164 /* EM_HEXAGON */)
    return die(path, ": not a Hexagon ELF32 shared object");
  if (!inFile(e->phoff, (uint64_t)e->phnum * sizeof(Phdr)) ||
      !inFile(e->shoff, (uint64_t)e->shnum * sizeof(Shdr)))
    return die(path, ": program or section headers outside the file");
  const Phdr *ph = (const Phdr *)(image + e->phoff);
  uint32_t dynVaddr = 0, dynBytes = 0;
  for (uint32_t i = 0; i < e->phnum; ++i)
    if (ph[i].type == 1 /* PT_LOAD */ && ph[i].vaddr + ph[i].memsz > span)
      span = ph[i].vaddr + ph[i].memsz;
  span = (span + 4095) & ~4095u;
  base = mapAnon(span, 1);
  if (!base)
    return die("cannot map the image", NULL);
  for (uint32_t i = 0; i < e->phnum; ++i) {
    if (ph[i].type == 2 /* PT_DYNAMIC */) {
      dynVaddr = ph[i].vaddr;
      dynBytes = ph[i].memsz;
    }
    if (ph[i].type != 1)
      continue;
    if (!inFile(ph[i].offset, ph[i].filesz) || ph[i].filesz > ph[i].memsz)
      return die(path, ": a segment outside the file");
    __builtin_memcpy(base + ph[i].vaddr, image + ph[i].offset, ph[i].filesz);
  }
  /* .dynsym and its strings, from the section headers */
  const Shdr *sh = (const Shdr *)(image + e->shoff);
  for (uint32_t i = 0; i < e->shnum; ++i)
    if (sh[i].type == 11 /* SHT_DYNSYM */ && sh[i].link < e->shnum &&
        inFile(sh[i].offset, sh[i].size) &&
        inFile(sh[sh[i].link].offset, sh[sh[i].link].size)) {
      dynsym = (const Sym *)(image + sh[i].offset);
      nsyms = sh[i].size / sizeof(Sym);
      dynstr = (const char *)(image + sh[sh[i].link].offset);
      dynstrSize = sh[sh[i].link].size;
    }
  if (!dynsym || !dynVaddr || !inImage(dynVaddr, dynBytes))
    return die(path, ": no dynamic symbols or no dynamic section");
  uint32_t rela = 0, relaSize = 0, jmprel = 0, pltSize = 0;
  for (const Dyn *d = (const Dyn *)(base + dynVaddr);
       (const uint8_t *)(d + 1) <= base + dynVaddr + dynBytes && d->tag != 0; ++d) {
    switch (d->tag) {
    case 1: /* DT_NEEDED */
      return die(path, ": needs another shared library (DT_NEEDED)");
    case 7: rela = d->val; break;
    case 8: relaSize = d->val; break;
    case 23: jmprel = d->val; break;
    case 2: pltSize = d->val; break;
    case 17: /* DT_REL */
      return die(path, ": REL relocations (Hexagon uses RELA)");
    case 12: case 25: /* DT_INIT, DT_INIT_ARRAY */
      return die(path, ": has initialisers; the DSP ABI promises none");
    default: break;
    }
  }
  if ((relaSize && relocate(rela, relaSize)) || (pltSize && relocate(jmprel, pltSize)))
    return 1;
  return 0;
}

static int run(int argc, char **argv) {
  if (argc != 5)
    return die("usage: dsp-loader LIB.so MODEL.milm \"IDS\" N", NULL);
  if (load(argv[1]))
    return 1;
  void (*getInfo)(milm_dsp_model_info *) = lookup("milm_dsp_get_info");
  int32_t (*check)(const uint8_t *, uint64_t, int32_t, const uint8_t **, char *, uint32_t) =
      lookup("milm_dsp_check_artifact");
  int32_t (*init)(milm_dsp_session *, const uint8_t *, uint16_t *, uint64_t, uint8_t *, uint64_t,
                  char *, uint32_t) = lookup("milm_dsp_init");
  int32_t (*forward)(milm_dsp_session *, const int32_t *, int32_t, int32_t, float *, char *,
                     uint32_t) = lookup("milm_dsp_forward");
  int32_t (*argmax)(const float *, int64_t) = lookup("milm_dsp_argmax");
  if (!getInfo || !check || !init || !forward || !argmax || !lookup("milm_dsp_reset"))
    return die(argv[1], ": does not export the milm_dsp.h functions");
  if (lookup("milm_forward") || lookup("memcpy"))
    return die(argv[1], ": exports more than the milm_dsp.h functions");
  milm_dsp_model_info mi;
  getInfo(&mi);
  if (mi.abi_version != MILM_DSP_ABI_VERSION)
    return die(argv[1], ": another DSP ABI version");
  uint64_t size = 0;
  const char *why = "";
  const uint8_t *artifact = mapFile(argv[2], &size, &why);
  if (!artifact)
    return die(argv[2], why);
  static char error[512];
  const uint8_t *weights = NULL;
  if (check(artifact, size, 1, &weights, error, sizeof error) != MILM_DSP_OK)
    return die(error, NULL);
  uint16_t *kv = mapAnon(mi.kv_bytes, 0);
  uint8_t *scratch = mapAnon(mi.scratch_bytes, 0);
  float *logits = mapAnon((uint64_t)mi.vocab_size * 4, 0);
  int32_t *ids = mapAnon((uint64_t)mi.kv_capacity * 4, 0);
  milm_dsp_session s;
  if (!kv || !scratch || !logits || !ids)
    return die("out of memory", NULL);
  if (init(&s, weights, kv, mi.kv_bytes, scratch, mi.scratch_bytes, error, sizeof error) !=
      MILM_DSP_OK)
    return die(error, NULL);
  const int64_t n = hxParseIds(argv[3], ids, mi.kv_capacity);
  int32_t steps[1];
  if (n < 1 || hxParseIds(argv[4], steps, 1) != 1)
    return die("bad ids or N", NULL);
  for (int64_t i = 0; i < n;) {
    const int64_t take = n - i < mi.max_tokens ? n - i : mi.max_tokens;
    if (forward(&s, ids + i, (int32_t)take, 0, logits, error, sizeof error) != MILM_DSP_OK)
      return die(error, NULL);
    i += take;
  }
  for (int32_t k = 0; k < steps[0]; ++k) {
    int32_t next = argmax(logits, mi.vocab_size);
    if (k)
      say(1, " ");
    sayInt(next);
    if (k + 1 == steps[0] || s.n_past >= mi.kv_capacity)
      break;
    if (forward(&s, &next, 1, 0, logits, error, sizeof error) != MILM_DSP_OK)
      return die(error, NULL);
  }
  say(1, "\n");
  return 0;
}

__attribute__((used)) static void startC(long *sp) {
  sys6(SYS_exit_group, run((int)sp[0], (char **)(sp + 1)), 0, 0, 0, 0, 0);
  for (;;)
    ;
}
MILM_HX_START(startC);
