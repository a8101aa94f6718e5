// Choosing the token from the exit's logits: greedy (argmax) at temperature
// 0, otherwise a draw from the softmax at that temperature, over the top k.
#pragma once

#include <random>

#include "decode/decoder.h"

namespace calm::decode {

// `scratch` is working memory of the vocabulary's size.
int sample(const Vector& logits, const DecodeOptions& options, std::mt19937_64& rng, Vector& scratch);

}  // namespace calm::decode
