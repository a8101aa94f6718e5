#include "nn/forward.h"

#include <cmath>

#include "util/error.h"
#include "nn/ops.h"

namespace calm {
namespace {

// hidden += W_down * act(W_gate * x, W_up * x) for the three feed-forward kinds.
void feed_forward(const ModelConfig& c, const FeedForwardWeights& w, RunState& s, Vector& hidden) {
  s.ff_up.noalias() = w.up * s.normed;
  switch (c.feed_forward) {
    case FeedForward::Relu:
      s.ff_up = s.ff_up.cwiseMax(0.0f);
      break;
    case FeedForward::GatedGelu:
      s.ff_gate.noalias() = w.gate * s.normed;
      s.ff_up = s.ff_up.cwiseProduct(s.ff_gate.unaryExpr([](float x) { return gelu_tanh(x); }));
      break;
    case FeedForward::SwiGlu:
      s.ff_gate.noalias() = w.gate * s.normed;
      s.ff_up = s.ff_up.cwiseProduct(s.ff_gate.unaryExpr([](float x) { return silu(x); }));
      break;
  }
  hidden.noalias() += w.down * s.ff_up;
}

// One query (all heads, in s.query) over `n` cached keys/values; result in
// s.attention. `bias` (nullable) gives T5's relative position bias per key.
void attend(const ModelConfig& c, RunState& s, const Matrix& keys, const Matrix& values, int n,
            float scale, const Matrix* bias_table, int position) {
  const int hd = c.head_dim;
  const int group = c.num_heads / c.num_kv_heads;  // query heads per K/V head
  for (int h = 0; h < c.num_heads; ++h) {
    const int g = h / group;
    Eigen::Map<const Vector> q(s.query.data() + h * hd, hd);
    auto scores = s.scores.head(n);
    scores.noalias() = keys.block(0, g * hd, n, hd) * q;
    if (scale != 1.0f) scores *= scale;
    if (bias_table) {
      for (int j = 0; j < n; ++j) scores[j] += (*bias_table)(s.causal_bucket[position - j], h);
    }
    softmax(scores.data(), n);
    Eigen::Map<Vector> out(s.attention.data() + h * hd, hd);
    out.noalias() = values.block(0, g * hd, n, hd).transpose() * scores;
  }
}

// Encoder self-attention over a whole input (bidirectional buckets).
void encoder_attention(const ModelConfig& c, const AttentionWeights& w, const Matrix& bias_table,
                       const Matrix& normed, Matrix& hidden) {
  const int n = static_cast<int>(normed.rows());
  const int hd = c.head_dim;
  const Matrix q = normed * w.q.transpose();  // (n, q_dim)
  const Matrix k = normed * w.k.transpose();  // (n, kv_dim)
  const Matrix v = normed * w.v.transpose();  // (n, kv_dim)
  Matrix out(n, c.q_dim());
  Matrix scores(n, n);
  const int group = c.num_heads / c.num_kv_heads;
  for (int h = 0; h < c.num_heads; ++h) {
    const int g = h / group;
    scores.noalias() = q.middleCols(h * hd, hd) * k.middleCols(g * hd, hd).transpose();
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j)
        scores(i, j) += bias_table(relative_position_bucket(j - i, true, c.relative_buckets,
                                                            c.relative_max_distance), h);
      softmax(scores.row(i).data(), n);
    }
    out.middleCols(h * hd, hd).noalias() = scores * v.middleCols(g * hd, hd);
  }
  hidden.noalias() += out * w.o.transpose();
}

// hidden += the feed-forward of every row of `normed` (n, d_model), any kind.
void feed_forward_rows(const ModelConfig& c, const FeedForwardWeights& w, const Matrix& normed, Matrix& hidden) {
  Matrix up = normed * w.up.transpose();  // (n, d_ff)
  if (c.feed_forward == FeedForward::Relu) {
    up = up.cwiseMax(0.0f);
  } else {
    const Matrix gate = normed * w.gate.transpose();
    if (c.feed_forward == FeedForward::GatedGelu)
      up = up.cwiseProduct(gate.unaryExpr([](float x) { return gelu_tanh(x); }));
    else
      up = up.cwiseProduct(gate.unaryExpr([](float x) { return silu(x); }));
  }
  hidden.noalias() += up * w.down.transpose();
}

}  // namespace

