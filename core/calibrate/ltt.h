// Learn then Test (Angelopoulos et al. 2021) over a grid of thresholds. The expensive
// part — one full run and one early-exit run per example and grid point — is
// done once by the caller and kept in a LossTable; choosing lambda for any
// (delta, epsilon, method) then only reads the stored losses, so a slider can
// re-ask it at once.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "calibrate/method.h"
#include "calibrate/pvalues.h"

namespace calm {

// Thresholds from `top` down to `bottom` (both included when bottom is on the
// grid) in steps of `step`: top - i * step, rounded to 12 decimals so that
// 0.85 prints as 0.85. Default: 1.0, 0.95, ..., 0.05, 0.0 (21 points).
// Throws calm::Error unless 0 <= bottom <= top <= 1 and step > 0, or when the
// grid would have over a million points.
std::vector<double> lambda_grid(double step = 0.05, double top = 1.0, double bottom = 0.0);

// The losses of n calibration examples at every grid point.
struct LossTable {
  std::vector<double> lambdas;              // (grid) strictly descending; [0] the safest
  std::vector<std::vector<double>> losses;  // (grid, n) per-example loss in [0, 1]
  std::vector<std::vector<double>> layers;  // (grid, n) per-example mean decoder layers
                                            //   used per token; may be left empty

  std::size_t grid_size() const { return lambdas.size(); }
  std::size_t examples() const { return losses.empty() ? 0 : losses.front().size(); }
  double mean_loss(std::size_t point) const;
  double mean_layers(std::size_t point) const;  // 0 when no layers were stored

  // Throws calm::Error naming the grid point and example at fault: shapes must
  // agree, lambdas must descend strictly within [0, 1], losses must be in [0, 1].
  void validate() const;
};

struct GridPointResult {
  double lambda = 1.0;
  double mean_loss = 0.0;
  double mean_layers = 0.0;
  double p_value = 1.0;    // Learn then Test only (1 under crc)
  double crc_bound = 1.0;  // conformal risk control only: (n * mean envelope loss + 1) / (n + 1) (crc.h)
  bool passed = false;     // p_value <= epsilon (crc: crc_bound <= delta), judged on its own
  bool tested = false;     // the fixed-sequence walk reached this point
};

// Conformal risk control assumes each example's loss never falls as lambda
// falls. How far the calibration losses are from that (crc.h).
struct Monotonicity {
  std::size_t examples_broken = 0;  // examples whose loss falls somewhere along the descending grid
  double pairs_broken = 0.0;        // fraction of (example, adjacent grid pair) where it falls
  bool holds() const { return examples_broken == 0; }
};

struct CalibrationResult {
  double delta = 0.0;
  double epsilon = 0.0;
  CalibrationMethod method = CalibrationMethod::HoeffdingBentkus;
  std::size_t examples = 0;
  std::vector<GridPointResult> points;  // (grid) in the table's order
  // Index of the last grid point that passed before the walk stopped, or none.
  std::optional<std::size_t> chosen_index;
  double lambda = 1.0;  // lambdas[chosen_index], or 1 (never exit early) when none passed
  Monotonicity monotonicity;  // checked for crc only
};

// Fixed-sequence testing: walk the grid from the safest lambda downward and
// stop at the first p-value above epsilon; the answer is the last lambda that
// passed. No multiplicity correction is needed along a fixed order. Every grid
// point still gets its mean loss and p-value, for plotting. Validates the table
// and throws calm::Error unless delta and epsilon are in (0, 1).
CalibrationResult choose_lambda(const LossTable& table, double delta, double epsilon,
                                PValueMethod method = PValueMethod::HoeffdingBentkus);

// Any method: Learn then Test as above, or conformal risk control
// (choose_lambda_crc in crc.h; epsilon is then checked but plays no part).
CalibrationResult choose_lambda(const LossTable& table, double delta, double epsilon, CalibrationMethod method);

}  // namespace calm
