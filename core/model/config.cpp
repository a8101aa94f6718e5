// config.json -> ModelConfig for the two supported layouts (Hugging Face T5 and
// Llama). Defaults follow the Hugging Face config classes, so a checkpoint saved
// by that library loads as it is; every error names the file and the key.
#include "config.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "config_checks.h"
#include "util/error.h"
#include "util/json_file.h"

namespace calm {

namespace {

using json = nlohmann::json;

// Hugging Face configs are a few kilobytes (one with a huge id2label table
// reaches a megabyte); past this the file is something else.
constexpr std::size_t kMaxConfigBytes = 16u << 20;
// Parsed, a value takes up to a hundred bytes: this bounds the memory parsing takes.
constexpr std::size_t kMaxConfigValues = 1u << 20;

// config.json's reading on top of JsonReader: ints that fit in 32 bits,
// fallbacks for absent keys (JSON null counts as absent), special token ids.
class Reader : public JsonReader {
 public:
  using JsonReader::JsonReader;

  const json& at(const std::string& key) const {
    if (!has(key)) fail(key, "missing");
    return get(key);
  }

  // `v` (the value of `key`, or an element of it) as an int that fits in 32 bits.
  int as_int(const std::string& key, const json& v) const {
    return static_cast<int>(JsonReader::integer(key, v, INT32_MIN, INT32_MAX));
  }

  int integer(const std::string& key) const { return as_int(key, at(key)); }
  int integer(const std::string& key, int fallback) const { return has(key) ? integer(key) : fallback; }

  int positive(const std::string& key) const {
    const int x = integer(key);
    if (x <= 0) fail(key, "must be positive, got " + std::to_string(x));
    return x;
  }
  int positive(const std::string& key, int fallback) const { return has(key) ? positive(key) : fallback; }

  float positive_number(const std::string& key, float fallback) const {
    if (!has(key)) return fallback;
    const json& v = at(key);
    if (!v.is_number()) fail(key, "must be a number, got " + json_excerpt(v));
    const double x = v.get<double>();
    if (!(x > 0)) fail(key, "must be positive, got " + json_excerpt(v));
    return static_cast<float>(x);
  }

  bool boolean(const std::string& key, bool fallback) const { return has(key) ? JsonReader::boolean(key) : fallback; }

  std::string string(const std::string& key) const {
    at(key);
    return JsonReader::string(key, true);
  }
  std::string string(const std::string& key, const std::string& fallback) const {
    return has(key) ? string(key) : fallback;
  }

  // A special token id: absent or null -> fallback; a list (Llama 3 writes
  // several eos ids) -> its first element.
  int token(const std::string& key, int fallback) const { return tokens(key, fallback).front(); }

  // Every id of a special token that may be a list: absent or null -> {fallback}.
  std::vector<int> tokens(const std::string& key, int fallback) const {
    if (!has(key)) return {fallback};
    const json& v = at(key);
    if (!v.is_array()) return {as_int(key, v)};
    if (v.empty()) fail(key, "is an empty list; expected an integer or a list of integers");
    std::vector<int> ids;
    for (const json& e : v) ids.push_back(as_int(key, e));
    return ids;
  }

  // A number (any sign) or the fallback when absent.
  double number(const std::string& key, double fallback) const {
    if (!has(key)) return fallback;
    const json& v = at(key);
    if (!v.is_number()) fail(key, "must be a number, got " + json_excerpt(v));
    return v.get<double>();
  }