void encode(const Model& model, RunState& state, const std::vector<int>& ids, Matrix* encoder_output) {
  const ModelConfig& c = model.config;
  const Weights& w = model.weights;
  if (c.arch != Arch::EncoderDecoder) throw Error(model.dir + ": encode() called on a decoder-only model");
  const int n = static_cast<int>(ids.size());
  if (n > state.max_positions)
    throw Error(model.dir + ": input of " + std::to_string(n) + " tokens exceeds the model's " +
                std::to_string(state.max_positions) + " positions");
  Matrix hidden(n, c.d_model);
  for (int i = 0; i < n; ++i) hidden.row(i) = w.embedding.row(ids[i]);
  Matrix normed;
  for (const LayerWeights& layer : w.encoder) {
    rms_norm_rows(hidden, layer.self_attn_norm, c.norm_eps, normed);
    encoder_attention(c, layer.self_attn, w.encoder_relative_bias, normed, hidden);
    rms_norm_rows(hidden, layer.ffn_norm, c.norm_eps, normed);
    feed_forward_rows(c, layer.ffn, normed, hidden);
  }
  rms_norm_rows(hidden, w.encoder_norm, c.norm_eps, normed);
  for (int l = 0; l < c.decoder_layers; ++l) {
    const AttentionWeights& cross = w.decoder[l].cross_attn;
    state.cross_key[l].topRows(n).noalias() = normed * cross.k.transpose();
    state.cross_value[l].topRows(n).noalias() = normed * cross.v.transpose();
  }
  state.source_length = n;
  if (encoder_output) *encoder_output = normed;
}

void embed(const Model& model, int token, Vector& hidden) {
  hidden = model.weights.embedding.row(token).transpose();
}

void decoder_layer(const Model& model, RunState& s, int layer, int position, Vector& hidden) {
  const ModelConfig& c = model.config;
  const LayerWeights& w = model.weights.decoder[layer];
  const bool t5 = c.arch == Arch::EncoderDecoder;

  // Self-attention over positions 0..position, this position's K/V written first.
  rms_norm(hidden, w.self_attn_norm, c.norm_eps, s.normed);
  s.qkv.noalias() = w.self_qkv * s.normed;
  const int q_dim = c.q_dim(), kv = c.kv_dim();
  s.query = s.qkv.head(q_dim);
  auto key_row = s.key[layer].row(position);
  key_row = s.qkv.segment(q_dim, kv).transpose();
  s.value[layer].row(position) = s.qkv.segment(q_dim + kv, kv).transpose();
  if (!t5) {
    s.rotary.apply(s.query.data(), c.num_heads, position);
    s.rotary.apply(key_row.data(), c.num_kv_heads, position);
  }
  // T5 does not scale scores by 1/sqrt(head_dim): its initialisation absorbs it.
  const float scale = t5 ? 1.0f : 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  attend(c, s, s.key[layer], s.value[layer], position + 1, scale,
         t5 ? &model.weights.decoder_relative_bias : nullptr, position);
  hidden.noalias() += w.self_attn.o * s.attention;

  if (t5) {  // cross-attention over the encoder output, no position bias
    rms_norm(hidden, w.cross_attn_norm, c.norm_eps, s.normed);
    s.query.noalias() = w.cross_attn.q * s.normed;
    attend(c, s, s.cross_key[layer], s.cross_value[layer], s.source_length, 1.0f, nullptr, position);
    hidden.noalias() += w.cross_attn.o * s.attention;
  }

  rms_norm(hidden, w.ffn_norm, c.norm_eps, s.normed);
  feed_forward(c, w.ffn, s, hidden);
}

