#include "model/weights.h"

namespace calm {

namespace {
int64_t bytes(const AttentionWeights& a) { return a.q.bytes() + a.k.bytes() + a.v.bytes() + a.o.bytes(); }
int64_t bytes(const LayerWeights& l) {
  return bytes(l.self_attn) + bytes(l.cross_attn) + l.ffn.gate.bytes() + l.ffn.up.bytes() + l.ffn.down.bytes();
}
}  // namespace

int64_t Weights::matrix_bytes() const {
  int64_t n = embedding.bytes() + lm_head.bytes();
  for (const LayerWeights& l : encoder) n += bytes(l);
  for (const LayerWeights& l : decoder) n += bytes(l);
  return n;
}

}  // namespace calm
