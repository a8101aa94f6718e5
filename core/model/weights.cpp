#include "model/weights.h"

namespace calm {

void derive_fused_weights(Weights& w) {
  if (w.decoder.empty()) return;
  const Eigen::Index d = w.decoder.front().self_attn.k.cols();
  const Eigen::Index kv = w.decoder.front().self_attn.k.rows();
  w.propagation_kv.resize(static_cast<Eigen::Index>(w.decoder.size()) * 2 * kv, d);
  for (size_t l = 0; l < w.decoder.size(); ++l) {
    LayerWeights& layer = w.decoder[l];
    const AttentionWeights& a = layer.self_attn;
    layer.self_qkv.resize(a.q.rows() + 2 * kv, d);
    layer.self_qkv << a.q, a.k, a.v;
    const Eigen::Index row = static_cast<Eigen::Index>(l) * 2 * kv;
    // W (g * x_hat) = (W diag(g)) x_hat: the norm weight g joins the matrix.
    w.propagation_kv.middleRows(row, kv) = a.k * layer.self_attn_norm.asDiagonal();
    w.propagation_kv.middleRows(row + kv, kv) = a.v * layer.self_attn_norm.asDiagonal();
  }
}

}  // namespace calm
