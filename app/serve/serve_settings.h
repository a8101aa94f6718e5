// What `calm serve` is told at start: where it listens, how many decoders it
// runs, what a request may ask for. Defaults in one place; docs/serving.md
// lists them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "decode/decoder.h"

namespace calm::serve {

// What bounds a request's memory and time (each one documented in docs/serving.md).
struct RequestLimits {
  std::size_t max_body_bytes = 1 << 20;     // larger bodies get 413 unread
  std::size_t max_prompt_bytes = 64 << 10;  // the prompt's UTF-8 bytes
  std::size_t max_stop_sequences = 4;
  std::size_t max_stop_bytes = 64;          // each stop sequence
  double timeout_seconds = 120;             // waiting plus decoding; then the request is cancelled (504)
};

struct ServeSettings {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  int port = 8080;                 // 0: any free port (the log line says which)
  int decoders = 1;                // K: requests decoded at once
  int threads = 1;                 // per decoder: splits one decode's products
  std::size_t queue = 16;          // requests waiting for a decoder; beyond: 429
  std::string api_key;             // empty: no Authorization needed
  bool allow_lambda = false;       // whether a request may set calm.lambda
  int verify_draft = 4;            // calm.mode "verify": tokens drafted per pass
  // The guarantee monitor (guarantee_monitor.h): the fraction of eligible
  // requests decoded again with the full model, and the seed of that draw.
  double audit_fraction = 0.1;
  std::uint64_t audit_seed = 0;
  // The exit rule every request decodes with (from a thresholds file or the
  // options of `calm generate`); its max_new_tokens is also the schedule's N
  // and the largest max_tokens a request may ask for.
  DecodeOptions rule;
  RequestLimits limits;
};

}  // namespace calm::serve
