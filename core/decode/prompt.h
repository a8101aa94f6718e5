// The prompt before the token loop: fitted into the context (or refused),
// then run (T5 encodes it; Llama runs it through every layer).
#pragma once

#include <vector>

#include "decode/decoder.h"

namespace calm::decode {

// Fits `ids` into the context of `max_positions` (or refuses with a message
// naming the sizes), recording it in `result`.
void fit_prompt(const Model& model, int max_positions, const DecodeOptions& options, std::vector<int>& ids,
                DecodeResult& result);

// Runs the prompt: T5 encodes it, Llama runs all but its last token through
// every layer in one block. Returns the first output position; `next_input`
// receives the first decoder input.
int run_prompt(const Model& model, RunState& state, const std::vector<int>& ids, int& next_input);

}  // namespace calm::decode
