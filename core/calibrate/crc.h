// Conformal risk control (Angelopoulos, Bates, Fisch, Lei, Schuster 2022,
// "Conformal Risk Control"): a guarantee in expectation, not with
// probability 1 - epsilon. For losses in [0, B] that are non-increasing in
// lambda (here: a higher threshold never loses more),
//   lambda_hat = the smallest lambda with (n R_n(lambda) + B) / (n + 1) <= delta
// gives E[loss of a new input at lambda_hat] <= delta, the expectation taken
// over the calibration set and the new input together. epsilon plays no part.
//
// CALM's per-example losses need not be monotone in lambda: a lower threshold
// can, by chance, give an output closer to the full model's. So CRC is applied
// to the monotone envelope L+_i(lambda) = max over grid lambda' >= lambda of
// L_i(lambda'), which is monotone and never below the real loss: the
// guarantee for the envelope carries over to the real loss (it is the same
// when the losses are monotone, more conservative when not). How often the
// real losses break monotonicity is reported (CrcResult::monotonicity).
// On a grid, "smallest lambda" is read as the fixed-sequence walk from lambda
// 1 down, stopping at the first point whose bound exceeds delta (the envelope
// makes the bound non-increasing in lambda, so this is the same point).
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "calibrate/ltt.h"

namespace calm {

struct CrcPoint {
  double lambda = 1.0;
  double mean_loss = 0.0;           // of the real losses
  double envelope_mean_loss = 0.0;  // of the monotone envelope L+
  double bound = 1.0;               // (n * envelope_mean_loss + 1) / (n + 1), B = 1
  bool passed = false;              // bound <= delta
  bool tested = false;              // the walk from lambda 1 reached this point
  double mean_layers = 0.0;
};

struct CrcResult {
  double delta = 0.0;
  std::size_t examples = 0;
  std::vector<CrcPoint> points;  // (grid) in the table's order
  std::optional<std::size_t> chosen_index;  // none when even lambda 1 fails (n < 1/delta - 1)
  double lambda = 1.0;
  // Where the loss fell as lambda fell: no example, for monotone losses.
  Monotonicity monotonicity;
};

// The envelope of `table`: row j, example i holds max_{k <= j} losses[k][i].
// (The grid descends, so k <= j are the lambdas at or above lambda_j.)
LossTable monotone_envelope(const LossTable& table);

// Which examples of `table` have a loss that falls somewhere as lambda falls.
Monotonicity check_monotonicity(const LossTable& table);

// Validates the table (LossTable::validate) and delta in (0, 1).
CrcResult choose_lambda_crc(const LossTable& table, double delta);

}  // namespace calm
