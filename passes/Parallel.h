//===- Parallel.h - Split a range of rows over threads ---------*- C++ -*-===//
//
// What the passes' heavy loops (the interpreter's products, the rounding of
// a matrix's rows) use to run on every core: body(begin, end) over [0, n)
// in one contiguous chunk per thread, the first chunk on the caller. Each
// chunk computes its rows exactly as one thread would, so results do not
// depend on the thread count.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_PASSES_PARALLEL_H
#define MILM_PASSES_PARALLEL_H

#include <algorithm>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace milm {

inline void parallelFor(int64_t n, unsigned threads,
                        const std::function<void(int64_t, int64_t)> &body) {
  threads = std::max(1u, threads);
  if (threads == 1 || n < 2 * int64_t(threads)) {
    body(0, n);
    return;
  }
  std::vector<std::thread> pool;
  const int64_t chunk = (n + threads - 1) / threads;
  for (unsigned t = 1; t < threads; ++t) {
    const int64_t b = std::min(n, int64_t(t) * chunk), e = std::min(n, b + chunk);
    if (b < e)
      pool.emplace_back(body, b, e);
  }
  body(0, std::min(n, chunk));
  for (std::thread &t : pool)
    t.join();
}

} // namespace milm

#endif
