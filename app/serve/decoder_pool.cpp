#include "serve/decoder_pool.h"

#include <memory>

namespace calm::serve {

DecoderPool::DecoderPool(const Model& model, int decoders, int threads_per_decoder, std::size_t queue_capacity)
    : capacity_(queue_capacity) {
  // Every decoder allocates its run state here, before the first request, so
  // a model too large for K of them fails at start and not under load.
  std::vector<std::unique_ptr<Decoder>> owned;
  for (int i = 0; i < decoders; ++i) owned.push_back(std::make_unique<Decoder>(model, threads_per_decoder));
  for (auto& d : owned)
    workers_.emplace_back([this, decoder = std::shared_ptr<Decoder>(std::move(d))] { work(*decoder); });
}

DecoderPool::~DecoderPool() { shutdown(); }

bool DecoderPool::try_submit(Job job) {
  {
    std::lock_guard lock(mutex_);
    // Room for one job per decoder (queued until a worker takes it) plus the waiting room.
    if (stopping_ || queue_.size() + busy_ >= capacity_ + workers_.size()) return false;
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
  return true;
}

void DecoderPool::shutdown() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_)
    if (t.joinable()) t.join();
}

std::size_t DecoderPool::waiting() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

std::size_t DecoderPool::busy() const {
  std::lock_guard lock(mutex_);
  return busy_;
}

void DecoderPool::work(Decoder& decoder) {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left to drain
    Job job = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    lock.unlock();
    try {
      job(decoder);  // jobs report their own errors: a request's failure is its response
    } catch (...) {
      // nothing left to tell: the job's owner has already been answered or gone
    }
    lock.lock();
    --busy_;
  }
}

}  // namespace calm::serve
