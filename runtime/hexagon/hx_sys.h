/*===- hx_sys.h - Linux system calls for freestanding Hexagon programs ----===*
 *
 * No Hexagon libc is packaged, so milm-run-hexagon (run.c) and the test
 * loader of the DSP shared object make their system calls themselves:
 * trap0(#1) with the number in r6 and the arguments in r0-r5, the result (or
 * -errno) in r0. Numbers of the generic Linux table (asm-generic/unistd.h)
 * as a 32-bit architecture has them (llseek, mmap2). Not part of the DSP
 * shared object: the DSP makes no system calls.
 *===----------------------------------------------------------------------===*/
#ifndef MILM_HX_SYS_H
#define MILM_HX_SYS_H

#include <stdint.h>

enum {
  SYS_openat = 56, SYS_close = 57, SYS_llseek = 62, SYS_read = 63, SYS_write = 64,
  SYS_exit_group = 94, SYS_munmap = 215, SYS_mmap2 = 222
};

static inline long sys6(long nr, long a, long b, long c, long d, long e, long f) {
  register long r0 __asm__("r0") = a;
  register long r1 __asm__("r1") = b;
  register long r2 __asm__("r2") = c;
  register long r3 __asm__("r3") = d;
  register long r4 __asm__("r4") = e;
  register long r5 __asm__("r5") = f;
  register long r6 __asm__("r6") = nr;
  __asm__ volatile("trap0(#1)"
                   : "+r"(r0)
                   : "r"(r1), "r"(r2), "r"(r3), "r"(r4), "r"(r5), "r"(r6)
                   : "memory");
  return r0;
}

static inline int sysFailed(long r) { return r < 0 && r > -4096; }

/* Anonymous memory (read, write, and execute when `exec`), or NULL. */
static inline void *mapAnon(uint64_t bytes, int exec) {
  if (bytes == 0)
    bytes = 1;
  if (bytes > 0x7FFFFFFFull)
    return 0;
  long p = sys6(SYS_mmap2, 0, (long)bytes, exec ? 7 : 3, 0x22 /* private, anonymous */, -1, 0);
  return sysFailed(p) ? 0 : (void *)p;
}

/* The file `path` mapped read-only (its size in *size), or NULL; *why says
 * what failed. */
static inline const uint8_t *mapFile(const char *path, uint64_t *size, const char **why) {
  const long fd = sys6(SYS_openat, -100 /* AT_FDCWD */, (long)path, 0 /* O_RDONLY */, 0, 0, 0);
  if (fd < 0) {
    *why = ": cannot open";
    return 0;
  }
  uint64_t n = 0;
  if (sys6(SYS_llseek, fd, 0, 0, (long)&n, 2 /* SEEK_END */, 0) < 0 || n == 0 ||
      n > 0x7FFFFFFFull) {
    sys6(SYS_close, fd, 0, 0, 0, 0, 0);
    *why = n ? ": larger than a 32-bit process can map" : ": empty or not a regular file";
    return 0;
  }
  const long p = sys6(SYS_mmap2, 0, (long)n, 1 /* read */, 2 /* private */, fd, 0);
  sys6(SYS_close, fd, 0, 0, 0, 0, 0);
  if (sysFailed(p)) {
    *why = ": cannot map";
    return 0;
  }
  *size = n;
  return (const uint8_t *)p;
}

/* v in decimal into b[24]; returns where the text starts. */
static inline const char *hxFormatInt(int64_t v, char b[24]) {
  int i = 23;
  uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
  b[i] = 0;
  do {
    b[--i] = (char)('0' + (int)(u % 10));
    u /= 10;
  } while (u);
  if (v < 0)
    b[--i] = '-';
  return b + i;
}

/* Token ids separated by spaces, tabs, newlines or commas into ids[cap]: the
 * count, or -1 for something that is not a number below 2^31 or more than cap
 * ids. */
static inline int64_t hxParseIds(const char *s, int32_t *ids, int64_t cap) {
  int64_t n = 0;
  while (*s) {
    if (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n') {
      ++s;
      continue;
    }
    int64_t v = 0;
    if (*s < '0' || *s > '9' || n == cap)
      return -1;
    for (; *s >= '0' && *s <= '9'; ++s) {
      v = v * 10 + (*s - '0');
      if (v > 0x7FFFFFFF)
        return -1;
    }
    if (*s && *s != ' ' && *s != ',' && *s != '\t' && *s != '\n')
      return -1;
    ids[n++] = (int32_t)v;
  }
  return n;
}

/* The kernel starts a process with sp at argc, argv[0..], NULL, envp: _start
 * passes sp to `entry` (a function of one argument that does not return). */
#define MILM_HX_START(entry)                                                                   \
  __asm__(".text\n.globl _start\n.type _start,@function\n_start:\n  r0 = r29\n"                \
          "  r29 = and(r29, #-8)\n  call " #entry "\n.size _start, .-_start\n")

#endif
