// What the layers a position skipped get in their K/V caches (Schuster et al.
// 2022, state propagation: later positions attend to every layer of every earlier
// one). One strategy per KvMode, each in its own file:
//   kv_propagate.cpp  the exit state copied up, each skipped layer computing
//                     its own K/V from it (the paper's choice);
//   kv_exact.cpp      the skipped layers run for real at once (analysis only);
//   kv_catch_up.cpp   the skipped layers run for real later, batched with the
//                     next position that goes deeper (in the manner of FREE).
#pragma once

#include <memory>

#include "decode/step.h"

namespace calm::decode {

class KvStrategy {
 public:
  KvStrategy(const Model& model, RunState& state, const CostModel& cost) : model_(model), state_(state), cost_(cost) {}
  virtual ~KvStrategy() = default;

  // Whether the layers above each exit must run for real before after_exit.
  virtual bool needs_full_depth() const { return false; }
  // Runs decoder layer `layer` (0-based) for `position`, whose state is `hidden`.
  virtual void run_layer(int layer, int position, Vector& hidden, DecodeResult& r) {
    (void)r;
    decoder_layer(model_, state_, layer, position, hidden);
  }
  // After `position` left at `exit_layer` (1-based; L when it ran the whole
  // depth) with its states in w.layer_hidden: the skipped layers' K/V.
  virtual void after_exit(int position, int exit_layer, const Work& w, DecodeResult& r, Laps& laps) = 0;

 protected:
  const Model& model_;
  RunState& state_;
  const CostModel& cost_;
};

// The strategy for `mode`. With `analysis` (a trace or the oracle, which run
// the full depth anyway) catch-up has nothing left to defer and is exact.
std::unique_ptr<KvStrategy> make_kv_strategy(KvMode mode, bool analysis, const Model& model, RunState& state,
                                             const CostModel& cost, int max_positions);

// The layers above `computed` run for real at `position`, as the full depth
// sees them given the decoded past (writing their K/V): w.layer_hidden
// completed to the top. The exact cache's work, and the analysis pass's input.
void complete_depth(const Model& model, RunState& state, int position, int computed, Work& w);

class PropagateKv : public KvStrategy {
 public:
  using KvStrategy::KvStrategy;
  void after_exit(int position, int exit_layer, const Work& w, DecodeResult& r, Laps& laps) override;
};

}  // namespace calm::decode
