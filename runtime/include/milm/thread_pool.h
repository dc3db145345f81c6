//===- thread_pool.h - The runtime's persistent worker threads --*- C++ -*-===//
//
// A fixed set of worker threads that the generated model code drives through
// milm_rt_parallel_for() (runtime/include/milm/model_abi.h). The calling thread
// takes part, so a pool of size N runs N - 1 workers.
//
// parallelFor() splits [0, n) into chunks (multiples of `grain`, about four per
// thread, so faster threads take more), hands them out through an atomic
// counter, and returns when every chunk is done. The caller works too and waits
// only for workers that took part, so a worker the OS has not scheduled yet
// costs nothing but its share of the speed-up. Between jobs the workers spin
// for about a millisecond (decode calls parallelFor many times per token, and a
// sleeping thread takes tens of microseconds to wake), then sleep on a condition
// variable until the next job.
//
// One thread at a time may call parallelFor() on a pool; a call from inside a
// task (nested parallelism) runs serially on the calling thread.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_RUNTIME_THREAD_POOL_H
#define MILM_RUNTIME_THREAD_POOL_H

#include "milm/model_abi.h"

#include <atomic>
#include <cstdint>
#include <pthread.h>
#include <vector>

namespace milm {
namespace rt {

class OpProfile;

class ThreadPool {
public:
  ThreadPool();
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  /// Starts `threads - 1` workers (threads <= 1: none). Returns the pool's size,
  /// which is smaller than asked when the system refuses to create a thread.
  int start(int threads);
  /// Stops and joins the workers.
  void stop();
  int size() const { return int(workers_.size()) + 1; }

  void parallelFor(int64_t n, int64_t grain, milm_task_fn fn, void *arg);

  /// The handle the generated code passes back to milm_rt_parallel_for().
  milm_exec *exec() { return exec_; }

  /// Number of CPUs online (at least 1).
  static int hardwareThreads();

private:
  static void *workerMain(void *self);
  void workerLoop();
  void runChunks();

  std::vector<pthread_t> workers_;
  milm_exec *exec_;
  pthread_mutex_t mutex_;
  pthread_cond_t wake_;
  // The job's state: generation (bits 63..32), open for workers to join (bit
  // 31), workers in the job (bits 30..0). The caller opens a job, runs chunks
  // until none is left, closes it and waits only for the workers that joined:
  // a descheduled or sleeping worker never delays a job it did not join.
  std::atomic<uint64_t> state_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stopping_{false};
  uint32_t generation_ = 0;       // the caller's copy of the current generation
  uint32_t startGeneration_ = 0;  // what new workers take as already seen
  // The current job; written only while no worker is in a job.
  milm_task_fn fn_ = nullptr;
  void *arg_ = nullptr;
  int64_t n_ = 0;
  int64_t grain_ = 1;   // chunks are multiples of it (but the last)
  int64_t spread_ = 2;  // a chunk is about (what is left) / spread_
  alignas(64) std::atomic<int64_t> next_{0};
};

} // namespace rt
} // namespace milm

/// What the generated code sees as `milm_exec *`.
struct milm_exec {
  milm::rt::ThreadPool *pool;
  milm::rt::OpProfile *profile; // null unless the context profiles (milm/profile.h)
  const uint8_t *treeMask = nullptr; // during milm_eval_tree (model_abi.h: milm_rt_tree_mask)
};

#endif // MILM_RUNTIME_THREAD_POOL_H
