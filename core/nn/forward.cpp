#include "nn/forward.h"

#include <cmath>

#include "kernels/matvec.h"
#include "util/error.h"
#include "nn/ops.h"

namespace calm {
namespace {

// y = W x into a preallocated vector.
void project(const WeightMatrix& w, const Vector& x, Vector& y, ThreadPool* pool) {
  matvec(w, x.data(), y.data(), pool);
}

// y += b, when the model has the bias (an empty b: none).
void add_bias(float* y, const Vector& b) {
  if (b.size() != 0) Eigen::Map<Vector>(y, b.size()) += b;
}
// Every row of y (n, b.size()) += b^T.
void add_bias_rows(Matrix& y, const Vector& b) {
  if (b.size() != 0) y.rowwise() += b.transpose();
}

// Y (n, W.rows) = X (n, W.cols) W^T.
Matrix project_rows(const WeightMatrix& w, const Matrix& x, ThreadPool* pool) {
  Matrix y(x.rows(), w.rows);
  matmul_rows(w, x.data(), x.rows(), y.data(), pool);
  return y;
}

// up <- act(gate) * up for the gated kinds, max(0, up) for ReLU; element-wise
// over any shape.
template <class Up, class Gate>
void activate(FeedForward kind, Up& up, const Gate& gate) {
  switch (kind) {
    case FeedForward::Relu:
      up = up.cwiseMax(0.0f);
      break;
    case FeedForward::GatedGelu:
      up = up.cwiseProduct(gate.unaryExpr([](float x) { return gelu_tanh(x); }));
      break;
    case FeedForward::SwiGlu:
      up = up.cwiseProduct(gate.unaryExpr([](float x) { return silu(x); }));
      break;
  }
}

// hidden += W_down * act(W_gate * x, W_up * x) for the three feed-forward kinds.
void feed_forward(const ModelConfig& c, const FeedForwardWeights& w, RunState& s, Vector& hidden) {
  if (c.feed_forward == FeedForward::Relu) {
    project(w.up, s.normed, s.ff_up, s.pool);
  } else {
    const MatVecTask both[] = {{&w.gate, s.normed.data(), s.ff_gate.data()}, {&w.up, s.normed.data(), s.ff_up.data()}};
    matvec_batch(both, s.pool);
    add_bias(s.ff_gate.data(), w.gate_bias);
  }
  add_bias(s.ff_up.data(), w.up_bias);
  activate(c.feed_forward, s.ff_up, s.ff_gate);
  project(w.down, s.ff_up, s.projected, s.pool);
  add_bias(s.projected.data(), w.down_bias);
  hidden += s.projected;
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
                       const Matrix& normed, Matrix& hidden, ThreadPool* pool) {
  const int n = static_cast<int>(normed.rows());
  const int hd = c.head_dim;
  const Matrix q = project_rows(w.q, normed, pool);  // (n, q_dim)
  const Matrix k = project_rows(w.k, normed, pool);  // (n, kv_dim)
  const Matrix v = project_rows(w.v, normed, pool);  // (n, kv_dim)
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
  hidden += project_rows(w.o, out, pool);
}

// hidden += the feed-forward of every row of `normed` (n, d_model), any kind.
void feed_forward_rows(const ModelConfig& c, const FeedForwardWeights& w, const Matrix& normed, Matrix& hidden,
                       ThreadPool* pool) {
  Matrix up = project_rows(w.up, normed, pool);  // (n, d_ff)
  add_bias_rows(up, w.up_bias);
  Matrix gate;
  if (c.feed_forward != FeedForward::Relu) {
    gate = project_rows(w.gate, normed, pool);
    add_bias_rows(gate, w.gate_bias);
  }
  activate(c.feed_forward, up, gate);
  Matrix down = project_rows(w.down, up, pool);  // (n, d_model)
  add_bias_rows(down, w.down_bias);
  hidden += down;
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
  state.reserve_source(n);
  Matrix hidden;
  embed_rows(model, ids, hidden);
  Matrix normed;
  for (const LayerWeights& layer : w.encoder) {
    rms_norm_rows(hidden, layer.self_attn_norm, c.norm_eps, normed);
    encoder_attention(c, layer.self_attn, w.encoder_relative_bias, normed, hidden, state.pool);
    rms_norm_rows(hidden, layer.ffn_norm, c.norm_eps, normed);
    feed_forward_rows(c, layer.ffn, normed, hidden, state.pool);
  }
  rms_norm_rows(hidden, w.encoder_norm, c.norm_eps, normed);
  for (int l = 0; l < c.decoder_layers; ++l) {
    const AttentionWeights& cross = w.decoder[l].cross_attn;
    // The caches hold at least n rows, row-major: the products write straight into them.
    const MatVecTask kv[] = {{&cross.k, normed.data(), state.cross_key[l].data(), n},
                             {&cross.v, normed.data(), state.cross_value[l].data(), n}};
    matvec_batch(kv, state.pool);
  }
  state.source_length = n;
  if (encoder_output) *encoder_output = normed;
}

void embed(const Model& model, int token, Vector& hidden) {
  hidden.resize(model.config.d_model);
  model.weights.embedding.row_f32(token, hidden.data());
}

void embed_rows(const Model& model, const std::vector<int>& ids, Matrix& hidden) {
  hidden.resize(static_cast<Eigen::Index>(ids.size()), model.config.d_model);
  for (size_t i = 0; i < ids.size(); ++i) model.weights.embedding.row_f32(ids[i], hidden.row(Eigen::Index(i)).data());
}

void decoder_layer(const Model& model, RunState& s, int layer, int position, Vector& hidden) {
  const ModelConfig& c = model.config;
  const LayerWeights& w = model.weights.decoder[layer];
  const bool t5 = c.arch == Arch::EncoderDecoder;
  s.reserve(position + 1);

  // Self-attention over positions 0..position, this position's K/V written
  // first, straight into the cache rows.
  rms_norm(hidden, w.self_attn_norm, c.norm_eps, s.normed);
  float* key_row = s.key[layer].row(position).data();
  float* value_row = s.value[layer].row(position).data();
  const MatVecTask qkv[] = {{&w.self_attn.q, s.normed.data(), s.query.data()},
                            {&w.self_attn.k, s.normed.data(), key_row},
                            {&w.self_attn.v, s.normed.data(), value_row}};
  matvec_batch(qkv, s.pool);
  add_bias(s.query.data(), w.self_attn.q_bias);
  add_bias(key_row, w.self_attn.k_bias);
  add_bias(value_row, w.self_attn.v_bias);
  if (!t5) {
    s.rotary.apply(s.query.data(), c.num_heads, position);
    s.rotary.apply(key_row, c.num_kv_heads, position);
  }
  // T5 does not scale scores by 1/sqrt(head_dim): its initialisation absorbs it.
  const float scale = t5 ? 1.0f : 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  attend(c, s, s.key[layer], s.value[layer], position + 1, scale,
         t5 ? &model.weights.decoder_relative_bias : nullptr, position);
  project(w.self_attn.o, s.attention, s.projected, s.pool);
  add_bias(s.projected.data(), w.self_attn.o_bias);
  hidden += s.projected;

  if (t5) {  // cross-attention over the encoder output, no position bias
    rms_norm(hidden, w.cross_attn_norm, c.norm_eps, s.normed);
    project(w.cross_attn.q, s.normed, s.query, s.pool);
    attend(c, s, s.cross_key[layer], s.cross_value[layer], s.source_length, 1.0f, nullptr, position);
    project(w.cross_attn.o, s.attention, s.projected, s.pool);
    hidden += s.projected;
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
  if (n == 0) return;
  s.reserve(positions.back() + 1);
  const int q_dim = c.q_dim(), kv = c.kv_dim();
  Matrix normed;
  Matrix attention(n, q_dim);

  // Every row's K/V first, so that later rows see earlier ones (causal).
  rms_norm_rows(hidden, w.self_attn_norm, c.norm_eps, normed);
  Matrix query(n, q_dim), key(n, kv), value(n, kv);
  const MatVecTask qkv[] = {{&w.self_attn.q, normed.data(), query.data(), n},
                            {&w.self_attn.k, normed.data(), key.data(), n},
                            {&w.self_attn.v, normed.data(), value.data(), n}};
  matvec_batch(qkv, s.pool);
  add_bias_rows(query, w.self_attn.q_bias);
  add_bias_rows(key, w.self_attn.k_bias);
  add_bias_rows(value, w.self_attn.v_bias);
  for (int i = 0; i < n; ++i) {
    const int p = positions[i];
    auto key_row = s.key[layer].row(p);
    key_row = key.row(i);
    s.value[layer].row(p) = value.row(i);
    if (!t5) {
      s.rotary.apply(query.row(i).data(), c.num_heads, p);
      s.rotary.apply(key_row.data(), c.num_kv_heads, p);
    }
  }
  const float scale = t5 ? 1.0f : 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  for (int i = 0; i < n; ++i) {
    s.query = query.row(i).transpose();
    attend(c, s, s.key[layer], s.value[layer], positions[i] + 1, scale,
           t5 ? &model.weights.decoder_relative_bias : nullptr, positions[i]);
    attention.row(i) = s.attention.transpose();
  }
  Matrix out = project_rows(w.self_attn.o, attention, s.pool);  // (n, d_model)
  add_bias_rows(out, w.self_attn.o_bias);
  hidden += out;

  if (t5) {
    rms_norm_rows(hidden, w.cross_attn_norm, c.norm_eps, normed);
    const Matrix cross_query = project_rows(w.cross_attn.q, normed, s.pool);
    for (int i = 0; i < n; ++i) {
      s.query = cross_query.row(i).transpose();
      attend(c, s, s.cross_key[layer], s.cross_value[layer], s.source_length, 1.0f, nullptr, positions[i]);
      attention.row(i) = s.attention.transpose();
    }
    hidden += project_rows(w.cross_attn.o, attention, s.pool);
  }

  rms_norm_rows(hidden, w.ffn_norm, c.norm_eps, normed);
  feed_forward_rows(c, w.ffn, normed, hidden, s.pool);
}

void propagate_kv(const Model& model, RunState& s, int first_layer, int position, const Vector& hidden) {
  const ModelConfig& c = model.config;
  const int layers = c.decoder_layers - first_layer;
  if (layers <= 0) return;
  s.reserve(position + 1);
  // Every skipped layer sees the same copied state; only its input norm's
  // weight differs, so the RMS scale is computed once. All the K/V products
  // go to the pool together, straight into the cache rows.
  const float scale = 1.0f / std::sqrt(hidden.squaredNorm() / static_cast<float>(c.d_model) + c.norm_eps);
  s.tasks.clear();
  for (int i = 0; i < layers; ++i) {
    const int layer = first_layer + i;
    const LayerWeights& w = model.weights.decoder[layer];
    auto input = s.propagation_input.row(i);
    input = (hidden * scale).cwiseProduct(w.self_attn_norm).transpose();
    s.tasks.push_back({&w.self_attn.k, input.data(), s.key[layer].row(position).data()});
    s.tasks.push_back({&w.self_attn.v, input.data(), s.value[layer].row(position).data()});
  }
  matvec_batch(s.tasks, s.pool);
  for (int layer = first_layer; layer < c.decoder_layers; ++layer) {
    const AttentionWeights& a = model.weights.decoder[layer].self_attn;
    add_bias(s.key[layer].row(position).data(), a.k_bias);
    add_bias(s.value[layer].row(position).data(), a.v_bias);
    if (c.arch == Arch::DecoderOnly) s.rotary.apply(s.key[layer].row(position).data(), c.num_kv_heads, position);
  }
}

void exit_logits(const Model& model, RunState& s, const Vector& hidden, Vector& logits) {
  const ModelConfig& c = model.config;
  rms_norm(hidden, model.weights.decoder_norm, c.norm_eps, s.normed);
  if (c.arch == Arch::EncoderDecoder && c.tied_embeddings)
    s.normed *= 1.0f / std::sqrt(static_cast<float>(c.d_model));
  logits.resize(c.vocab_size);
  project(model.weights.output_projection(), s.normed, logits, s.pool);
}

void exit_logits_rows(const Model& model, const Matrix& hidden, Matrix& normed, Matrix& logits, ThreadPool* pool) {
  const ModelConfig& c = model.config;
  rms_norm_rows(hidden, model.weights.decoder_norm, c.norm_eps, normed);
  if (c.arch == Arch::EncoderDecoder && c.tied_embeddings) normed *= 1.0f / std::sqrt(static_cast<float>(c.d_model));
  logits.resize(hidden.rows(), c.vocab_size);
  matmul_rows(model.weights.output_projection(), normed.data(), normed.rows(), logits.data(), pool);
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
