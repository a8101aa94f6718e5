#include "decode/prompt.h"

#include "nn/forward.h"
#include "util/error.h"

namespace calm::decode {

void fit_prompt(const Model& model, int max_positions, const DecodeOptions& o, std::vector<int>& ids,
                DecodeResult& result) {
  const ModelConfig& c = model.config;
  const bool t5 = c.arch == Arch::EncoderDecoder;
  if (ids.empty()) throw Error("the prompt is empty: type some text to continue or translate");
  for (int id : ids)
    if (id < 0 || id >= c.vocab_size)
      throw Error("prompt token id " + std::to_string(id) + " is outside the vocabulary of " + model.dir);
  // T5 has separate input and output positions, Llama shares them.
  const int output_room = t5 ? max_positions : max_positions - o.max_new_tokens;
  if (o.max_new_tokens > max_positions || output_room < 1)
    throw Error("max new tokens " + std::to_string(o.max_new_tokens) + " exceeds the model's context of " +
                std::to_string(max_positions) + " positions");
  if (static_cast<int>(ids.size()) > output_room) {
    if (!o.truncate_prompt)
      throw Error("the prompt has " + std::to_string(ids.size()) + " tokens but only " + std::to_string(output_room) +
                  " fit in the model's context of " + std::to_string(max_positions) + " positions" +
                  (t5 ? "" : " with " + std::to_string(o.max_new_tokens) + " new tokens") +
                  "; shorten it or allow truncation");
    if (t5) {  // keep the beginning, end with eos
      ids.resize(output_room);
      if (c.eos_id >= 0) ids.back() = c.eos_id;
    } else {   // keep bos and the most recent text
      const int keep = output_room - (c.bos_id >= 0 ? 1 : 0);
      std::vector<int> kept;
      if (c.bos_id >= 0) kept.push_back(c.bos_id);
      kept.insert(kept.end(), ids.end() - keep, ids.end());
      ids = std::move(kept);
    }
    result.prompt_truncated = true;
  }
  result.prompt_ids = ids;
}

int run_prompt(const Model& model, RunState& state, const std::vector<int>& ids, int& next_input) {
  const ModelConfig& c = model.config;
  if (c.arch == Arch::EncoderDecoder) {
    encode(model, state, ids);
    next_input = c.decoder_start_id;
    return 0;
  }
  const int n = static_cast<int>(ids.size()) - 1;
  if (n > 0) {
    Matrix hidden;
    embed_rows(model, std::vector<int>(ids.begin(), ids.end() - 1), hidden);
    std::vector<int> positions(n);
    for (int p = 0; p < n; ++p) positions[p] = p;
    for (int l = 0; l < c.decoder_layers; ++l) decoder_layer_rows(model, state, l, positions, hidden);
  }
  next_input = ids.back();
  return n;
}

}  // namespace calm::decode
