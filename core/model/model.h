// A model directory loaded: config.json, model.safetensors or its
// shards, tokenizer.json or tokenizer.model. Immutable after loading and shared
// by every decoding thread.
#pragma once

#include <optional>
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

struct LoadOptions {
  // The type the large matrices are held in; unset keeps the checkpoint's
  // (F32, F16 or BF16, copied once out of the mapped file). Q8 halves F16's
  // bytes per product (kernels/weight_matrix.h).
  std::optional<WeightType> weights;
};

// "auto" (unset), "f32", "f16", "bf16", "q8"; throws calm::Error otherwise.
std::optional<WeightType> parse_weight_type(const std::string& name);

// Loads and validates a model directory. Throws calm::Error whose message names
// the file and the tensor or key at fault.
Model load_model(const std::string& dir, const LoadOptions& options = {});

}  // namespace calm
