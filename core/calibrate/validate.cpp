#include "calibrate/validate.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "model/error.h"

namespace calm {

std::vector<Split> random_splits(std::size_t n, int count, uint64_t seed, double calibration_fraction) {
  if (n < 2) throw Error("random splits need at least 2 examples, got " + std::to_string(n));
  if (count < 1) throw Error("the number of splits must be at least 1");
  if (!(calibration_fraction > 0.0 && calibration_fraction < 1.0))
    throw Error("the calibration fraction must be in (0, 1)");
  const auto cal = std::clamp<std::size_t>(
      static_cast<std::size_t>(std::llround(calibration_fraction * static_cast<double>(n))), 1, n - 1);
  std::mt19937_64 random(seed);  // its output is fixed by the standard, unlike the distributions
  std::vector<Split> splits;
  std::vector<std::size_t> order(n);
  for (int s = 0; s < count; ++s) {
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    for (std::size_t i = n - 1; i > 0; --i) std::swap(order[i], order[random() % (i + 1)]);
    Split split;
    split.calibration.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(cal));
    split.test.assign(order.begin() + static_cast<std::ptrdiff_t>(cal), order.end());
    std::sort(split.calibration.begin(), split.calibration.end());
    std::sort(split.test.begin(), split.test.end());
    splits.push_back(std::move(split));
  }
  return splits;
}

LossTable subset_table(const LossTable& table, const std::vector<std::size_t>& indices) {
  LossTable out;
  out.lambdas = table.lambdas;
  out.losses.resize(table.losses.size());
  if (!table.layers.empty()) out.layers.resize(table.layers.size());
  for (std::size_t p = 0; p < table.losses.size(); ++p)
    for (std::size_t i : indices) {
      out.losses[p].push_back(table.losses[p].at(i));
      if (!table.layers.empty()) out.layers[p].push_back(table.layers[p].at(i));
    }
  return out;
}

ValidationSummary validate_guarantee(const LossTable& table, const Guarantee& g, const std::vector<Split>& splits) {
  table.validate();
  if (table.lambdas.front() != 1.0) throw Error("validation: the lambda grid must start at 1 (the full model)");
  if (splits.empty()) throw Error("validation: no splits");
  ValidationSummary v;
  v.guarantee = g;
  v.splits = static_cast<int>(splits.size());
  v.calibration_size = splits.front().calibration.size();
  v.test_size = splits.front().test.size();
  for (const Split& split : splits) {
    const CalibrationResult r = choose_lambda(subset_table(table, split.calibration), g.delta, g.epsilon, g.method);
    const LossTable test = subset_table(table, split.test);
    SplitOutcome o;
    o.chosen_point = r.chosen_index.value_or(0);
    o.lambda = table.lambdas[o.chosen_point];
    o.test_loss = test.mean_loss(o.chosen_point);
    o.test_layers = test.mean_layers(o.chosen_point);
    o.violated = o.test_loss > g.delta;
    v.violations += o.violated;
    v.mean_lambda += o.lambda;
    v.mean_test_loss += o.test_loss;
    v.mean_test_layers += o.test_layers;
    v.outcomes.push_back(o);
  }
  const double count = static_cast<double>(splits.size());
  v.violation_fraction = static_cast<double>(v.violations) / count;
  v.violation_se = std::sqrt(v.violation_fraction * (1.0 - v.violation_fraction) / count);
  v.mean_lambda /= count;
  v.mean_test_loss /= count;
  v.mean_test_layers /= count;
  return v;
}

void add_speedups(ValidationSummary& v, const CalibrationRun& run, const std::vector<Split>& splits) {
  if (!run.complete()) throw Error("validation: the run is not complete");
  if (splits.size() != v.outcomes.size()) throw Error("validation: the splits do not match the summary");
  double measured = 0.0, flops = 0.0;
  for (std::size_t s = 0; s < splits.size(); ++s) {
    SplitOutcome& o = v.outcomes[s];
    o.measured_speedup = run.measured_speedup(o.chosen_point, splits[s].test);
    o.flops_speedup = run.flops_speedup(o.chosen_point, splits[s].test);
    measured += o.measured_speedup;
    flops += o.flops_speedup;
  }
  v.measured_speedup = measured / static_cast<double>(splits.size());
  v.flops_speedup = flops / static_cast<double>(splits.size());
}

}  // namespace calm
