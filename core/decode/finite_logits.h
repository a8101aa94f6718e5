// A token chosen from NaN or infinite logits is meaningless, and a run that
// goes on with it gets certified as if nothing happened (an empty output has
// loss 0 against an empty full output). Weights that are finite but huge
// (3e38) overflow float32 on the way to the logits, so the check is on what
// the model computed, not on what it read.
#pragma once

#include <string>

#include "nn/ops.h"

namespace calm {

// Throws calm::Error naming the model and the decoder layer when `logits` hold
// a NaN or an infinity. `layer` is 1-based.
void require_finite_logits(const Vector& logits, int layer, const std::string& model_dir);

}  // namespace calm
