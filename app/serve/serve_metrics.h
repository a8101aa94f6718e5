// The server's counters, read by /metrics (Prometheus text format 0.0.4) and
// /status. Plain atomics: handlers and decoders update them without a lock.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace calm::serve {

struct ServeMetrics {
  // Finished requests by outcome.
  std::atomic<uint64_t> completed{0};       // 200, decoded to the end
  std::atomic<uint64_t> bad_request{0};     // 400
  std::atomic<uint64_t> unauthorized{0};    // 401
  std::atomic<uint64_t> queue_full{0};      // 429
  std::atomic<uint64_t> timed_out{0};       // 504
  std::atomic<uint64_t> failed{0};          // 500
  std::atomic<uint64_t> disconnected{0};    // a streaming client left before the end
  // Tokens generated, and decoder layers they went through (layers / tokens:
  // the average depth; served tokens only, the audit's are separate).
  std::atomic<uint64_t> tokens{0};
  std::atomic<uint64_t> token_layers{0};
  std::atomic<uint64_t> prompt_tokens{0};
  // Seconds spent decoding, in microseconds (a counter of time, as Prometheus likes).
  std::atomic<uint64_t> decode_microseconds{0};
};

}  // namespace calm::serve
