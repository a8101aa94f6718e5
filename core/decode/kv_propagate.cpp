// State propagation (the paper's choice): the exit state is copied into every
// skipped layer, and each computes its own key and value from it (its own
// input norm and K/V projections), all in one pass over the layers.
#include "decode/kv_strategy.h"

namespace calm::decode {

void PropagateKv::after_exit(int position, int exit_layer, const Work& w, DecodeResult& r, Laps& laps) {
  const int L = model_.config.decoder_layers;
  if (exit_layer >= L) return;
  propagate_kv(model_, state_, exit_layer, position, w.layer_hidden[exit_layer]);
  r.flops += cost_.propagation * (L - exit_layer);
  laps.lap(r.profile.propagation);
}

}  // namespace calm::decode
