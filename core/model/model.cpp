// Loading a model directory: config.json, then the tokenizer (cheap checks
// first), then every tensor of model.safetensors by its Hugging Face name, each
// checked against the shape the config implies.
#include "model.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>
#include <set>

#include "checkpoint.h"
#include "kernels/thread_pool.h"
#include "config_checks.h"
#include "model/load.h"
#include "util/error.h"
#include "util/json_file.h"

namespace calm {

namespace {

namespace fs = std::filesystem;

// Tells the caller's callback where the load is; throws LoadCancelled when it
// answers false. Fractions never go back.
class Reporter {
 public:
  Reporter(const LoadProgressCallback& callback, std::string dir) : callback_(callback), dir_(std::move(dir)) {}
  void operator()(double fraction, const std::string& stage) {
    if (!callback_) return;
    last_ = std::clamp(std::max(fraction, last_), 0.0, 1.0);
    if (!callback_(LoadProgress{last_, stage})) throw LoadCancelled(dir_ + ": loading cancelled");
  }

 private:
  const LoadProgressCallback& callback_;
  std::string dir_;
  double last_ = 0.0;
};

// The checkpoint's tensors and the type its large matrices are to be held in.
struct TensorReader {
  const Checkpoint& checkpoint;
  std::optional<WeightType> weights;  // unset: as stored
  ThreadPool* pool;                   // splits the copies and conversions
  std::string config_path;            // named when a tensor contradicts the config
  std::function<void(const std::string& stage)> step;  // before each layer (and embedding, head)

