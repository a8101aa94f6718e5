#include "decode/decoder.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <random>

#include "model/error.h"
#include "nn/forward.h"

namespace calm {

ExitPolicy parse_policy(const std::string& name) {
  if (name == "calm") return ExitPolicy::Calm;
  if (name == "full") return ExitPolicy::Full;
  if (name == "static") return ExitPolicy::Static;
  if (name == "oracle") return ExitPolicy::Oracle;
  throw Error("unknown exit policy '" + name + "' (expected calm, full, static or oracle)");
}

const char* policy_name(ExitPolicy policy) {
  switch (policy) {
    case ExitPolicy::Calm: return "calm";
    case ExitPolicy::Full: return "full";
    case ExitPolicy::Static: return "static";
    case ExitPolicy::Oracle: return "oracle";
  }
  return "?";
}

double DecodeResult::average_layers() const {
  if (exit_layers.empty()) return 0.0;
  double sum = 0.0;
  for (int layer : exit_layers) sum += layer;
  return sum / static_cast<double>(exit_layers.size());
}

namespace {

constexpr float kNotMeasured = std::numeric_limits<float>::quiet_NaN();

void check_options(const Model& model, const DecodeOptions& o) {
  const int layers = model.config.decoder_layers;
  if (o.measure == Measure::Classifier && !model.config.has_classifier() &&
      (o.policy == ExitPolicy::Calm || o.trace))
    throw Error(model.dir + ": the classifier measure needs an early-exit classifier head, and this model has none "
                "(config.json has no \"calm\" block); use softmax or state");
  if (o.policy == ExitPolicy::Static && (o.static_layer < 1 || o.static_layer > layers))
    throw Error("static exit layer " + std::to_string(o.static_layer) + " is outside 1.." + std::to_string(layers));
  if (o.first_exit_layer < 1) throw Error("the first exit layer must be at least 1");
  if (o.check_interval < 1) throw Error("the exit check interval must be at least 1");
  if (o.max_new_tokens < 0) throw Error("max new tokens must not be negative");
  if (!(o.lambda >= 0.0f) || !(o.tau >= 0.0f)) throw Error("lambda and tau must be non-negative numbers");
  if (o.temperature < 0.0f) throw Error("temperature must not be negative");
}

// The confidence of `measure` at one layer; `probabilities` must hold the
// layer's softmax when the measure needs it.
float confidence_at(const Model& model, Measure measure, int layer, const Vector& hidden, const Vector& previous,
                    const Vector& probabilities) {
  switch (measure) {
    case Measure::Softmax:
    case Measure::SoftmaxMax: return softmax_confidence(probabilities, measure);
    case Measure::State: return layer == 1 ? 0.0f : cosine_similarity(hidden, previous);  // undefined at layer 1
    case Measure::Classifier: return classifier_probability(model, hidden);
  }
  return 0.0f;
}

int sample(const Vector& logits, const DecodeOptions& o, std::mt19937_64& rng, Vector& scratch) {
  if (o.temperature <= 0.0f) return argmax(logits);
  scratch = logits / o.temperature;
  if (o.top_k > 0 && o.top_k < scratch.size()) {
    Vector sorted = scratch;
    std::nth_element(sorted.data(), sorted.data() + (o.top_k - 1), sorted.data() + sorted.size(), std::greater<float>());
    const float cutoff = sorted[o.top_k - 1];
    for (Eigen::Index i = 0; i < scratch.size(); ++i)
      if (scratch[i] < cutoff) scratch[i] = -std::numeric_limits<float>::infinity();
  }
  softmax(scratch.data(), static_cast<int>(scratch.size()));
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  double r = uniform(rng), cumulative = 0.0;
  for (Eigen::Index i = 0; i < scratch.size(); ++i) {
    cumulative += scratch[i];
    if (r < cumulative) return static_cast<int>(i);
  }
  return argmax(scratch);
}

}  // namespace

Decoder::Decoder(const Model& model) : model_(model), state_(model.config) {}

std::vector<int> Decoder::prompt_ids(const std::string& prompt) const {
  std::vector<int> text = model_.tokenizer.encode(prompt);
  if (text.empty()) throw Error("the prompt is empty: type some text to continue or translate");
  const ModelConfig& c = model_.config;
  std::vector<int> ids;
  if (c.arch == Arch::DecoderOnly && c.bos_id >= 0) ids.push_back(c.bos_id);
  ids.insert(ids.end(), text.begin(), text.end());
  if (c.arch == Arch::EncoderDecoder && c.eos_id >= 0) ids.push_back(c.eos_id);
  return ids;
}

DecodeResult Decoder::generate(const std::string& prompt, const DecodeOptions& options, const TokenCallback& on_token) {
  return generate_ids(prompt_ids(prompt), options, on_token);
}

DecodeResult Decoder::generate_ids(std::vector<int> ids, const DecodeOptions& o, const TokenCallback& on_token) {
  const ModelConfig& c = model_.config;
  const int L = c.decoder_layers;
  const int max_positions = state_.max_positions;
  const bool t5 = c.arch == Arch::EncoderDecoder;
  check_options(model_, o);
  if (ids.empty()) throw Error("the prompt is empty: type some text to continue or translate");
  for (int id : ids)
    if (id < 0 || id >= c.vocab_size)
      throw Error("prompt token id " + std::to_string(id) + " is outside the vocabulary of " + model_.dir);

  DecodeResult result;
  result.num_layers = L;
  // Fit the context: T5 has separate input and output positions, Llama shares them.
  const int output_room = t5 ? max_positions : max_positions - o.max_new_tokens;
  if (o.max_new_tokens > max_positions || output_room < 1)
    throw Error("max new tokens " + std::to_string(o.max_new_tokens) + " exceeds the model's context of " +
                std::to_string(max_positions) + " positions");
  if (static_cast<int>(ids.size()) > output_room) {
    if (!o.truncate_prompt)
      throw Error("the prompt has " + std::to_string(ids.size()) + " tokens but only " + std::to_string(output_room) +
                  " fit in the model's context of " + std::to_string(max_positions) + " positions" +
                  (t5 ? "" : " with " + std::to_string(o.max_new_tokens) + " new tokens") +
                  "; shorten it or allow truncation");
    if (t5) {  // keep the beginning, end with eos
      ids.resize(output_room);
      if (c.eos_id >= 0) ids.back() = c.eos_id;
    } else {   // keep bos and the most recent text
      const int keep = output_room - (c.bos_id >= 0 ? 1 : 0);
      std::vector<int> kept;
      if (c.bos_id >= 0) kept.push_back(c.bos_id);
      kept.insert(kept.end(), ids.end() - keep, ids.end());
      ids = std::move(kept);
    }
    result.prompt_truncated = true;
  }
  result.prompt_ids = ids;

  const auto start = std::chrono::steady_clock::now();
  std::mt19937_64 rng(o.seed);
  Vector hidden(c.d_model), logits(c.vocab_size), probabilities(c.vocab_size), scratch(c.vocab_size);
  std::vector<Vector> layer_hidden(L + 1, Vector::Zero(c.d_model));  // index 0: the embedding

  int position = 0;
  int next_input = 0;
  if (t5) {
    encode(model_, state_, ids);
    next_input = c.decoder_start_id;
  } else {
    for (int p = 0; p + 1 < static_cast<int>(ids.size()); ++p) {  // prefill: full depth, no exits
      embed(model_, ids[p], hidden);
      for (int l = 0; l < L; ++l) decoder_layer(model_, state_, l, p, hidden);
    }
    position = static_cast<int>(ids.size()) - 1;
    next_input = ids.back();
  }
  const CostModel cost(c, state_.source_length);
  const bool calm_exits = o.policy == ExitPolicy::Calm && !never_exits(o.lambda);
  const bool run_all = o.trace || o.policy == ExitPolicy::Oracle || o.kv_mode == KvMode::Exact;

  for (int t = 0; t < o.max_new_tokens; ++t, ++position) {
    TokenTrace token;
    token.position = t;
    token.threshold = calm_exits ? threshold_at(o.lambda, o.tau, t, o.max_new_tokens) : 1.0f;
    token.exit_confidence = kNotMeasured;
    embed(model_, next_input, hidden);
    layer_hidden[0] = hidden;

    // Layers until the exit rule fires.
    int exit_layer = L;
    int logits_layer = 0;  // the layer whose exit logits `logits` holds
    for (int i = 1; i <= L; ++i) {
      decoder_layer(model_, state_, i - 1, position, hidden);
      layer_hidden[i] = hidden;
      result.flops += cost.layer(position + 1);
      if (i == L) break;
      if (o.policy == ExitPolicy::Static && i == o.static_layer) {
        exit_layer = i;
        break;
      }
      if (!calm_exits || i < o.first_exit_layer || (i - o.first_exit_layer) % o.check_interval != 0) continue;
      if (measure_needs_logits(o.measure)) {
        exit_logits(model_, state_, hidden, logits);
        probabilities = logits;
        softmax(probabilities.data(), c.vocab_size);
        result.flops += cost.vocabulary;
        logits_layer = i;
      } else {
        result.flops += o.measure == Measure::State ? cost.state : cost.classifier;
      }
      const float confidence = confidence_at(model_, o.measure, i, hidden, layer_hidden[i - 1], probabilities);
      token.exit_confidence = confidence;
      if (confidence >= token.threshold) {
        exit_layer = i;
        break;
      }
    }

    // Analysis: the rest of the depth as the full model would see it here.
    // Its K/V writes are replaced below unless the cache is exact.
    const int computed = exit_layer;
    if (run_all) {
      Vector deep = layer_hidden[computed];
      for (int i = computed + 1; i <= L; ++i) {
        decoder_layer(model_, state_, i - 1, position, deep);
        layer_hidden[i] = deep;
      }
    }
    if (o.trace || o.policy == ExitPolicy::Oracle) {
      token.confidence.assign(L, kNotMeasured);
      token.top.assign(L, {});
      std::vector<int> layer_argmax(L);
      for (int i = 1; i <= L; ++i) {
        exit_logits(model_, state_, layer_hidden[i], scratch);
        layer_argmax[i - 1] = argmax(scratch);
        if (!o.trace) continue;
        probabilities = scratch;
        softmax(probabilities.data(), c.vocab_size);
        if (o.measure != Measure::Classifier || c.has_classifier())
          token.confidence[i - 1] = confidence_at(model_, o.measure, i, layer_hidden[i], layer_hidden[i - 1], probabilities);
        token.top[i - 1] = top_k(probabilities, o.trace_top_k);
      }
      if (o.policy == ExitPolicy::Oracle) {
        exit_layer = L;
        for (int i = 1; i <= L; ++i)
          if (layer_argmax[i - 1] == layer_argmax[L - 1]) {
            exit_layer = i;
            break;
          }
        result.flops = result.flops - cost.layer(position + 1) * (computed - exit_layer);
      }
      if (!o.trace) token.confidence.clear(), token.top.clear();
    }

    // The skipped layers' K/V for this position.
    if (exit_layer < L) {
      if (o.kv_mode == KvMode::Propagate) {
        propagate_kv(model_, state_, exit_layer, position, layer_hidden[exit_layer]);
        result.flops += cost.propagation * (L - exit_layer);
      } else {
        result.flops += cost.layer(position + 1) * (L - exit_layer);
      }
    }

    // The token from the exit layer's prediction.
    if (logits_layer != exit_layer) {
      exit_logits(model_, state_, layer_hidden[exit_layer], logits);
      if (o.policy != ExitPolicy::Oracle) result.flops += cost.vocabulary;
    }
    if (o.policy == ExitPolicy::Oracle) result.flops += cost.vocabulary;
    if (o.policy == ExitPolicy::Oracle || o.policy == ExitPolicy::Static) token.exit_confidence = kNotMeasured;
    token.token = sample(logits, o, rng, scratch);
    token.exit_layer = exit_layer;
    result.full_flops += cost.layer(position + 1) * L + cost.vocabulary;

    result.tokens.push_back(token.token);
    result.exit_layers.push_back(exit_layer);
    const bool keep_going = !on_token || on_token(token);
    result.trace.push_back(std::move(token));
    if (result.tokens.back() == c.eos_id) {
      result.stopped_at_eos = true;
      break;
    }
    if (!keep_going) {
      result.cancelled = true;
      break;
    }
    next_input = result.tokens.back();
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<int> text_ids = result.tokens;
  if (result.stopped_at_eos) text_ids.pop_back();
  result.text = model_.tokenizer.decode(text_ids);
  return result;
}

std::vector<Matrix> Decoder::layer_logits(const std::vector<int>& encoder_ids, const std::vector<int>& decoder_ids,
                                          std::vector<Matrix>* layer_hidden) {
  const ModelConfig& c = model_.config;
  if (c.arch == Arch::EncoderDecoder) {
    encode(model_, state_, encoder_ids);
  } else if (!encoder_ids.empty()) {
    throw Error("layer_logits: a decoder-only model takes no encoder input");
  }
  const int n = static_cast<int>(decoder_ids.size());
  if (n > state_.max_positions) throw Error("layer_logits: sequence longer than the model's context");
  std::vector<Matrix> out(c.decoder_layers, Matrix(n, c.vocab_size));
  if (layer_hidden) layer_hidden->assign(c.decoder_layers, Matrix(n, c.d_model));
  Vector hidden(c.d_model), logits(c.vocab_size);
  for (int p = 0; p < n; ++p) {
    embed(model_, decoder_ids[p], hidden);
    for (int l = 0; l < c.decoder_layers; ++l) {
      decoder_layer(model_, state_, l, p, hidden);
      if (layer_hidden) (*layer_hidden)[l].row(p) = hidden.transpose();
      exit_logits(model_, state_, hidden, logits);
      out[l].row(p) = logits.transpose();
    }
  }
  return out;
}

}  // namespace calm
