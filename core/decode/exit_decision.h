// The exit decision after one layer (Schuster et al. 2022, CALM): whether
// the layer checks at all (from the first exit layer, every check interval),
// the gate a softmax measure must pass first, and the measure compared with
// the threshold schedule lambda_t; the static policy's fixed exit beside it.
#pragma once

#include "decode/step.h"

namespace calm::decode {

// The confidence of `measure` at one layer; `probabilities` must hold the
// layer's softmax when the measure needs it.
float confidence_at(const Model& model, Measure measure, int layer, const Vector& hidden, const Vector& previous,
                    const Vector& probabilities);

class ExitDecision {
 public:
  ExitDecision(const Model& model, RunState& state, const DecodeOptions& options, const CostModel& cost);

  // lambda_t in force at output position t (1 when the rule never exits).
  float threshold(int t) const { return calm_exits_ ? o_.threshold(t) : 1.0f; }
  // The static policy's exit layer at output position t (0: none).
  int static_exit(int t) const;

  // After layer `layer` (1-based, below the top) of a position whose states
  // are w.layer_hidden: true when it leaves here. A check records its
  // confidence in `run` (and the logits it computed in w.logits), charging
  // FLOPs and time.
  bool exits(int layer, int static_exit, float threshold, Work& w, LayerRun& run, DecodeResult& r,
             Laps& laps) const;

 private:
  const Model& model_;
  RunState& state_;
  const DecodeOptions& o_;
  const CostModel& cost_;
  bool calm_exits_;
  bool gated_;  // the gate applies: set, and the measure pays for the vocabulary projection
  float gate_threshold_;
};

}  // namespace calm::decode
