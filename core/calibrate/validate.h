// Checking the guarantee (as Schuster et al. 2022 do for CALM): pool the examples, draw random
// splits, choose lambda on each calibration part and look at the loss of that
// lambda. Everything is read from one loss table, so no split runs the model
// again.
//
// Two readings of "the loss of that lambda":
//   * the mean on the split's test part (the paper's check); noisy, and with
//     few splits it cannot show a violation rate below epsilon;
//   * its true risk, estimated on the whole pool: the pool is the population
//     the calibration parts are drawn from, so the guarantee says the pool
//     risk of the chosen lambda exceeds delta in at most a fraction epsilon
//     of the draws (for LTT and WSR), and is at most delta on average (CRC).
// Violation rates come with Clopper-Pearson intervals. A check with power has
// a grid fine enough that some lambda's pool risk lies just above delta, and
// calibration parts small enough that a careless selector would pick it: the
// deliberately broken empirical_mean_selector must then show violations above
// epsilon.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
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

// Like random_splits with `calibration_size` examples for calibration and the
// rest for test (1 <= calibration_size < n).
std::vector<Split> random_splits_of_size(std::size_t n, int count, uint64_t seed, std::size_t calibration_size);

// The rows of `table` for the examples `indices`, in that order.
LossTable subset_table(const LossTable& table, const std::vector<std::size_t>& indices);

// Exact (Clopper-Pearson) two-sided interval for a binomial proportion, k
// successes of n: lower solves P[Bin(n, p) >= k] = (1 - confidence)/2 (0 when
// k = 0), upper solves P[Bin(n, p) <= k] = (1 - confidence)/2 (1 when k = n).
struct Interval {
  double lower = 0.0;
  double upper = 1.0;
};
Interval clopper_pearson(std::size_t k, std::size_t n, double confidence = 0.95);

// Chooses a grid point from a calibration table (index into its grid).
using LambdaSelector = std::function<std::size_t(const LossTable& calibration)>;
// Learn then Test with `method` (the last point the fixed sequence passed, 0 when none).
LambdaSelector ltt_selector(double delta, double epsilon, PValueMethod method);
// Conformal risk control (crc.h).
LambdaSelector crc_selector(double delta);
// Broken on purpose, to show that the validation can fail: walks the grid
// down while the calibration mean is at most delta, with no allowance for
// the noise of the mean. No guarantee.
LambdaSelector empirical_mean_selector(double delta);

struct SplitOutcome {
  std::size_t chosen_point = 0;  // grid index of the chosen lambda (0, lambda 1, when none passed)
  double lambda = 1.0;
  double test_loss = 0.0;        // mean loss over the test part at the chosen lambda
  double test_layers = 0.0;      // mean layers per token over the test part
  bool violated = false;         // test_loss > delta
  double true_risk = 0.0;        // mean over the whole pool at the chosen lambda
  bool true_violated = false;    // true_risk > delta
  double measured_speedup = 1.0; // filled by add_speedups
  double flops_speedup = 1.0;
};

struct ValidationSummary {
  Guarantee guarantee;
  std::string selector = "ltt";    // what chose lambda: "hb", "wsr", "crc", "empirical-mean", ...
  int splits = 0;
  std::size_t calibration_size = 0;
  std::size_t test_size = 0;
  std::size_t violations = 0;
  double violation_fraction = 0.0;
  double violation_se = 0.0;       // sqrt(f (1 - f) / splits)
  Interval violation_ci;           // Clopper-Pearson, 95%
  std::size_t true_violations = 0; // splits whose chosen lambda has pool risk above delta
  double true_violation_fraction = 0.0;
  Interval true_violation_ci;      // Clopper-Pearson, 95%
  double mean_true_risk = 0.0;     // over splits (CRC's guarantee is about this mean)
  double true_risk_se = 0.0;       // its standard error over splits
  std::vector<double> pool_risk;   // (grid) mean loss of each lambda over the whole pool
  double mean_lambda = 0.0;
  double mean_test_loss = 0.0;
  double mean_test_layers = 0.0;
  double measured_speedup = 1.0;   // mean over splits (after add_speedups)
  double flops_speedup = 1.0;
  std::vector<SplitOutcome> outcomes;  // (splits)
};

// `table` holds every pooled example; its grid must start at 1 (the full
// model, the fallback when nothing passes). Throws calm::Error otherwise.
// The guarantee's method chooses lambda (Learn then Test or crc).
ValidationSummary validate_guarantee(const LossTable& table, const Guarantee& guarantee,
                                     const std::vector<Split>& splits);
// The same with any selector; `guarantee` supplies delta and epsilon and is
// recorded, `name` goes to ValidationSummary::selector.
ValidationSummary validate_selector(const LossTable& table, const LambdaSelector& select, const std::string& name,
                                    const Guarantee& guarantee, const std::vector<Split>& splits);

// Fills each outcome's measured and FLOPs speedups on its split's test part
// from the run the table was made of (a complete run: table row i is example i),
// and their means over the splits.
void add_speedups(ValidationSummary& summary, const CalibrationRun& run, const std::vector<Split>& splits);

}  // namespace calm
