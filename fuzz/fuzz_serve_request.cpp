// libFuzzer target: the body of a POST /v1/completions to `calm serve`,
// parsed against the server's settings. The first byte picks the settings
// (whether a request may set lambda, the rule's max new tokens); the rest is
// the body. Every body must parse into a request within the server's bounds
// or be refused with calm::Error (the server answers 400).
#include <cstdint>
#include <string_view>

#include "serve/completion_request.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  calm::serve::ServeSettings settings;
  if (size > 0) {
    settings.allow_lambda = data[0] & 1;
    settings.rule.max_new_tokens = 1 + (data[0] >> 1);  // 1..128
    ++data;
    --size;
  }
  try {
    const calm::serve::CompletionRequest q = calm::serve::parse_completion_request(
        std::string_view(reinterpret_cast<const char*>(data), size), settings, "kjv2web");
    if (q.prompt.empty() || q.prompt.size() > settings.limits.max_prompt_bytes) __builtin_trap();
    if (q.max_tokens < 1 || q.max_tokens > settings.rule.max_new_tokens) __builtin_trap();
    if (q.stop.size() > settings.limits.max_stop_sequences) __builtin_trap();
    for (const std::string& s : q.stop)
      if (s.empty() || s.size() > settings.limits.max_stop_bytes) __builtin_trap();
    if (!(q.options.lambda >= 0.0 && q.options.lambda <= 1.0)) __builtin_trap();
    if (q.lambda_overridden && !settings.allow_lambda) __builtin_trap();
    if (q.options.trace || q.options.truncate_prompt) __builtin_trap();
  } catch (const calm::Error&) {
  }
  return 0;
}
