// The model's shape as plain, validated data, read from a Hugging Face style
// config.json (T5ForConditionalGeneration or LlamaForCausalLM layout) plus an
// optional "calm" block naming the early-exit classifier head.
#pragma once

#include <string>
#include <vector>

namespace calm {

enum class Arch { EncoderDecoder, DecoderOnly };  // T5 v1.1 style, Llama style
enum class FeedForward { GatedGelu, Relu, SwiGlu };

// Llama's rope_scaling (Hugging Face's rope_type): how rotary frequencies are
// stretched for contexts longer than the checkpoint was first trained on.
enum class RopeScalingType { None, Linear, Dynamic, Llama3 };
struct RopeScaling {
  RopeScalingType type = RopeScalingType::None;
  float factor = 1.0f;                // linear, dynamic, llama3
  float low_freq_factor = 1.0f;       // llama3
  float high_freq_factor = 4.0f;      // llama3
  int original_max_positions = 8192;  // llama3: original_max_position_embeddings
};

struct ModelConfig {
  Arch arch = Arch::DecoderOnly;
  std::string model_type;   // config.json's: "t5", "llama", "mistral", "qwen2"
  int vocab_size = 0;
  int d_model = 0;
  int num_heads = 0;
  int num_kv_heads = 0;     // == num_heads for T5; grouped-query for Llama
  int head_dim = 0;         // T5: d_kv; Llama: hidden_size / num_attention_heads
  int d_ff = 0;
  int encoder_layers = 0;   // 0 for decoder-only
  int decoder_layers = 0;   // the exits: every decoder layer is one
  FeedForward feed_forward = FeedForward::SwiGlu;
  // Biases added after a projection (decoder-only): Llama's attention_bias
  // (q, k, v and o), Qwen2's q/k/v biases (no o), Llama's mlp_bias (gate, up, down).
  bool qkv_bias = false;
  bool o_bias = false;
  bool mlp_bias = false;
  float norm_eps = 1e-6f;
  bool tied_embeddings = false;
  // T5 relative position buckets (shared by all layers of a stack).
  int relative_buckets = 32;
  int relative_max_distance = 128;
  // Llama rotary positions.
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling;
  // Longest sequence the run state is sized for: Llama's max_position_embeddings,
  // T5's n_positions (512 when absent), for the input and for the output each.
  // Mistral's sliding_window caps it (see load_config).
  int max_positions = 512;
  // Special tokens (-1 when the model has none).
  int eos_id = 1;                // the first of eos_ids: the one appended to a T5 input
  std::vector<int> eos_ids{1};   // every id that ends generation (Llama 3 lists several)
  int pad_id = 0;
  int bos_id = -1;               // prepended to a decoder-only prompt; -1: none (T5, Qwen2)
  int decoder_start_id = 0;  // T5 starts the decoder with this token
  // CALM extras: tensor names of the early-exit classifier head, empty if absent.
  std::string classifier_weight;  // (d_model)
  std::string classifier_bias;    // (1)

  bool has_classifier() const { return !classifier_weight.empty(); }
  bool is_eos(int id) const {
    for (int e : eos_ids)
      if (e == id) return true;
    return false;
  }
  int q_dim() const { return num_heads * head_dim; }
  int kv_dim() const { return num_kv_heads * head_dim; }
  // "q/k/v", "q/k/v/o, MLP", ... or "none": the projections with a bias.
  std::string biases_name() const {
    std::string s = qkv_bias ? (o_bias ? "q/k/v/o" : "q/k/v") : "";
    if (mlp_bias) s += s.empty() ? "MLP" : ", MLP";
    return s.empty() ? "none" : s;
  }
  const char* arch_name() const {
    return arch == Arch::EncoderDecoder ? "encoder-decoder (T5 v1.1)" : "decoder-only (Llama)";
  }
};

// Parses and validates config.json; throws calm::Error naming the file and key.
ModelConfig load_config(const std::string& path);

}  // namespace calm
