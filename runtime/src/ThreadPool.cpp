//===- ThreadPool.cpp - Persistent workers and milm_rt_parallel_for -------===//

#include "milm/thread_pool.h"

#include <sched.h>
#include <time.h>
#include <unistd.h>

namespace milm {
namespace rt {

namespace {

/// True on a thread while it runs tasks of some pool: nested calls run serially.
thread_local bool tlInTask = false;

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

inline uint64_t nowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

/// How long an idle worker spins before it sleeps.
constexpr uint64_t kSpinNs = 1000000;

/// ThreadPool::state_: generation << 32 | kOpen | workers in the job.
constexpr uint64_t kOpen = 1ull << 31;
constexpr uint64_t kCountMask = kOpen - 1;

inline uint32_t generationOf(uint64_t state) { return uint32_t(state >> 32); }

} // namespace

ThreadPool::ThreadPool() : exec_(new milm_exec{this, nullptr}) {
  pthread_mutex_init(&mutex_, nullptr);
  pthread_cond_init(&wake_, nullptr);
}

ThreadPool::~ThreadPool() {
  stop();
  pthread_cond_destroy(&wake_);
  pthread_mutex_destroy(&mutex_);
  delete exec_;
}

int ThreadPool::hardwareThreads() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : int(n);
}

int ThreadPool::start(int threads) {
  stop();
  stopping_.store(false);
  startGeneration_ = generation_;
  for (int i = 1; i < threads; ++i) {
    pthread_t t;
    if (pthread_create(&t, nullptr, &ThreadPool::workerMain, this) != 0)
      break;
    workers_.push_back(t);
  }
  return size();
}

void ThreadPool::stop() {
  if (workers_.empty())
    return;
  pthread_mutex_lock(&mutex_);
  stopping_.store(true);
  ++generation_;
  state_.store(uint64_t(generation_) << 32); // a new generation, closed
  pthread_cond_broadcast(&wake_);
  pthread_mutex_unlock(&mutex_);
  for (pthread_t t : workers_)
    pthread_join(t, nullptr);
  workers_.clear();
}

void *ThreadPool::workerMain(void *self) {
  static_cast<ThreadPool *>(self)->workerLoop();
  return nullptr;
}

void ThreadPool::workerLoop() {
  tlInTask = true; // a worker never starts jobs of its own
  uint32_t seen = startGeneration_; // jobs posted after start() are new
  for (;;) {
    uint64_t s = state_.load(std::memory_order_acquire);
    if (generationOf(s) == seen) {
      // Spin a while, then sleep.
      uint64_t start = nowNs();
      for (unsigned i = 1;; ++i) {
        cpuRelax();
        s = state_.load(std::memory_order_acquire);
        if (generationOf(s) != seen)
          break;
        if ((i & 255) == 0 && nowNs() - start > kSpinNs) {
          pthread_mutex_lock(&mutex_);
          sleepers_.fetch_add(1); // seq_cst: pairs with parallelFor()'s wake-up check
          while (generationOf(s = state_.load()) == seen)
            pthread_cond_wait(&wake_, &mutex_);
          sleepers_.fetch_sub(1);
          pthread_mutex_unlock(&mutex_);
          break;
        }
      }
    }
    if (stopping_.load(std::memory_order_acquire))
      return;
    seen = generationOf(s);
    // Join the job if it is still open.
    bool joined = false;
    while ((s & kOpen) && generationOf(s) == seen) {
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acquire,
                                       std::memory_order_acquire)) {
        joined = true;
        break;
      }
    }
    if (!joined)
      continue;
    runChunks();
    state_.fetch_sub(1, std::memory_order_release);
  }
}

// Guided scheduling: each chunk is about 1/spread_ of what is left (a multiple
// of the grain, at least one), so the first chunks are large (few grabs, long
// runs over a weight range) and the last ones small: a thread that finishes
// early waits for at most a small chunk, where equal chunks of an eighth of the
// job left the pool idle for 5-8% of a 2-thread prompt (perf).
void ThreadPool::runChunks() {
  const int64_t n = n_, grain = grain_, spread = spread_;
  int64_t begin = next_.load(std::memory_order_relaxed);
  for (;;) {
    int64_t take;
    do {
      if (begin >= n)
        return;
      take = (n - begin) / spread;
      take = take < grain ? grain : (take + grain - 1) / grain * grain;
      if (take > n - begin)
        take = n - begin;
    } while (!next_.compare_exchange_weak(begin, begin + take, std::memory_order_relaxed));
    fn_(arg_, begin, begin + take);
    begin = next_.load(std::memory_order_relaxed);
  }
}

void ThreadPool::parallelFor(int64_t n, int64_t grain, milm_task_fn fn, void *arg) {
  if (n <= 0)
    return;
  if (grain < 1)
    grain = 1;
  const int64_t threads = int64_t(workers_.size()) + 1;
  if (workers_.empty() || tlInTask || n <= grain) {
    fn(arg, 0, n);
    return;
  }

  // No worker is in a job now (the previous call waited for them): publish.
  fn_ = fn;
  arg_ = arg;
  n_ = n;
  grain_ = grain;
  spread_ = 2 * threads;
  next_.store(0, std::memory_order_relaxed);
  ++generation_;
  state_.store((uint64_t(generation_) << 32) | kOpen); // seq_cst: then the sleepers check
  if (sleepers_.load() > 0) {
    pthread_mutex_lock(&mutex_);
    pthread_cond_broadcast(&wake_);
    pthread_mutex_unlock(&mutex_);
  }
  tlInTask = true;
  runChunks();
  tlInTask = false;
  // Close the job and wait for the workers that joined it.
  uint64_t s = state_.fetch_and(~kOpen, std::memory_order_acq_rel) & ~kOpen;
  for (unsigned i = 1; (s & kCountMask) != 0; ++i) {
    cpuRelax();
    if ((i & 1023) == 0)
      sched_yield(); // a worker in the job may have been descheduled
    s = state_.load(std::memory_order_acquire);
  }
}

} // namespace rt
} // namespace milm

extern "C" void milm_rt_parallel_for(milm_exec *ex, int64_t n, int64_t grain, milm_task_fn fn,
                                     void *arg) {
  if (!ex || !ex->pool) {
    if (n > 0)
      fn(arg, 0, n);
    return;
  }
  ex->pool->parallelFor(n, grain, fn, arg);
}

extern "C" const uint8_t *milm_rt_tree_mask(milm_exec *ex) { return ex ? ex->treeMask : nullptr; }
