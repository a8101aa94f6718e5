#include "decode/exit_decision.h"

namespace calm::decode {

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

ExitDecision::ExitDecision(const Model& model, RunState& state, const DecodeOptions& options, const CostModel& cost)
    : model_(model), state_(state), o_(options), cost_(cost), calm_exits_(options.calm_exits()),
      gated_(options.gate != Gate::None && measure_needs_logits(options.measure)),
      gate_threshold_(static_cast<float>(options.gate_threshold)) {}

int ExitDecision::static_exit(int t) const {
  if (o_.policy != ExitPolicy::Static) return 0;
  return t < static_cast<int>(o_.exit_schedule.size()) ? o_.exit_schedule[t] : o_.static_layer;
}

bool ExitDecision::exits(int i, int static_exit, float threshold, Work& w, LayerRun& run, DecodeResult& r,
                         Laps& laps) const {
  if (i == static_exit) return true;
  if (!calm_exits_ || i < o_.first_exit_layer || (i - o_.first_exit_layer) % o_.check_interval != 0) return false;
  if (gated_) {  // the cheap test first: most layers stop here
    const Measure gate = o_.gate == Gate::State ? Measure::State : Measure::Classifier;
    const float g = confidence_at(model_, gate, i, w.hidden, w.layer_hidden[i - 1], w.probabilities);
    r.flops += o_.gate == Gate::State ? cost_.state : cost_.classifier;
    laps.lap(r.profile.confidence);
    if (g < gate_threshold_) return false;
  }
  if (measure_needs_logits(o_.measure)) {
    exit_prediction(model_, state_, w.hidden, i, w);
    r.flops += cost_.vocabulary;
    run.logits_layer = i;
    laps.lap(r.profile.vocabulary);
    run.confidence = softmax_confidence_from_logits(w.logits, o_.measure);
  } else {
    r.flops += o_.measure == Measure::State ? cost_.state : cost_.classifier;
    run.confidence = confidence_at(model_, o_.measure, i, w.hidden, w.layer_hidden[i - 1], w.probabilities);
  }
  laps.lap(r.profile.confidence);
  if (run.confidence >= threshold) return true;
  if (!(run.best_below >= run.confidence)) run.best_below = run.confidence;
  return false;
}

}  // namespace calm::decode
