#include "calibrate/validate.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "calibrate/crc.h"
#include "calibrate/sampling.h"
#include "util/error.h"

namespace calm {

std::vector<Split> random_splits(std::size_t n, int count, uint64_t seed, double calibration_fraction) {
  if (n < 2) throw Error("random splits need at least 2 examples, got " + std::to_string(n));
  if (!(calibration_fraction > 0.0 && calibration_fraction < 1.0))
    throw Error("the calibration fraction must be in (0, 1)");
  const auto cal = std::clamp<std::size_t>(
      static_cast<std::size_t>(std::llround(calibration_fraction * static_cast<double>(n))), 1, n - 1);
  return random_splits_of_size(n, count, seed, cal);
}

std::vector<Split> random_splits_of_size(std::size_t n, int count, uint64_t seed, std::size_t cal) {
  if (n < 2) throw Error("random splits need at least 2 examples, got " + std::to_string(n));
  if (count < 1) throw Error("the number of splits must be at least 1");
  if (cal < 1 || cal >= n)
    throw Error("the calibration part must hold 1 to " + std::to_string(n - 1) + " examples, not " +
                std::to_string(cal));
  std::mt19937_64 random(seed);  // its output is fixed by the standard, unlike the distributions
  std::vector<Split> splits;
  std::vector<std::size_t> order(n);
  for (int s = 0; s < count; ++s) {
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    shuffle_in_place(order, random);
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

Interval clopper_pearson(std::size_t k, std::size_t n, double confidence) {
  if (k > n) throw Error("clopper_pearson: " + std::to_string(k) + " successes of " + std::to_string(n));
  if (!(confidence > 0.0 && confidence < 1.0)) throw Error("clopper_pearson: confidence must be in (0, 1)");
  Interval ci;
  if (n == 0) return ci;
  const double tail = (1.0 - confidence) / 2.0;
  const auto ki = static_cast<std::int64_t>(k), ni = static_cast<std::int64_t>(n);
  // Both tails are monotone in p: bisect to double precision.
  const auto solve = [](auto too_low) {
    double low = 0.0, high = 1.0;
    for (int i = 0; i < 200 && high - low > 1e-15; ++i) {
      const double mid = 0.5 * (low + high);
      (too_low(mid) ? low : high) = mid;
    }
    return 0.5 * (low + high);
  };
  // P[Bin(n, p) >= k] = 1 - P[Bin(n, p) <= k - 1] rises with p.
  if (k > 0) ci.lower = solve([&](double p) { return 1.0 - binomial_cdf(ki - 1, ni, p) < tail; });
  // P[Bin(n, p) <= k] falls as p rises.
  if (k < n) ci.upper = solve([&](double p) { return binomial_cdf(ki, ni, p) > tail; });
  return ci;
}

LambdaSelector ltt_selector(double delta, double epsilon, PValueMethod method) {
  return [=](const LossTable& t) { return choose_lambda(t, delta, epsilon, method).chosen_index.value_or(0); };
}

LambdaSelector crc_selector(double delta) {
  return [=](const LossTable& t) { return choose_lambda_crc(t, delta).chosen_index.value_or(0); };
}

LambdaSelector empirical_mean_selector(double delta) {
  return [=](const LossTable& t) {
    std::size_t chosen = 0;
    for (std::size_t j = 0; j < t.grid_size() && t.mean_loss(j) <= delta; ++j) chosen = j;
    return chosen;
  };
}

ValidationSummary validate_guarantee(const LossTable& table, const Guarantee& g, const std::vector<Split>& splits) {
  const LambdaSelector select = is_learn_then_test(g.method)
                                   ? ltt_selector(g.delta, g.epsilon, pvalue_method_of(g.method))
                                   : crc_selector(g.delta);
  return validate_selector(table, select, calibration_method_name(g.method), g, splits);
}

ValidationSummary validate_selector(const LossTable& table, const LambdaSelector& select, const std::string& name,
                                    const Guarantee& g, const std::vector<Split>& splits) {
  table.validate();
  if (table.lambdas.front() != 1.0) throw Error("validation: the lambda grid must start at 1 (the full model)");
  if (splits.empty()) throw Error("validation: no splits");
  ValidationSummary v;
  v.guarantee = g;
  v.selector = name;
  v.splits = static_cast<int>(splits.size());
  v.calibration_size = splits.front().calibration.size();
  v.test_size = splits.front().test.size();
  for (std::size_t j = 0; j < table.grid_size(); ++j) v.pool_risk.push_back(table.mean_loss(j));
  std::vector<double> true_risks;
  for (const Split& split : splits) {
    const LossTable test = subset_table(table, split.test);
    SplitOutcome o;
    o.chosen_point = select(subset_table(table, split.calibration));
    o.lambda = table.lambdas.at(o.chosen_point);
    o.test_loss = test.mean_loss(o.chosen_point);
    o.test_layers = test.mean_layers(o.chosen_point);
    o.violated = o.test_loss > g.delta;
    o.true_risk = v.pool_risk[o.chosen_point];
    o.true_violated = o.true_risk > g.delta;
    v.violations += o.violated;
    v.true_violations += o.true_violated;
    v.mean_lambda += o.lambda;
    v.mean_test_loss += o.test_loss;
    v.mean_test_layers += o.test_layers;
    true_risks.push_back(o.true_risk);
    v.outcomes.push_back(o);
  }
  const double count = static_cast<double>(splits.size());
  v.violation_fraction = static_cast<double>(v.violations) / count;
  v.violation_se = std::sqrt(v.violation_fraction * (1.0 - v.violation_fraction) / count);
  v.violation_ci = clopper_pearson(v.violations, splits.size());
  v.true_violation_fraction = static_cast<double>(v.true_violations) / count;
  v.true_violation_ci = clopper_pearson(v.true_violations, splits.size());
  for (double r : true_risks) v.mean_true_risk += r / count;
  v.true_risk_se = standard_error(true_risks);
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
