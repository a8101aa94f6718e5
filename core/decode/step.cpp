#include "decode/step.h"

#include "decode/exit_decision.h"
#include "decode/finite_logits.h"
#include "decode/kv_strategy.h"

namespace calm::decode {

LayerRun walk_layers(const Model& model, KvStrategy& kv, const ExitDecision& decision, float threshold, int t,
                     int position, int input, const CostModel& cost, Work& w, DecodeResult& r, Laps& laps) {
  const int L = model.config.decoder_layers;
  const int static_exit = decision.static_exit(t);
  LayerRun run;
  run.exit_layer = L;
  embed(model, input, w.hidden);
  w.layer_hidden[0] = w.hidden;
  for (int i = 1; i <= L; ++i) {
    kv.run_layer(i - 1, position, w.hidden, r);
    w.layer_hidden[i] = w.hidden;
    r.flops += cost.layer(position + 1);
    laps.lap(r.profile.layers);
    if (i == L) break;
    if (decision.exits(i, static_exit, threshold, w, run, r, laps)) {
      run.exit_layer = i;
      break;
    }
  }
  return run;
}

std::vector<int> initial_sequence(const Model& model, const std::vector<int>& prompt_ids) {
  if (model.config.arch == Arch::EncoderDecoder) return {model.config.decoder_start_id};
  return prompt_ids;
}

void exit_prediction(const Model& model, RunState& state, const Vector& hidden, int layer, Work& w) {
  exit_logits(model, state, hidden, w.logits);
  require_finite_logits(w.logits, layer, model.dir);  // before the remedies, which write -infinity
  if (w.repetition.active()) w.repetition.apply(w.logits);
}

void emitted_logits(const Model& model, RunState& state, const LayerRun& run, Work& w, const CostModel& cost,
                    DecodeResult& r, Laps& laps) {
  if (run.logits_layer == run.exit_layer) return;  // the check's, already checked and processed
  exit_prediction(model, state, w.layer_hidden[run.exit_layer], run.exit_layer, w);
  r.flops += cost.vocabulary;
  laps.lap(r.profile.vocabulary);
}

bool emit(const Model& model, TokenTrace&& token, DecodeResult& r, const TokenCallback& on_token,
          bool ignore_eos) {
  r.tokens.push_back(token.token);
  r.exit_layers.push_back(token.exit_layer);
  const bool keep_going = !on_token || on_token(token);
  r.trace.push_back(std::move(token));
  if (model.config.is_eos(r.tokens.back()) && !ignore_eos) {
    r.stopped_at_eos = true;
    return false;
  }
  if (!keep_going) {
    r.cancelled = true;
    return false;
  }
  return true;
}

}  // namespace calm::decode
