// K decoders serving jobs from one bounded queue. A Decoder owns its run state
// (the K/V caches) and is not safe to share, so each worker thread owns one;
// the model's weights are shared read-only. A full queue refuses at once
// instead of letting waiting requests pile up in memory.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "decode/decoder.h"

namespace calm::serve {

class DecoderPool {
 public:
  using Job = std::function<void(Decoder&)>;

  // `decoders` worker threads, each with a Decoder splitting its products over
  // `threads_per_decoder` threads; at most `queue_capacity` jobs wait for one.
  DecoderPool(const Model& model, int decoders, int threads_per_decoder, std::size_t queue_capacity);
  ~DecoderPool();  // shutdown()
  DecoderPool(const DecoderPool&) = delete;
  DecoderPool& operator=(const DecoderPool&) = delete;

  // Queues `job`; false (and `job` dropped) when the queue is full or the pool
  // is shutting down.
  bool try_submit(Job job);
  // Runs every queued job to its end, then joins the workers. Idempotent.
  void shutdown();

  std::size_t waiting() const;  // jobs queued, not started
  std::size_t busy() const;     // jobs running
  std::size_t decoders() const { return workers_.size(); }
  std::size_t capacity() const { return capacity_; }

 private:
  void work(Decoder& decoder);

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  std::size_t busy_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace calm::serve
