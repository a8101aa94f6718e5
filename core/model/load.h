// Loading a model directory with progress and cancellation, and a description
// of what was loaded for a reader (calm info, the app's model panel). A 7 B
// checkpoint takes seconds to tens of seconds to read and copy; the callback
// hears where the load is and can stop it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "model/model.h"
#include "util/error.h"

namespace calm {

struct LoadProgress {
  double fraction = 0.0;  // of the whole load, 0..1, never decreasing
  std::string stage;      // "Mapping model-00001-of-00002.safetensors (1 of 2)", "Layer 3 of 32", ...
};

// Return false to cancel: the load throws LoadCancelled at its next step
// (before the next file or layer).
using LoadProgressCallback = std::function<bool(const LoadProgress&)>;

class LoadCancelled : public Error {
 public:
  using Error::Error;
};

// What a loaded model is, in words a user reads.
struct ModelInfo {
  std::string model_type;    // config.json's: "llama", "qwen2", "mistral", "t5"
  std::string variant;       // "qwen2: q/k/v biases", "t5 v1.1: gated-gelu, untied", ...
  std::string stored_types;  // the checkpoint's dtypes, as "bf16" or "f32 + bf16"
  std::string weights_type;  // the large matrices as held in memory: "bf16", "q8", ...
  int64_t weight_bytes = 0;  // those matrices' bytes in memory
  std::string tokenizer;     // "SentencePiece", "byte-level BPE (tokenizer.json)", ...
  int decoder_layers = 0;    // the exits
  int encoder_layers = 0;    // T5 only
  int64_t parameters = 0;
  // Whether the intermediate layers were trained to be exits: CALM Studio's
  // own recipe (its config names an early-exit classifier) or a LayerSkip
  // checkpoint (its directory or _name_or_path says so). Otherwise the early
  // exits may be poor until calibrated.
  bool trained_for_exits = false;
  std::string exit_training;  // why, in a few words
};

struct LoadedModel {
  Model model;
  ModelInfo info;
};

// load_model (model.h) reporting as it goes; throws calm::Error as it does, and
// LoadCancelled when `progress` returns false.
LoadedModel load_model_reporting(const std::string& dir, const LoadOptions& options,
                                 const LoadProgressCallback& progress);

}  // namespace calm
