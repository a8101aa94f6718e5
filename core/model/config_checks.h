// Checks of a model's shape beyond what each config.json key says alone: the
// sizes and their products in 64 bits (so nothing derived from them can wrap
// an int), and the decoder depth against what the checkpoint holds.
#pragma once

#include <cstdint>
#include <string>

#include "config.h"

namespace calm {

class Checkpoint;

// The largest sizes a config may give (docs/hardening.md lists them). Real
// checkpoints stay far below: Llama 3 70B has vocab 128256, hidden 8192,
// intermediate 28672, 80 layers, 64 heads of 128.
struct ConfigBounds {
  static constexpr int64_t kMaxVocab = int64_t(1) << 22;           // 4,194,304 tokens
  static constexpr int64_t kMaxWidth = int64_t(1) << 16;           // d_model / hidden_size: 65,536
  static constexpr int64_t kMaxFeedForward = int64_t(1) << 20;     // d_ff / intermediate_size
  static constexpr int64_t kMaxHeads = 4096;                       // attention and key/value heads
  static constexpr int64_t kMaxHeadDim = int64_t(1) << 14;         // d_kv / head_dim: 16,384
  static constexpr int64_t kMaxLayers = 1024;                      // per stack
  static constexpr int64_t kMaxPositions = int64_t(1) << 24;       // context: 16,777,216
  static constexpr int64_t kMaxRelativeBuckets = int64_t(1) << 16;
  static constexpr int64_t kMaxRelativeDistance = int64_t(1) << 24;
  static constexpr int64_t kMaxAttentionWidth = int64_t(1) << 20;  // heads x head dim
  static constexpr int64_t kMaxMatrixElements = INT32_MAX;         // any one weight matrix
};

// Throws calm::Error naming `path` and the key (or the keys of a product) when
// a size or a product of sizes exceeds ConfigBounds. Computed in 64 bits.
void check_config_sizes(const ModelConfig& c, const std::string& path);

// Throws calm::Error when the checkpoint holds a layer past the config's
// depth (e.g. "decoder.block.8." for num_decoder_layers 8): loading would
// silently drop it and compute another model. Names the config, the key and
// the file (or shard) holding the layer.
void check_layer_count(const Checkpoint& checkpoint, const ModelConfig& c, const std::string& config_path);

}  // namespace calm
