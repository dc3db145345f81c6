// Memory read bandwidth: every thread streams its slice of one buffer (default
// 1 GiB) with 256-bit loads into eight independent accumulators. Prints the best
// of several runs in GB/s (1e9 bytes/s). Part of bench/cpu.sh, not of the tests.
//
//   bandwidth [threads] [MiB] [runs]
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  const __m256i *p;
  size_t n; // vectors
  pthread_barrier_t *start;
  __m256i sink;
} Slice;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *readSlice(void *arg) {
  Slice *s = arg;
  pthread_barrier_wait(s->start);
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0,
          a6 = a0, a7 = a0;
  const __m256i *p = s->p;
  for (size_t i = 0; i + 8 <= s->n; i += 8) {
    a0 = _mm256_add_epi64(a0, _mm256_load_si256(p + i + 0));
    a1 = _mm256_add_epi64(a1, _mm256_load_si256(p + i + 1));
    a2 = _mm256_add_epi64(a2, _mm256_load_si256(p + i + 2));
    a3 = _mm256_add_epi64(a3, _mm256_load_si256(p + i + 3));
    a4 = _mm256_add_epi64(a4, _mm256_load_si256(p + i + 4));
    a5 = _mm256_add_epi64(a5, _mm256_load_si256(p + i + 5));
    a6 = _mm256_add_epi64(a6, _mm256_load_si256(p + i + 6));
    a7 = _mm256_add_epi64(a7, _mm256_load_si256(p + i + 7));
  }
  a0 = _mm256_add_epi64(_mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)),
                        _mm256_add_epi64(_mm256_add_epi64(a4, a5), _mm256_add_epi64(a6, a7)));
  s->sink = a0;
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2;
  size_t mib = argc > 2 ? strtoull(argv[2], NULL, 10) : 1024;
  int runs = argc > 3 ? atoi(argv[3]) : 10;
  if (threads < 1 || threads > 1024 || mib < 1 || runs < 1) {
    fprintf(stderr, "usage: %s [threads] [MiB] [runs]\n", argv[0]);
    return 2;
  }
  size_t bytes = mib << 20;
  unsigned char *buf = aligned_alloc(4096, bytes);
  if (!buf) {
    perror("aligned_alloc");
    return 1;
  }
  for (size_t i = 0; i < bytes; i += 8)
    *(uint64_t *)(buf + i) = i * 0x9E3779B97F4A7C15ull;
  size_t vecs = bytes / 32, per = (vecs / threads) & ~(size_t)7;
  pthread_t tid[1024];
  Slice sl[1024];
  double best = 0;
  uint64_t check = 0;
  for (int r = 0; r < runs; ++r) {
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, threads + 1);
    for (int t = 0; t < threads; ++t) {
      sl[t] = (Slice){(const __m256i *)buf + t * per, per, &start, _mm256_setzero_si256()};
      pthread_create(&tid[t], NULL, readSlice, &sl[t]);
    }
    double t0 = now();
    pthread_barrier_wait(&start);
    for (int t = 0; t < threads; ++t)
      pthread_join(tid[t], NULL);
    double dt = now() - t0;
    pthread_barrier_destroy(&start);
    for (int t = 0; t < threads; ++t)
      check += (uint64_t)_mm256_extract_epi64(sl[t].sink, 0);
    double gbs = (double)(per * threads * 32) / dt / 1e9;
    if (gbs > best)
      best = gbs;
  }
  printf("bandwidth: %.2f GB/s best of %d runs, %d threads, %zu MiB (check %llx)\n", best, runs,
         threads, mib, (unsigned long long)(check & 0xff));
  free(buf);
  return 0;
}
