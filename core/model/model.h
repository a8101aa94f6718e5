// A model directory loaded into memory: config.json, model.safetensors,
// tokenizer.json or tokenizer.model. Immutable after loading and shared by every decoding thread.
#pragma once

#include <string>

#include "config.h"
#include "tokenizer.h"
#include "weights.h"

namespace calm {

struct Model {
  std::string dir;
  std::string name;  // the directory's last component
  ModelConfig config;
  Weights weights;
  Tokenizer tokenizer;

  int64_t parameter_count() const;
};

// Loads and validates a model directory. Throws calm::Error whose message names
// the file and the tensor or key at fault.
Model load_model(const std::string& dir);

}  // namespace calm
