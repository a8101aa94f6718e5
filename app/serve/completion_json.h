// The JSON the server answers with, in the OpenAI completions layout
// (object "text_completion", choices[0].text, finish_reason, usage) plus CALM's
// own "calm" block: how deep each token went and what guarantee stands behind
// the exit rule.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "calibrate/thresholds.h"
#include "decode/decoder.h"
#include "serve/completion_request.h"

namespace calm::serve {

// The thresholds file the server decodes with, and its hash (file_hash).
struct ServedThresholds {
  Thresholds file;
  std::string hash;
};

// What the server says about its guarantee: the thresholds file's delta,
// epsilon, metric and sentence, or null when it runs without one.
nlohmann::ordered_json thresholds_json(const std::optional<ServedThresholds>& t);

// Whether the thresholds file's guarantee covers a request: it was certified
// (not exploratory) and a calm-mode request decodes as it was calibrated
// (decodes_as_calibrated: its lambda and repetition remedies, greedy). Verify and full modes give the full model's text, which has no
// consistency loss at all.
bool guarantee_applies(const std::optional<ServedThresholds>& t, const CompletionRequest& q);

// The "calm" block of a response (or of a stream's last chunk).
nlohmann::ordered_json calm_json(const CompletionRequest& q, const DecodeResult& r,
                                 const std::optional<ServedThresholds>& t);

// {"error": {"message", "type", "param": null, "code": null}}, as OpenAI clients parse.
std::string error_body(const std::string& message, const std::string& type);

}  // namespace calm::serve
