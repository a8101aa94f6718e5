// Layers up to a draft's exit were run for real for every drafted position
// (each one below its own exit), so they are exact; the verification pass
// makes the rest exact, and its top-layer predictions are the full model's.
#include "decode/verify.h"

#include <algorithm>

#include "decode/exit_decision.h"
#include "decode/kv_strategy.h"

namespace calm::decode {

void verify_loop(const Model& model, RunState& state, const DecodeOptions& o, const std::vector<int>& prompt_ids,
                 int position, int next_input, const CostModel& cost, const TokenCallback& on_token, DecodeResult& r,
                 Laps& laps) {
  const ModelConfig& c = model.config;
  const int L = c.decoder_layers;
  const int k_max = o.verify_draft;
  const ExitDecision decision(model, state, o, cost);
  PropagateKv kv(model, state, cost);  // drafts propagate; the pass overwrites what it checks
  Work w(c, o, sequence_capacity(prompt_ids, o));
  // The sequence of the committed tokens; drafts extend it, and the
  // verification rewinds to it, so each drafted position's full-model
  // prediction is processed against the drafts before it, as the full model
  // would have been had it emitted them.
  RepetitionProcessor& seq = w.repetition;
  seq.reset(initial_sequence(model, prompt_ids));
  for (int token : r.tokens) seq.push(token);
  std::vector<Matrix> drafted_hidden(k_max, Matrix(L + 1, c.d_model));
  std::vector<int> drafts(k_max), exits(k_max), full(k_max), positions;
  positions.reserve(k_max);
  Matrix block;
  int t = 0;
  while (t < o.max_new_tokens) {
    // Draft.
    const int k_limit = std::min(k_max, o.max_new_tokens - t);
    int k = 0;
    int input = next_input;
    const int committed = seq.size();
    while (k < k_limit) {
      seq.prepare();
      const LayerRun run =
          walk_layers(model, kv, decision, decision.threshold(t + k), t + k, position + k, input, cost, w, r, laps);
      for (int i = 0; i <= run.exit_layer; ++i) drafted_hidden[k].row(i) = w.layer_hidden[i].transpose();
      kv.after_exit(position + k, run.exit_layer, w, r, laps);
      emitted_logits(model, state, run, w, cost, r, laps);
      drafts[k] = argmax(w.logits);
      exits[k] = run.exit_layer;
      laps.lap(r.profile.sampling);
      input = drafts[k++];
      seq.push(input);
      if (c.is_eos(input) && !o.ignore_eos) break;
    }
    // Verify: the drafted positions through the layers above the lowest exit.
    const int lowest = *std::min_element(exits.begin(), exits.begin() + k);
    if (lowest == L) {
      std::copy(drafts.begin(), drafts.begin() + k, full.begin());  // every draft ran the full depth exactly
    } else {
      block.resize(k, c.d_model);
      positions.clear();
      for (int j = 0; j < k; ++j) {
        block.row(j) = drafted_hidden[j].row(lowest);
        positions.push_back(position + j);
      }
      for (int l = lowest; l < L; ++l) decoder_layer_rows(model, state, l, positions, block);
      seq.truncate(committed);
      for (int j = 0; j < k; ++j) {
        w.hidden = block.row(j).transpose();
        seq.prepare();
        exit_prediction(model, state, w.hidden, L, w);
        full[j] = argmax(w.logits);
        seq.push(drafts[j]);
        r.flops += cost.layer(position + j + 1) * (L - lowest) + cost.vocabulary;
      }
      ++r.verify_passes;
      laps.lap(r.profile.verification);
    }
    // Accept the agreeing prefix, then the full model's token at the first disagreement.
    int accepted = 0;
    while (accepted < k && drafts[accepted] == full[accepted]) ++accepted;
    r.drafted += k;
    r.accepted += accepted;
    const int emitted = std::min(k, accepted + 1);
    seq.truncate(committed);
    for (int j = 0; j < emitted; ++j) seq.push(full[j]);
    for (int j = 0; j < emitted; ++j, ++t) {
      TokenTrace token;
      token.position = t;
      token.threshold = decision.threshold(t);
      token.exit_confidence = kNotMeasured;
      token.token = full[j];
      token.verified = j < accepted;
      token.exit_layer = token.verified ? exits[j] : L;
      if (!token.verified) token.rejected_drafts.assign(drafts.begin() + j, drafts.begin() + k);
      r.full_flops += cost.layer(position + j + 1) * L + cost.vocabulary;
      if (!emit(model, std::move(token), r, on_token, o.ignore_eos)) return;
    }
    position += emitted;
    next_input = r.tokens.back();
  }
}

}  // namespace calm::decode