void decoder_layer_rows(const Model& model, RunState& s, int layer, const std::vector<int>& positions,
                        Matrix& hidden) {
  const ModelConfig& c = model.config;
  const LayerWeights& w = model.weights.decoder[layer];
  const bool t5 = c.arch == Arch::EncoderDecoder;
  const int n = static_cast<int>(positions.size());
  const int q_dim = c.q_dim(), kv = c.kv_dim();
  Matrix normed;
  Matrix attention(n, q_dim);

  // Every row's K/V first, so that later rows see earlier ones (causal).
  rms_norm_rows(hidden, w.self_attn_norm, c.norm_eps, normed);
  Matrix qkv = normed * w.self_qkv.transpose();  // (n, q_dim + 2 kv)
  for (int i = 0; i < n; ++i) {
    const int p = positions[i];
    auto key_row = s.key[layer].row(p);
    key_row = qkv.row(i).segment(q_dim, kv);
    s.value[layer].row(p) = qkv.row(i).segment(q_dim + kv, kv);
    if (!t5) {
      s.rotary.apply(qkv.row(i).data(), c.num_heads, p);
      s.rotary.apply(key_row.data(), c.num_kv_heads, p);
    }
  }
  const float scale = t5 ? 1.0f : 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  for (int i = 0; i < n; ++i) {
    s.query = qkv.row(i).head(q_dim).transpose();
    attend(c, s, s.key[layer], s.value[layer], positions[i] + 1, scale,
           t5 ? &model.weights.decoder_relative_bias : nullptr, positions[i]);
    attention.row(i) = s.attention.transpose();
  }
  hidden.noalias() += attention * w.self_attn.o.transpose();

  if (t5) {
    rms_norm_rows(hidden, w.cross_attn_norm, c.norm_eps, normed);
    const Matrix query = normed * w.cross_attn.q.transpose();
    for (int i = 0; i < n; ++i) {
      s.query = query.row(i).transpose();
      attend(c, s, s.cross_key[layer], s.cross_value[layer], s.source_length, 1.0f, nullptr, positions[i]);
      attention.row(i) = s.attention.transpose();
    }
    hidden.noalias() += attention * w.cross_attn.o.transpose();
  }

  rms_norm_rows(hidden, w.ffn_norm, c.norm_eps, normed);
  feed_forward_rows(c, w.ffn, normed, hidden);
}

void propagate_kv(const Model& model, RunState& s, int first_layer, int position, const Vector& hidden) {
  const ModelConfig& c = model.config;
  const int layers = c.decoder_layers - first_layer;
  if (layers <= 0) return;
  const int kv = c.kv_dim();
  // The RMS scale is shared; each layer's norm weight is folded into its rows.
  const float scale = 1.0f / std::sqrt(hidden.squaredNorm() / static_cast<float>(c.d_model) + c.norm_eps);
  auto out = s.propagated.head(static_cast<Eigen::Index>(layers) * 2 * kv);
  out.noalias() = model.weights.propagation_kv.bottomRows(out.size()) * (hidden * scale);
  for (int i = 0; i < layers; ++i) {
    const int layer = first_layer + i;
    auto key_row = s.key[layer].row(position);
    key_row = out.segment(static_cast<Eigen::Index>(i) * 2 * kv, kv).transpose();
    s.value[layer].row(position) = out.segment(static_cast<Eigen::Index>(i) * 2 * kv + kv, kv).transpose();
    if (c.arch == Arch::DecoderOnly) s.rotary.apply(key_row.data(), c.num_kv_heads, position);
  }
}

void exit_logits(const Model& model, RunState& s, const Vector& hidden, Vector& logits) {
  const ModelConfig& c = model.config;
  rms_norm(hidden, model.weights.decoder_norm, c.norm_eps, s.normed);
  if (c.arch == Arch::EncoderDecoder && c.tied_embeddings)
    s.normed *= 1.0f / std::sqrt(static_cast<float>(c.d_model));
  logits.noalias() = model.weights.output_projection() * s.normed;
}

void exit_logits_rows(const Model& model, const Matrix& hidden, Matrix& normed, Matrix& logits) {
  const ModelConfig& c = model.config;
  rms_norm_rows(hidden, model.weights.decoder_norm, c.norm_eps, normed);
  if (c.arch == Arch::EncoderDecoder && c.tied_embeddings) normed *= 1.0f / std::sqrt(static_cast<float>(c.d_model));
  logits.resize(hidden.rows(), c.vocab_size);
  logits.noalias() = normed * model.weights.output_projection().transpose();
}

float classifier_probability(const Model& model, const Vector& hidden) {
  const float z = model.weights.classifier.dot(hidden) + model.weights.classifier_bias;
  return 1.0f / (1.0f + std::exp(-z));
}

CostModel::CostModel(const ModelConfig& c, int source_length) {
  const double d = c.d_model, q = c.q_dim(), kv = c.kv_dim(), ff = c.d_ff;
  const double ff_matrices = c.feed_forward == FeedForward::Relu ? 2 : 3;
  layer_fixed = 2 * d * (q + 2 * kv) + 2 * q * d + ff_matrices * 2 * d * ff;
  layer_per_context = 2 * 2 * q;  // scores and weighted sum, per cached position
  if (c.arch == Arch::EncoderDecoder) {
    layer_fixed += 2 * d * q + 2 * q * d;  // cross-attention query and output projections
    layer_cross = 2 * 2 * q * source_length;
  }
  vocabulary = 2 * d * c.vocab_size;
  propagation = 2 * d * 2 * kv;
  classifier = 2 * d;
  state = 3 * 2 * d;
}

}  // namespace calm
