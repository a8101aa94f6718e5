#include "decode/analysis.h"

#include "decode/exit_decision.h"
#include "decode/finite_logits.h"

namespace calm::decode {

int analyse(const Model& model, const DecodeOptions& o, const CostModel& cost, int position, int exit_layer,
            Work& w, TokenTrace& token, DecodeResult& r) {
  const ModelConfig& c = model.config;
  const int L = c.decoder_layers;
  const bool oracle = o.policy == ExitPolicy::Oracle;
  token.confidence.assign(L, kNotMeasured);
  token.top.assign(L, {});
  std::vector<int> layer_argmax(L);
  w.trace_hidden.resize(L, c.d_model);
  for (int i = 1; i <= L; ++i) w.trace_hidden.row(i - 1) = w.layer_hidden[i].transpose();
  exit_logits_rows(model, w.trace_hidden, w.trace_normed, w.trace_logits);  // all layers in one product
  for (int i = 1; i <= L; ++i) {
    w.scratch = w.trace_logits.row(i - 1).transpose();
    if (oracle) require_finite_logits(w.scratch, i, model.dir);  // the oracle's exit compares these argmaxes
    if (w.repetition.active()) w.repetition.apply(w.scratch);     // each layer as it would be emitted
    layer_argmax[i - 1] = argmax(w.scratch);
    if (!o.trace) continue;
    w.probabilities = w.scratch;
    softmax(w.probabilities.data(), c.vocab_size);
    if (o.measure != Measure::Classifier || c.has_classifier())
      token.confidence[i - 1] =
          confidence_at(model, o.measure, i, w.layer_hidden[i], w.layer_hidden[i - 1], w.probabilities);
    token.top[i - 1] = top_k(w.probabilities, o.trace_top_k);
  }
  if (oracle) {
    const int computed = exit_layer;
    exit_layer = L;
    for (int i = 1; i <= L; ++i)
      if (layer_argmax[i - 1] == layer_argmax[L - 1]) {
        exit_layer = i;
        break;
      }
    r.flops = r.flops - cost.layer(position + 1) * (computed - exit_layer);
  }
  if (!o.trace) token.confidence.clear(), token.top.clear();
  return exit_layer;
}

}  // namespace calm::decode
