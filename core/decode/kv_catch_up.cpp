// Catch-up (in the manner of FREE, Bae et al. 2023): a position that exits
// waits in a queue with the layers it has; whenever a later position runs a
// layer that queued positions still lack, they ride along in one block, so the
// deep work is done in matrix-matrix products and the cache ends up exact.
#include <algorithm>

#include "decode/kv_strategy.h"

namespace calm::decode {

namespace {

class CatchUpKv : public KvStrategy {
 public:
  CatchUpKv(const Model& model, RunState& state, const CostModel& cost, int max_positions)
      : KvStrategy(model, state, cost) {
    pending_.reserve(max_positions);
    caught_up_.assign(max_positions, 0);
    pending_hidden_.resize(max_positions, model.config.d_model);
    block_positions_.reserve(max_positions);
    block_pending_.reserve(max_positions);
  }

  void run_layer(int layer, int position, Vector& hidden, DecodeResult& r) override {
    block_pending_.clear();
    for (size_t k = 0; k < pending_.size(); ++k)
      if (caught_up_[pending_[k]] == layer) block_pending_.push_back(static_cast<int>(k));
    if (block_pending_.empty()) {
      decoder_layer(model_, state_, layer, position, hidden);
      return;
    }
    const int n = static_cast<int>(block_pending_.size());
    Matrix block(n + 1, model_.config.d_model);
    block_positions_.clear();
    for (int k = 0; k < n; ++k) {
      const int p = pending_[block_pending_[k]];
      block.row(k) = pending_hidden_.row(p);
      block_positions_.push_back(p);
      r.flops += cost_.layer(p + 1);
    }
    block.row(n) = hidden.transpose();
    block_positions_.push_back(position);
    decoder_layer_rows(model_, state_, layer, block_positions_, block);
    for (int k = 0; k < n; ++k) {
      const int p = pending_[block_pending_[k]];
      pending_hidden_.row(p) = block.row(k);
      caught_up_[p] = layer + 1;
    }
    hidden = block.row(n).transpose();
  }

  // Positions now complete leave the queue; this one joins it if it exited.
  void after_exit(int position, int exit_layer, const Work& w, DecodeResult&, Laps&) override {
    const int L = model_.config.decoder_layers;
    std::erase_if(pending_, [&](int p) { return caught_up_[p] == L; });
    if (exit_layer < L) {
      pending_.push_back(position);
      caught_up_[position] = exit_layer;
      pending_hidden_.row(position) = w.layer_hidden[exit_layer].transpose();
    }
  }

 private:
  std::vector<int> pending_;          // ascending positions whose layers above caught_up_ are not run yet
  std::vector<int> caught_up_;        // (positions) layers done per pending position
  Matrix pending_hidden_;             // (positions, d_model) state at caught_up_
  std::vector<int> block_positions_;
  std::vector<int> block_pending_;    // indices into pending_ of the block's rows
};

}  // namespace

std::unique_ptr<KvStrategy> make_exact_kv(const Model& model, RunState& state, const CostModel& cost);

std::unique_ptr<KvStrategy> make_kv_strategy(KvMode mode, bool analysis, const Model& model, RunState& state,
                                             const CostModel& cost, int max_positions) {
  switch (mode) {
    case KvMode::Propagate: return std::make_unique<PropagateKv>(model, state, cost);
    case KvMode::Exact: return make_exact_kv(model, state, cost);
    case KvMode::CatchUp:
      if (analysis) return make_exact_kv(model, state, cost);
      return std::make_unique<CatchUpKv>(model, state, cost, max_positions);
  }
  return std::make_unique<PropagateKv>(model, state, cost);
}

}  // namespace calm::decode