  const std::string& path() const { return source(); }
};

void parse_t5(const Reader& r, ModelConfig& c) {
  c.arch = Arch::EncoderDecoder;
  c.vocab_size = r.positive("vocab_size");
  c.d_model = r.positive("d_model");
  c.head_dim = r.positive("d_kv");
  c.d_ff = r.positive("d_ff");
  c.encoder_layers = r.positive("num_layers");
  c.decoder_layers = r.positive("num_decoder_layers", c.encoder_layers);
  c.num_heads = r.positive("num_heads");
  c.num_kv_heads = c.num_heads;
  c.relative_buckets = r.positive("relative_attention_num_buckets", 32);
  c.relative_max_distance = r.positive("relative_attention_max_distance", 128);
  // Hugging Face's T5Config defaults to "relu" (the original T5); v1.1 says "gated-gelu".
  const std::string ff = r.string("feed_forward_proj", "relu");
  if (ff == "gated-gelu") c.feed_forward = FeedForward::GatedGelu;
  else if (ff == "relu") c.feed_forward = FeedForward::Relu;
  else r.fail("feed_forward_proj", "is " + Reader::quoted(ff) + "; supported: 'gated-gelu', 'relu'");
  c.tied_embeddings = r.boolean("tie_word_embeddings", true);
  c.norm_eps = r.positive_number("layer_norm_epsilon", 1e-6f);
  c.pad_id = r.token("pad_token_id", 0);
  c.eos_ids = r.tokens("eos_token_id", 1);
  c.eos_id = c.eos_ids.front();
  c.bos_id = -1;  // T5 has no beginning-of-sequence token
  c.decoder_start_id = r.token("decoder_start_token_id", c.pad_id);
  c.max_positions = r.positive("n_positions", 512);
}

// rope_scaling: {"rope_type" (or the older "type"): "linear" | "dynamic" |
// "llama3", "factor": x, ...}, as Hugging Face's rotary initialisers read it.
RopeScaling parse_rope_scaling(const Reader& outer) {
  const json& v = outer.at("rope_scaling");
  if (!v.is_object()) outer.fail("rope_scaling", "must be an object, got " + json_excerpt(v));
  const std::string where = outer.path() + " (rope_scaling)";
  const Reader r(v, where);
  const std::string type = r.has("rope_type") ? r.string("rope_type") : r.string("type", "default");
  RopeScaling s;
  if (type == "default") return s;
  if (type == "linear") s.type = RopeScalingType::Linear;
  else if (type == "dynamic") s.type = RopeScalingType::Dynamic;
  else if (type == "llama3") s.type = RopeScalingType::Llama3;
  else
    r.fail(r.has("rope_type") ? "rope_type" : "type",
           "is " + Reader::quoted(type) + "; supported: 'linear', 'dynamic', 'llama3' (not yet 'yarn', 'longrope')");
  s.factor = static_cast<float>(r.number("factor", 0.0));
  if (!(s.factor >= 1.0f)) r.fail("factor", "must be at least 1 for " + Reader::quoted(type) + " scaling");
  if (s.type == RopeScalingType::Llama3) {
    s.low_freq_factor = r.positive_number("low_freq_factor", 1.0f);
    s.high_freq_factor = r.positive_number("high_freq_factor", 4.0f);
    s.original_max_positions = r.positive("original_max_position_embeddings");
    if (!(s.high_freq_factor > s.low_freq_factor))
      r.fail("high_freq_factor", "must be larger than low_freq_factor (" + std::to_string(s.low_freq_factor) + ")");
  }
  return s;
}

// Mistral attends to the last sliding_window positions only. The context is
// capped at the window, so every sequence this engine runs fits it and
// attention is exact; a longer prompt is refused or truncated (--truncate) as
// any prompt past the context. Qwen2 states a window it does not use unless
// use_sliding_window is true.
void apply_sliding_window(const Reader& r, ModelConfig& c) {
  if (!r.has("sliding_window") || !r.boolean("use_sliding_window", true)) return;
  const int window = r.positive("sliding_window");
  c.max_positions = std::min(c.max_positions, window);
}

// Llama, Mistral and Qwen2: one layout. Qwen2 differs in its q/k/v biases
// (always there, no config key) and its prompts, which start without a
// beginning-of-sequence token (its tokenizer adds none; bos_token_id is the
// end-of-text token).
void parse_llama(const Reader& r, ModelConfig& c) {
  const bool qwen2 = c.model_type == "qwen2";
  c.arch = Arch::DecoderOnly;
  c.vocab_size = r.positive("vocab_size");
  c.d_model = r.positive("hidden_size");
  c.d_ff = r.positive("intermediate_size");
  c.decoder_layers = r.positive("num_hidden_layers");
  c.encoder_layers = 0;
  c.num_heads = r.positive("num_attention_heads");
  c.num_kv_heads = r.positive("num_key_value_heads", c.num_heads);
  if (c.num_heads % c.num_kv_heads != 0)
    r.fail("num_key_value_heads", "(" + std::to_string(c.num_kv_heads) + ") must divide num_attention_heads (" +
                                      std::to_string(c.num_heads) + ")");
  // Newer configs may state head_dim; otherwise it is hidden_size / heads.
  if (r.has("head_dim")) {
    c.head_dim = r.positive("head_dim");
  } else {
    if (c.d_model % c.num_heads != 0)
      r.fail("hidden_size", "(" + std::to_string(c.d_model) + ") must be divisible by num_attention_heads (" +
                                std::to_string(c.num_heads) + ")");
    c.head_dim = c.d_model / c.num_heads;
  }
  c.feed_forward = FeedForward::SwiGlu;
  // Variants this engine would compute wrongly without saying so are refused.
  if (r.string("hidden_act", "silu") != "silu") r.fail("hidden_act", "is " + Reader::quoted(r.string("hidden_act")) + "; supported: 'silu'");
  if (qwen2) {
    c.qkv_bias = true;
  } else {
    c.qkv_bias = c.o_bias = r.boolean("attention_bias", false);
    c.mlp_bias = r.boolean("mlp_bias", false);
  }
  c.norm_eps = r.positive_number("rms_norm_eps", 1e-6f);
  c.rope_theta = r.positive_number("rope_theta", 10000.0f);
  c.max_positions = r.positive("max_position_embeddings", 2048);
  if (r.has("rope_scaling")) c.rope_scaling = parse_rope_scaling(r);
  apply_sliding_window(r, c);
  c.tied_embeddings = r.boolean("tie_word_embeddings", false);
  c.bos_id = qwen2 ? -1 : r.token("bos_token_id", 1);
  c.eos_ids = r.tokens("eos_token_id", 2);
  c.eos_id = c.eos_ids.front();
  c.pad_id = r.token("pad_token_id", -1);
  c.decoder_start_id = c.bos_id;  // generation starts from <s>
}

void parse_calm_block(const json& j, const std::string& path, ModelConfig& c) {
  if (!j.contains("calm") || j["calm"].is_null()) return;
  const json& calm = j["calm"];
  if (!calm.is_object()) throw Error(path + ": key 'calm' must be an object");
  if (!calm.contains("classifier") || calm["classifier"].is_null()) return;
  const json& cls = calm["classifier"];
  if (!cls.is_object()) throw Error(path + ": key 'calm.classifier' must be an object");
  if (!cls.contains("weight") || !cls["weight"].is_string() || cls["weight"].get<std::string>().empty())
    throw Error(path + ": key 'calm.classifier.weight' must name a tensor");
  c.classifier_weight = cls["weight"].get<std::string>();
  if (cls.contains("bias") && !cls["bias"].is_null()) {
    if (!cls["bias"].is_string()) throw Error(path + ": key 'calm.classifier.bias' must name a tensor");
    c.classifier_bias = cls["bias"].get<std::string>();
  }
}

void check_token(const Reader& r, const std::string& key, int id, int vocab_size, bool allow_none) {
  if (allow_none && id == -1) return;
  if (id < 0 || id >= vocab_size)
    r.fail(key, "is " + std::to_string(id) + ", outside the vocabulary [0, " + std::to_string(vocab_size) + ")");
}

}  // namespace

ModelConfig load_config(const std::string& path) {
  const json j = read_json_file(path, {"a config.json", kMaxConfigBytes, kMaxConfigValues});
  const Reader r(j, path);
  ModelConfig c;
  c.model_type = r.string("model_type");
  const std::string& type = c.model_type;
  if (type == "t5") parse_t5(r, c);
  else if (type == "llama" || type == "mistral" || type == "qwen2") parse_llama(r, c);  // Mistral: and a window
  else r.fail("model_type", "is " + Reader::quoted(type) + "; supported: 't5', 'llama', 'mistral', 'qwen2'");

  const bool t5 = c.arch == Arch::EncoderDecoder;
  for (int id : c.eos_ids) check_token(r, "eos_token_id", id, c.vocab_size, false);
  check_token(r, "pad_token_id", c.pad_id, c.vocab_size, !t5);
  check_token(r, t5 ? "decoder_start_token_id" : "bos_token_id", t5 ? c.decoder_start_id : c.bos_id,
              c.vocab_size, !t5);
  parse_calm_block(j, path, c);
  check_config_sizes(c, path);
  return c;
}

}  // namespace calm
