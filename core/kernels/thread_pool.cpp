#include "kernels/thread_pool.h"

#include <immintrin.h>

namespace calm {
namespace {
// Tens of microseconds of spinning before a worker sleeps: longer than the
// gap between two products of one token, far shorter than a token.
constexpr int kSpinIterations = 20000;
}  // namespace

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { work_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::drain(uint32_t generation) {
  uint64_t claim = claim_.load(std::memory_order_acquire);
  for (;;) {
    if (uint32_t(claim >> 32) != generation) return;  // another run's
    const int i = int(uint32_t(claim));
    if (i >= tasks_.load(std::memory_order_acquire)) return;
    if (!claim_.compare_exchange_weak(claim, claim + 1, std::memory_order_acq_rel)) continue;
    call_(fn_, i);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
    claim = claim_.load(std::memory_order_acquire);
  }
}

void ThreadPool::run_erased(int tasks, const void* fn, Trampoline call) {
  uint32_t generation;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation = uint32_t(generation_.load(std::memory_order_relaxed) + 1);
    // Close the last run's claims before its task count changes: a worker
    // late from that run may have read an index equal to the old count and
    // would, against a larger new count, claim and run a task that does not
    // exist (running a task twice and leaving pending_ below zero: a hang).
    // Its compare-exchange now fails, since claim_ carries this generation.
    claim_.store((uint64_t(generation) << 32) | 0x7fffffffu, std::memory_order_seq_cst);
    tasks_.store(tasks, std::memory_order_release);
    fn_ = fn;
    call_ = call;
    pending_.store(tasks, std::memory_order_relaxed);
    claim_.store(uint64_t(generation) << 32, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  drain(generation);
  while (pending_.load(std::memory_order_acquire) != 0) _mm_pause();
}

void ThreadPool::work_loop() {
  uint64_t seen = 0;
  for (;;) {
    uint64_t now = generation_.load(std::memory_order_acquire);
    for (int spin = 0; now == seen && spin < kSpinIterations; ++spin) {
      _mm_pause();
      now = generation_.load(std::memory_order_acquire);
    }
    if (now == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      now = generation_.load(std::memory_order_acquire);
    }
    seen = now;
    if (stop_.load(std::memory_order_acquire)) return;
    drain(uint32_t(now));
  }
}

}  // namespace calm
