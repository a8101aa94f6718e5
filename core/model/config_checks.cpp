#include "config_checks.h"

#include <charconv>
#include <vector>

#include "util/error.h"
#include "util/json_limits.h"
#include "checkpoint.h"

namespace calm {

namespace {

// The config.json key that holds each size, by architecture.
struct Keys {
  const char* vocab = "vocab_size";
  const char* width;
  const char* feed_forward;
  const char* heads;
  const char* kv_heads;
  const char* head_dim;
  const char* encoder_layers = "num_layers";
  const char* decoder_layers;
  const char* positions;
};

Keys keys_for(const ModelConfig& c) {
  if (c.arch == Arch::EncoderDecoder)
    return {"vocab_size", "d_model", "d_ff", "num_heads", "num_heads", "d_kv", "num_layers",
            "num_decoder_layers", "n_positions"};
  return {"vocab_size",          "hidden_size",         "intermediate_size", "num_attention_heads",
          "num_key_value_heads", "head_dim",            "",                  "num_hidden_layers",
          "max_position_embeddings"};
}

void check_size(const std::string& path, const char* key, int64_t value, int64_t max) {
  if (value < 1 || value > max)
    throw Error(path + ": key '" + key + "' is " + std::to_string(value) + "; this engine supports 1 to " +
                std::to_string(max));
}

// a x b, both at most 2^31, cannot overflow 64 bits.
void check_product(const std::string& path, const char* key_a, int64_t a, const char* key_b, int64_t b, int64_t max,
                   const char* what) {
  const int64_t product = a * b;
  if (product > max)
    throw Error(path + ": " + key_a + " x " + key_b + " = " + std::to_string(a) + " x " + std::to_string(b) + " = " +
                std::to_string(product) + ", more than the " + std::to_string(max) + " " + what +
                " this engine supports");
}

// The layer index in `name` after `prefix` ("decoder.block.12.layer..." -> 12), or -1.
int64_t layer_index(const std::string& name, const std::string& prefix) {
  if (name.compare(0, prefix.size(), prefix) != 0) return -1;
  const char* begin = name.data() + prefix.size();
  const char* end = name.data() + name.size();
  int64_t index = -1;
  const auto [rest, error] = std::from_chars(begin, end, index);
  if (error != std::errc() || rest == begin || rest == end || *rest != '.') return -1;
  return index;
}

}  // namespace

void check_config_sizes(const ModelConfig& c, const std::string& path) {
  using B = ConfigBounds;
  const Keys k = keys_for(c);
  check_size(path, k.vocab, c.vocab_size, B::kMaxVocab);
  check_size(path, k.width, c.d_model, B::kMaxWidth);
  check_size(path, k.feed_forward, c.d_ff, B::kMaxFeedForward);
  check_size(path, k.heads, c.num_heads, B::kMaxHeads);
  check_size(path, k.kv_heads, c.num_kv_heads, B::kMaxHeads);
  check_size(path, k.head_dim, c.head_dim, B::kMaxHeadDim);
  check_size(path, k.decoder_layers, c.decoder_layers, B::kMaxLayers);
  check_size(path, k.positions, c.max_positions, B::kMaxPositions);
  if (c.arch == Arch::EncoderDecoder) {
    check_size(path, k.encoder_layers, c.encoder_layers, B::kMaxLayers);
    check_size(path, "relative_attention_num_buckets", c.relative_buckets, B::kMaxRelativeBuckets);
    check_size(path, "relative_attention_max_distance", c.relative_max_distance, B::kMaxRelativeDistance);
  }
  // The products the engine computes in int: the attention widths (q_dim,
  // kv_dim) and every weight matrix's element count.
  check_product(path, k.heads, c.num_heads, k.head_dim, c.head_dim, B::kMaxAttentionWidth, "attention width");
  check_product(path, k.kv_heads, c.num_kv_heads, k.head_dim, c.head_dim, B::kMaxAttentionWidth,
                "key/value width");
  const int64_t q_dim = int64_t(c.num_heads) * c.head_dim;
  const char* const matrix = "elements in one weight matrix";
  check_product(path, k.vocab, c.vocab_size, k.width, c.d_model, B::kMaxMatrixElements, matrix);
  check_product(path, k.feed_forward, c.d_ff, k.width, c.d_model, B::kMaxMatrixElements, matrix);
  if (q_dim * c.d_model > B::kMaxMatrixElements)
    throw Error(path + ": " + k.heads + " x " + k.head_dim + " x " + k.width + " = " + std::to_string(q_dim) +
                " x " + std::to_string(c.d_model) + " = " + std::to_string(q_dim * c.d_model) + ", more than the " +
                std::to_string(B::kMaxMatrixElements) + " " + matrix + " this engine supports");
}

void check_layer_count(const Checkpoint& checkpoint, const ModelConfig& c, const std::string& config_path) {
  struct Stack {
    std::string prefix;
    int layers;
    const char* key;
  };
  const std::vector<Stack> stacks =
      c.arch == Arch::EncoderDecoder
          ? std::vector<Stack>{{"encoder.block.", c.encoder_layers, "num_layers"},
                               {"decoder.block.", c.decoder_layers, "num_decoder_layers"}}
          : std::vector<Stack>{{"model.layers.", c.decoder_layers, "num_hidden_layers"}};
  for (const auto& st : checkpoint.files())
    for (const auto& [name, info] : st->tensors())
      for (const Stack& s : stacks) {
        const int64_t index = layer_index(name, s.prefix);
        if (index >= s.layers)
          throw Error(config_path + ": key '" + s.key + "' gives " + std::to_string(s.layers) + " layers, but " +
                      st->path() + " holds layer " + std::to_string(index) + " (tensor '" + excerpt(name) +
                      "'): loading would drop layers and compute another model; fix the config");
      }
}

}  // namespace calm
