// The analysis pass over one position (a trace or the local oracle): every
// layer's prediction as the full depth sees it given the decoded past (its
// logits after the repetition remedies, as it would be emitted). Runs
// after complete_depth, outside the walk up the layers, so decoding without
// analysis pays nothing for it.
#pragma once

#include "decode/step.h"

namespace calm::decode {

// With options.trace, fills token.confidence and token.top for layers 1..L;
// with the oracle policy, returns the local oracle's exit (the first layer
// whose argmax equals the top layer's) and takes back the FLOPs of the layers
// above it; otherwise returns `exit_layer`.
int analyse(const Model& model, const DecodeOptions& options, const CostModel& cost, int position, int exit_layer,
            Work& w, TokenTrace& token, DecodeResult& r);

}  // namespace calm::decode
