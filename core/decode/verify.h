// Verify mode (lossless self-speculative decoding, as in LayerSkip, Elhoushi
// et al. 2024): drafts of up to k tokens by the exit rule, each checked by one
// batched pass of the drafted positions through the layers above the lowest
// exit; the output is the full model's greedy output.
#pragma once

#include "decode/step.h"

namespace calm::decode {

// Decodes from output position `position` (the first decoder input
// `next_input`, after the tokens r already holds) until max_new_tokens, the
// end of sequence or the callback stops it. `prompt_ids` as fed to the model:
// the start of the sequence the repetition remedies look at.
void verify_loop(const Model& model, RunState& state, const DecodeOptions& options,
                 const std::vector<int>& prompt_ids, int position, int next_input, const CostModel& cost,
                 const TokenCallback& on_token, DecodeResult& r, Laps& laps);

}  // namespace calm::decode
