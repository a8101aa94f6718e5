// A POST /v1/completions body, checked field by field. Everything a request
// may set is listed here; any other key is refused rather than silently
// ignored (a client asking for top_p would otherwise believe it got it).
// Nothing in a request names a file or changes the model.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "decode/decoder.h"
#include "serve/serve_settings.h"

namespace calm::serve {

enum class ServeMode {
  Calm,    // the server's exit rule (the thresholds file's)
  Verify,  // drafts with the exit rule, verified by the full model: the full model's output
  Full,    // every token through every layer
};
ServeMode parse_serve_mode(const std::string& name);  // "calm", "verify", "full"
const char* serve_mode_name(ServeMode mode);

struct CompletionRequest {
  std::string prompt;
  int max_tokens = 0;  // at most options.max_new_tokens (the schedule's N)
  bool stream = false;
  std::vector<std::string> stop;  // the text ends before the first of these
  ServeMode mode = ServeMode::Calm;
  bool lambda_overridden = false;
  // The request's repetition_penalty or no_repeat_ngram_size differ from the
  // server's rule: the outputs are another distribution's, which the
  // thresholds file's calibration does not cover.
  bool remedies_changed = false;
  DecodeOptions options;  // the server's rule with the request's choices applied
};

// Whether a calm-mode request decodes as a thresholds file's calibration did:
// the server's lambda, its repetition remedies, greedy. A sampled answer is
// not the early-exit twin of the full model's greedy text that the
// calibration scored, so neither the response's guarantee nor the monitor
// covers it.
inline bool decodes_as_calibrated(const CompletionRequest& q) {
  return !q.lambda_overridden && !q.remedies_changed && q.options.temperature == 0.0f;
}

// Parses and checks `body` against `settings`. Throws calm::Error
// "request: key 'max_tokens' ..." naming the field (the server answers 400).
CompletionRequest parse_completion_request(std::string_view body, const ServeSettings& settings,
                                           const std::string& model_name);

}  // namespace calm::serve
