// Confidence measures and the decaying threshold of CALM (Schuster et al.,
// "Confident Adaptive Language Modeling", NeurIPS 2022).
#pragma once

#include <string>

#include "model/weights.h"

namespace calm {

enum class Measure {
  Softmax,     // top-1 minus top-2 probability of the exit's softmax (the paper's)
  SoftmaxMax,  // top-1 probability
  State,       // cosine of the hidden state with the previous layer's
  Classifier,  // the early-exit classifier head's probability
};

// "softmax", "softmax-max", "state", "classifier"; throws calm::Error otherwise.
Measure parse_measure(const std::string& name);
const char* measure_name(Measure measure);
// Whether the measure needs the exit's vocabulary projection to decide.
inline bool measure_needs_logits(Measure m) { return m == Measure::Softmax || m == Measure::SoftmaxMax; }

// From softmax probabilities: top-1 minus top-2, or top-1 alone.
float softmax_confidence(const Vector& probabilities, Measure measure);
// The same from the logits, without forming the probabilities: the two
// largest logits and one vectorised sum of exponentials (the token loop's path).
float softmax_confidence_from_logits(const Vector& logits, Measure measure);
// cosine(a, b); 0 when either is zero.
float cosine_similarity(const Vector& a, const Vector& b);

// lambda_t = clip01(0.9 lambda + 0.1 exp(-tau t / N)), t the 0-based output
// position, N the maximum output length. lambda >= 1 means "never exit": the
// caller checks `never_exits` rather than relying on this value.
float threshold_at(float lambda, float tau, int t, int max_new_tokens);
inline bool never_exits(float lambda) { return lambda >= 1.0f; }

}  // namespace calm
