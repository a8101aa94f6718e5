// A persistent pool of worker threads for the products inside one decode:
// started once (by a Decoder), woken per product, never a thread start per
// token or layer. Workers spin briefly before sleeping, since a decode issues
// hundreds of products per token with microseconds between them.
//
// How it composes with the programs' other parallelism: calibration, bench and
// validation run one Decoder per example thread, each single-threaded (no
// pool); `--threads N` on a single decode (generate, the app, serving) gives
// that one Decoder a pool of N. Nothing nests.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace calm {

class ThreadPool {
 public:
  // `threads` counts the calling thread: 1 starts no worker.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls task(i) for every i in [0, tasks), spread over the pool's threads
  // and the caller; returns when all have returned. Not reentrant: a task
  // must not call run() on the same pool.
  template <class Task>
  void run(int tasks, const Task& task) {
    if (tasks <= 0) return;
    if (workers_.empty() || tasks == 1) {
      for (int i = 0; i < tasks; ++i) task(i);
      return;
    }
    run_erased(tasks, &task, [](const void* f, int i) { (*static_cast<const Task*>(f))(i); });
  }

 private:
  using Trampoline = void (*)(const void*, int);
  void run_erased(int tasks, const void* fn, Trampoline call);
  void work_loop();
  void drain(uint32_t generation);  // takes tasks of that run until none are left

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};  // bumped per run(); workers wait for a new one
  // (run generation << 32) | next task index: a worker late from an earlier
  // run sees another generation and takes nothing from this one.
  std::atomic<uint64_t> claim_{0};
  std::atomic<int> pending_{0};          // tasks of this run not yet finished
  std::atomic<int> tasks_{0};            // written before claim_ is published
  const void* fn_ = nullptr;
  Trampoline call_ = nullptr;
  std::atomic<bool> stop_{false};
};

// The number of hardware threads, at least 1.
int hardware_threads();

}  // namespace calm