  bool contains(const std::string& name) const { return checkpoint.contains(name); }
  std::vector<float> read_f32(const std::string& name, const std::vector<int64_t>& shape) const {
    return checkpoint.file(name).read_f32(name, shape);
  }
};

WeightMatrix read_matrix(const TensorReader& st, const std::string& name, int rows, int cols) {
  return st.checkpoint.file(name).matrix(name, rows, cols, st.weights, st.pool);
}

// Small tables (position biases) are float32 whatever the checkpoint stores.
Matrix read_table(const TensorReader& st, const std::string& name, int rows, int cols) {
  const std::vector<float> v = st.read_f32(name, {rows, cols});
  return Eigen::Map<const Matrix>(v.data(), rows, cols);
}

Vector read_vector(const TensorReader& st, const std::string& name, int n) {
  const std::vector<float> v = st.read_f32(name, {n});
  return Eigen::Map<const Vector>(v.data(), n);
}

// prefix: "encoder.block.3.layer.0.SelfAttention." or "model.layers.3.self_attn."
// suffixes: T5 "q.weight" ..., Llama "q_proj.weight" ...
AttentionWeights read_attention(const TensorReader& st, const ModelConfig& c, const std::string& prefix,
                                const std::string& suffix) {
  AttentionWeights a;
  a.q = read_matrix(st, prefix + "q" + suffix, c.q_dim(), c.d_model);
  a.k = read_matrix(st, prefix + "k" + suffix, c.kv_dim(), c.d_model);
  a.v = read_matrix(st, prefix + "v" + suffix, c.kv_dim(), c.d_model);
  a.o = read_matrix(st, prefix + "o" + suffix, c.d_model, c.q_dim());
  return a;
}

// A bias the config says the model has is read (missing or misshapen: an
// error naming the file and tensor); one it says the model lacks must not be
// in the checkpoint, where ignoring it would compute another model.
Vector read_bias(const TensorReader& st, const std::string& name, int n, bool expected, const char* key,
                 const std::string& setting) {
  if (expected) return read_vector(st, name, n);
  if (st.contains(name))
    throw Error(st.checkpoint.file(name).path() + ": holds tensor '" + name + "', but " + st.config_path + " has " +
                key + " " + setting + ": loading would ignore the bias and compute another model; fix the config");
  return {};
}

// Llama's attention_bias (q, k, v, o), Qwen2's q/k/v biases.
void read_attention_biases(const TensorReader& st, const ModelConfig& c, const std::string& prefix,
                           AttentionWeights& a) {
  const bool qwen2 = c.model_type == "qwen2";
  const char* key = qwen2 ? "'model_type'" : "'attention_bias'";
  const std::string qkv_setting = qwen2 ? "'qwen2'" : "false (or absent)";
  const std::string o_setting = qwen2 ? "'qwen2', whose o_proj has no bias" : "false (or absent)";
  a.q_bias = read_bias(st, prefix + "q_proj.bias", c.q_dim(), c.qkv_bias, key, qkv_setting);
  a.k_bias = read_bias(st, prefix + "k_proj.bias", c.kv_dim(), c.qkv_bias, key, qkv_setting);
  a.v_bias = read_bias(st, prefix + "v_proj.bias", c.kv_dim(), c.qkv_bias, key, qkv_setting);
  a.o_bias = read_bias(st, prefix + "o_proj.bias", c.d_model, c.o_bias, key, o_setting);
}

// prefix: "encoder.block.3.layer.1.DenseReluDense."
FeedForwardWeights read_t5_feed_forward(const TensorReader& st, const ModelConfig& c, const std::string& prefix) {
  FeedForwardWeights f;
  if (c.feed_forward == FeedForward::GatedGelu) {
    f.gate = read_matrix(st, prefix + "wi_0.weight", c.d_ff, c.d_model);
    f.up = read_matrix(st, prefix + "wi_1.weight", c.d_ff, c.d_model);
  } else {
    f.up = read_matrix(st, prefix + "wi.weight", c.d_ff, c.d_model);
  }
  f.down = read_matrix(st, prefix + "wo.weight", c.d_model, c.d_ff);
  return f;
}

// T5 block i of a stack: layer.0 self-attention, [layer.1 cross-attention,]
// then the feed-forward layer; each sublayer has its own pre-norm.
LayerWeights read_t5_block(const TensorReader& st, const ModelConfig& c, const std::string& stack, int i) {
  const std::string block = stack + ".block." + std::to_string(i) + ".layer.";
  const bool decoder = stack == "decoder";
  LayerWeights l;
  l.self_attn_norm = read_vector(st, block + "0.layer_norm.weight", c.d_model);
  l.self_attn = read_attention(st, c, block + "0.SelfAttention.", ".weight");
  if (decoder) {
    l.cross_attn_norm = read_vector(st, block + "1.layer_norm.weight", c.d_model);
    l.cross_attn = read_attention(st, c, block + "1.EncDecAttention.", ".weight");
  }
  const std::string ffn = block + (decoder ? "2." : "1.");
  l.ffn_norm = read_vector(st, ffn + "layer_norm.weight", c.d_model);
  l.ffn = read_t5_feed_forward(st, c, ffn + "DenseReluDense.");
  return l;
}

void step(const TensorReader& st, const std::string& stage) {
  if (st.step) st.step(stage);
}

std::string of(int i, int n) { return std::to_string(i + 1) + " of " + std::to_string(n); }

void read_t5(const TensorReader& st, const ModelConfig& c, Weights& w) {
  step(st, "Embedding");
  // Older exports keep the embedding only under the encoder's name.
  const std::string embedding =
      !st.contains("shared.weight") && st.contains("encoder.embed_tokens.weight") ? "encoder.embed_tokens.weight"
                                                                                  : "shared.weight";
  w.embedding = read_matrix(st, embedding, c.vocab_size, c.d_model);
  for (int i = 0; i < c.encoder_layers; i++) {
    step(st, "Encoder layer " + of(i, c.encoder_layers));
    w.encoder.push_back(read_t5_block(st, c, "encoder", i));
  }
  w.encoder_norm = read_vector(st, "encoder.final_layer_norm.weight", c.d_model);
  w.encoder_relative_bias = read_table(st, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                                        c.relative_buckets, c.num_heads);
  for (int i = 0; i < c.decoder_layers; i++) {
    step(st, "Decoder layer " + of(i, c.decoder_layers));
    w.decoder.push_back(read_t5_block(st, c, "decoder", i));
  }
  w.decoder_norm = read_vector(st, "decoder.final_layer_norm.weight", c.d_model);
  w.decoder_relative_bias = read_table(st, "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                                        c.relative_buckets, c.num_heads);
}

void read_llama(const TensorReader& st, const ModelConfig& c, Weights& w) {
  step(st, "Embedding");
  w.embedding = read_matrix(st, "model.embed_tokens.weight", c.vocab_size, c.d_model);
  for (int i = 0; i < c.decoder_layers; i++) {
    step(st, "Layer " + of(i, c.decoder_layers));
    const std::string layer = "model.layers." + std::to_string(i) + ".";
    LayerWeights l;
    l.self_attn_norm = read_vector(st, layer + "input_layernorm.weight", c.d_model);
    l.self_attn = read_attention(st, c, layer + "self_attn.", "_proj.weight");
    read_attention_biases(st, c, layer + "self_attn.", l.self_attn);
    l.ffn_norm = read_vector(st, layer + "post_attention_layernorm.weight", c.d_model);
    l.ffn.gate = read_matrix(st, layer + "mlp.gate_proj.weight", c.d_ff, c.d_model);
    l.ffn.up = read_matrix(st, layer + "mlp.up_proj.weight", c.d_ff, c.d_model);
    l.ffn.down = read_matrix(st, layer + "mlp.down_proj.weight", c.d_model, c.d_ff);
    const char* mlp_key = c.model_type == "qwen2" ? "'model_type'" : "'mlp_bias'";
    const std::string mlp_setting = c.model_type == "qwen2" ? "'qwen2', whose MLP has no biases" : "false (or absent)";
    l.ffn.gate_bias = read_bias(st, layer + "mlp.gate_proj.bias", c.d_ff, c.mlp_bias, mlp_key, mlp_setting);
    l.ffn.up_bias = read_bias(st, layer + "mlp.up_proj.bias", c.d_ff, c.mlp_bias, mlp_key, mlp_setting);
    l.ffn.down_bias = read_bias(st, layer + "mlp.down_proj.bias", c.d_model, c.mlp_bias, mlp_key, mlp_setting);
    w.decoder.push_back(std::move(l));
  }
  w.decoder_norm = read_vector(st, "model.norm.weight", c.d_model);
}

Weights read_weights(const TensorReader& st, const ModelConfig& c) {
  Weights w;
  if (c.arch == Arch::EncoderDecoder) read_t5(st, c, w);
  else read_llama(st, c, w);
  step(st, "Output head");
  // A tied checkpoint may still carry a copy of lm_head; the embedding rules.
  if (!c.tied_embeddings) w.lm_head = read_matrix(st, "lm_head.weight", c.vocab_size, c.d_model);
  if (c.has_classifier()) {
    w.classifier = read_vector(st, c.classifier_weight, c.d_model);
    if (!c.classifier_bias.empty()) w.classifier_bias = st.read_f32(c.classifier_bias, {1})[0];
  }
  return w;
}

// The tokenizer must not produce ids the embedding lacks, and must end
// sequences with the token the model was trained to stop on.
void check_tokenizer(const Tokenizer& t, const ModelConfig& c, const std::string& tokenizer_path,
                     const std::string& config_path) {
  if (t.size() > c.vocab_size)
    throw Error(tokenizer_path + ": " + std::to_string(t.size()) + " pieces, more than vocab_size " +
                std::to_string(c.vocab_size) + " in " + config_path);
  if (t.eos_id() >= 0 && t.eos_id() != c.eos_id)
    throw Error(tokenizer_path + ": eos id " + std::to_string(t.eos_id()) + " differs from eos_token_id " +
                std::to_string(c.eos_id) + " in " + config_path);
}

std::string directory_name(const std::string& dir) {
  fs::path p = fs::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();  // "models/t5/" -> "models/t5"
  if (p.filename() == "." || p.filename().empty()) p = fs::absolute(p).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

int64_t count(const WeightMatrix& m) { return m.size(); }
int64_t count(const Matrix& m) { return m.size(); }
int64_t count(const Vector& v) { return v.size(); }
int64_t count(const AttentionWeights& a) {
  return count(a.q) + count(a.k) + count(a.v) + count(a.o) + count(a.q_bias) + count(a.k_bias) + count(a.v_bias) +
         count(a.o_bias);
}
int64_t count(const FeedForwardWeights& f) {
  return count(f.gate) + count(f.up) + count(f.down) + count(f.gate_bias) + count(f.up_bias) + count(f.down_bias);
}
int64_t count(const LayerWeights& l) {
  return count(l.self_attn_norm) + count(l.self_attn) + count(l.cross_attn_norm) + count(l.cross_attn) +
         count(l.ffn_norm) + count(l.ffn);
}

}  // namespace

int64_t Model::parameter_count() const {
  const Weights& w = weights;
  int64_t n = count(w.embedding) + count(w.lm_head) + count(w.encoder_norm) + count(w.encoder_relative_bias) +
              count(w.decoder_norm) + count(w.decoder_relative_bias) + count(w.classifier);
  if (!config.classifier_bias.empty()) n += 1;
  for (const LayerWeights& l : w.encoder) n += count(l);
  for (const LayerWeights& l : w.decoder) n += count(l);
  return n;
}

std::optional<WeightType> parse_weight_type(const std::string& name) {
  if (name == "auto") return std::nullopt;
  if (name == "f32") return WeightType::F32;
  if (name == "f16") return WeightType::F16;
  if (name == "bf16") return WeightType::BF16;
  if (name == "q8") return WeightType::Q8;
  throw Error("--weights '" + name + "' is not one of auto, f32, f16, bf16, q8");
}

Model load_model(const std::string& dir, const LoadOptions& options) {
  return load_model_reporting(dir, options, {}).model;
}

namespace {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
  }
  return "?";
}

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string variant_of(const ModelConfig& c) {
  std::vector<std::string> parts;
  if (c.arch == Arch::EncoderDecoder) {
    parts.push_back(c.feed_forward == FeedForward::GatedGelu ? "gated-gelu (T5 v1.1)" : "relu (original T5)");
  } else {
    if (c.biases_name() != "none") parts.push_back(c.biases_name() + " biases");
    if (c.num_kv_heads < c.num_heads) parts.push_back("grouped-query");
    switch (c.rope_scaling.type) {
      case RopeScalingType::None: break;
      case RopeScalingType::Linear: parts.push_back("rope linear"); break;
      case RopeScalingType::Dynamic: parts.push_back("rope dynamic"); break;
      case RopeScalingType::Llama3: parts.push_back("rope llama3"); break;
    }
  }
  parts.push_back(c.tied_embeddings ? "tied head" : "untied head");
  std::string s = c.model_type + ":";
  for (size_t i = 0; i < parts.size(); ++i) s += (i ? ", " : " ") + parts[i];
  return s;
}

// config.json's _name_or_path (the repository it was saved from), or "".
std::string name_or_path(const std::string& config_path) {
  try {
    const nlohmann::json j = read_json_file(config_path, {"a config.json", 16u << 20, 1u << 20});
    if (j.is_object() && j.contains("_name_or_path") && j["_name_or_path"].is_string())
      return j["_name_or_path"].get<std::string>();
  } catch (const Error&) {
  }
  return {};
}

ModelInfo describe(const Model& m, const Checkpoint& checkpoint, const std::string& config_path) {
  const ModelConfig& c = m.config;
  ModelInfo info;
  info.model_type = c.model_type;
  info.variant = variant_of(c);
  std::set<DType> stored;
  for (const auto& file : checkpoint.files())
    for (const auto& [name, tensor] : file->tensors()) stored.insert(tensor.dtype);
  for (DType t : stored) info.stored_types += (info.stored_types.empty() ? "" : " + ") + std::string(dtype_name(t));
  info.weights_type = weight_type_name(m.weights.embedding.type);
  info.weight_bytes = m.weights.matrix_bytes();
  info.tokenizer = m.tokenizer.kind();
  info.decoder_layers = c.decoder_layers;
  info.encoder_layers = c.encoder_layers;
  info.parameters = m.parameter_count();
  if (c.has_classifier()) {
    info.trained_for_exits = true;
    info.exit_training = "trained for early exit (CALM recipe: per-layer loss and an early-exit classifier)";
  } else if (lower(m.name).find("layerskip") != std::string::npos ||
             lower(name_or_path(config_path)).find("layerskip") != std::string::npos) {
    info.trained_for_exits = true;
    info.exit_training = "trained for early exit (LayerSkip)";
  } else {
    info.exit_training = "not trained for early exit: intermediate exits may be poor until calibrated";
  }
  return info;
}

}  // namespace

LoadedModel load_model_reporting(const std::string& dir, const LoadOptions& options,
                                 const LoadProgressCallback& progress) {
  Reporter report(progress, dir);
  report(0.0, "Reading config.json");
  const fs::path root(dir);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw Error(dir + ": model directory missing or not a directory");
  const std::string config_path = (root / "config.json").string();
  if (!fs::is_regular_file(config_path, ec)) throw Error(config_path + ": missing from the model directory");

  LoadedModel loaded;
  Model& m = loaded.model;
  m.dir = dir;
  m.name = directory_name(dir);
  m.config = load_config(config_path);
  report(0.0, "Reading the tokenizer");
  const std::string tokenizer_path = m.tokenizer.load_directory(dir);  // tokenizer.json before tokenizer.model
  check_tokenizer(m.tokenizer, m.config, tokenizer_path, config_path);
  // Mapping the files reads only their headers (5% of the bar); copying every
  // tensor out of them, or converting it, reads them from disk (the rest).
  const Checkpoint checkpoint(dir, [&](const std::string& path, int index, int count) {
    report(0.05 * index / count, "Mapping " + fs::path(path).filename().string() + " (" + of(index, count) + ")");
  });
  check_layer_count(checkpoint, m.config, config_path);
  const int steps = m.config.encoder_layers + m.config.decoder_layers + 2;
  int done = 0;
  const std::string verb = options.weights ? std::string("Converting to ") + weight_type_name(*options.weights) + ": "
                                           : std::string("Copying: ");
  // Every core for the load: it happens once, before any decoder starts.
  ThreadPool pool(hardware_threads());
  TensorReader reader{checkpoint, options.weights, &pool, config_path,
                      [&](const std::string& stage) { report(0.05 + 0.95 * done++ / steps, verb + stage); }};
  m.weights = read_weights(reader, m.config);
  loaded.info = describe(m, checkpoint, config_path);
  report(1.0, "Loaded");
  return loaded;
}

}  // namespace calm
