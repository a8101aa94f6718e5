// Showing that the guarantee holds (spec section 6): pool the examples, draw
// random 80/20 splits, choose lambda on each 80% and measure the mean loss on
// the 20% at that lambda. The fraction of splits whose test loss exceeds delta
// must be at most about epsilon. Everything is read from one loss table, so no
// split runs the model again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "calibrate/calibrator.h"
#include "calibrate/report.h"

namespace calm {

struct Split {
  std::vector<std::size_t> calibration;  // indices into the pooled examples
  std::vector<std::size_t> test;
};

// `count` random splits of n examples, round(calibration_fraction * n) of them
// for calibration (at least 1, and at least 1 left for test). The same seed
// gives the same splits on every platform (own Fisher-Yates over mt19937_64).
// Throws calm::Error when n < 2 or count < 1.
std::vector<Split> random_splits(std::size_t n, int count, uint64_t seed, double calibration_fraction = 0.8);

// The rows of `table` for the examples `indices`, in that order.
LossTable subset_table(const LossTable& table, const std::vector<std::size_t>& indices);

struct SplitOutcome {
  std::size_t chosen_point = 0;  // grid index of the chosen lambda (0, lambda 1, when none passed)
  double lambda = 1.0;
  double test_loss = 0.0;        // mean loss over the test part at the chosen lambda
  double test_layers = 0.0;      // mean layers per token over the test part
  bool violated = false;         // test_loss > delta
  double measured_speedup = 1.0; // filled by add_speedups
  double flops_speedup = 1.0;
};

struct ValidationSummary {
  Guarantee guarantee;
  int splits = 0;
  std::size_t calibration_size = 0;
  std::size_t test_size = 0;
  std::size_t violations = 0;
  double violation_fraction = 0.0;
  double violation_se = 0.0;       // sqrt(f (1 - f) / splits)
  double mean_lambda = 0.0;
  double mean_test_loss = 0.0;
  double mean_test_layers = 0.0;
  double measured_speedup = 1.0;   // mean over splits (after add_speedups)
  double flops_speedup = 1.0;
  std::vector<SplitOutcome> outcomes;  // (splits)
};

// `table` holds every pooled example; its grid must start at 1 (the full
// model, the fallback when nothing passes). Throws calm::Error otherwise.
ValidationSummary validate_guarantee(const LossTable& table, const Guarantee& guarantee,
                                     const std::vector<Split>& splits);

// Fills each outcome's measured and FLOPs speedups on its split's test part
// from the run the table was made of (a complete run: table row i is example i),
// and their means over the splits.
void add_speedups(ValidationSummary& summary, const CalibrationRun& run, const std::vector<Split>& splits);

}  // namespace calm
