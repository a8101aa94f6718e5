// The exact cache: the skipped layers run for real at once, so every cache
// entry is what the full model would hold given the decoded past. Analysis
// only: it spends what the exit saved.
#include "decode/kv_strategy.h"

namespace calm::decode {

namespace {

class ExactKv : public KvStrategy {
 public:
  using KvStrategy::KvStrategy;
  bool needs_full_depth() const override { return true; }
  // complete_depth ran the layers; they are charged here.
  void after_exit(int position, int exit_layer, const Work&, DecodeResult& r, Laps&) override {
    const int L = model_.config.decoder_layers;
    if (exit_layer < L) r.flops += cost_.layer(position + 1) * (L - exit_layer);
  }
};

}  // namespace

std::unique_ptr<KvStrategy> make_exact_kv(const Model& model, RunState& state, const CostModel& cost) {
  return std::make_unique<ExactKv>(model, state, cost);
}

void complete_depth(const Model& model, RunState& state, int position, int computed, Work& w) {
  Vector deep = w.layer_hidden[computed];
  for (int i = computed + 1; i <= model.config.decoder_layers; ++i) {
    decoder_layer(model, state, i - 1, position, deep);
    w.layer_hidden[i] = deep;
  }
}

}  // namespace calm::decode
