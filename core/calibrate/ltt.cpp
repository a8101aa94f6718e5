#include "calibrate/ltt.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "calibrate/crc.h"
#include "calibrate/wsr.h"
#include "util/error.h"

namespace calm {

namespace {

// Neumaier's compensated sum: with 10^6 losses a plain sum can be off in the
// 7th digit, and ceil(n E) in the Bentkus bound is sensitive to that.
double compensated_sum(const std::vector<double>& values) {
  double sum = 0.0, compensation = 0.0;
  for (double v : values) {
    const double t = sum + v;
    compensation += std::fabs(sum) >= std::fabs(v) ? (sum - t) + v : (v - t) + sum;
    sum = t;
  }
  return sum + compensation;
}

std::string point_name(const LossTable& table, std::size_t point) {
  return "grid point " + std::to_string(point) + " (lambda " +
         std::to_string(table.lambdas[point]) + ")";
}

}  // namespace

std::vector<double> lambda_grid(double step, double top, double bottom) {
  if (!(step > 0.0)) throw Error("lambda_grid: step " + std::to_string(step) + " must be > 0");
  if (!(bottom >= 0.0 && bottom <= top && top <= 1.0))
    throw Error("lambda_grid: need 0 <= bottom <= top <= 1, got bottom " +
                std::to_string(bottom) + " and top " + std::to_string(top));
  std::vector<double> grid;
  // Multiply rather than subtract repeatedly, so the error does not build up,
  // and allow a hair of slack so that the bottom itself is kept.
  const double last = std::floor((top - bottom) / step + 1e-9);
  if (last > 1e6)
    throw Error("lambda_grid: step " + std::to_string(step) + " would make over a million points");
  for (double i = 0; i <= last; ++i) {
    const double lambda = std::round((top - i * step) * 1e12) / 1e12;
    grid.push_back(lambda > 0.0 ? lambda : 0.0);  // rounding can give -0.0, which prints as "-0"
  }
  return grid;
}

double LossTable::mean_loss(std::size_t point) const {
  const auto& row = losses.at(point);
  return row.empty() ? 0.0 : compensated_sum(row) / static_cast<double>(row.size());
}

double LossTable::mean_layers(std::size_t point) const {
  if (layers.empty()) return 0.0;
  const auto& row = layers.at(point);
  return row.empty() ? 0.0 : compensated_sum(row) / static_cast<double>(row.size());
}

void LossTable::validate() const {
  if (lambdas.empty()) throw Error("loss table: the lambda grid is empty");
  if (losses.size() != lambdas.size())
    throw Error("loss table: " + std::to_string(lambdas.size()) + " lambdas but " +
                std::to_string(losses.size()) + " rows of losses");
  if (!layers.empty() && layers.size() != lambdas.size())
    throw Error("loss table: " + std::to_string(lambdas.size()) + " lambdas but " +
                std::to_string(layers.size()) + " rows of layers");
  const std::size_t n = examples();
  if (n == 0) throw Error("loss table: no calibration examples");
  for (std::size_t j = 0; j < lambdas.size(); ++j) {
    if (!(lambdas[j] >= 0.0 && lambdas[j] <= 1.0))
      throw Error("loss table: " + point_name(*this, j) + " is not in [0, 1]");
    if (j > 0 && !(lambdas[j] < lambdas[j - 1]))
      throw Error("loss table: " + point_name(*this, j) +
                  " does not descend from the point before it");
    if (losses[j].size() != n)
      throw Error("loss table: " + point_name(*this, j) + " has " +
                  std::to_string(losses[j].size()) + " losses, grid point 0 has " +
                  std::to_string(n));
    if (!layers.empty() && layers[j].size() != n)
      throw Error("loss table: " + point_name(*this, j) + " has " +
                  std::to_string(layers[j].size()) + " layer counts for " +
                  std::to_string(n) + " examples");
    for (std::size_t i = 0; i < n; ++i) {
      if (!(losses[j][i] >= 0.0 && losses[j][i] <= 1.0))
        throw Error("loss table: " + point_name(*this, j) + ", example " + std::to_string(i) +
                    ": loss " + std::to_string(losses[j][i]) + " is not in [0, 1]");
    }
  }
}

CalibrationResult choose_lambda(const LossTable& table, double delta, double epsilon,
                                PValueMethod method) {
  table.validate();
  if (!(delta > 0.0 && delta < 1.0))
    throw Error("choose_lambda: delta " + std::to_string(delta) + " is not in (0, 1)");
  if (!(epsilon > 0.0 && epsilon < 1.0))
    throw Error("choose_lambda: epsilon " + std::to_string(epsilon) + " is not in (0, 1)");

  CalibrationResult result;
  result.delta = delta;
  result.epsilon = epsilon;
  result.method = calibration_method(method);
  result.examples = table.examples();
  const auto n = static_cast<std::int64_t>(result.examples);

  bool walking = true;
  for (std::size_t j = 0; j < table.grid_size(); ++j) {
    GridPointResult point;
    point.lambda = table.lambdas[j];
    point.mean_loss = table.mean_loss(j);
    point.mean_layers = table.mean_layers(j);
    point.p_value = method == PValueMethod::Wsr ? wsr_pvalue(table.losses[j], delta, epsilon)
                                                : pvalue(method, point.mean_loss, n, delta);
    point.passed = point.p_value <= epsilon;
    point.tested = walking;
    if (walking) {
      if (point.passed) {
        result.chosen_index = j;
      } else {
        walking = false;  // the first failure ends the sequence; later passes do not count
      }
    }
    result.points.push_back(point);
  }
  result.lambda = result.chosen_index ? table.lambdas[*result.chosen_index] : 1.0;
  return result;
}

CalibrationResult choose_lambda(const LossTable& table, double delta, double epsilon, CalibrationMethod method) {
  if (is_learn_then_test(method)) return choose_lambda(table, delta, epsilon, pvalue_method_of(method));
  if (!(epsilon > 0.0 && epsilon < 1.0))
    throw Error("choose_lambda: epsilon " + std::to_string(epsilon) + " is not in (0, 1)");
  const CrcResult crc = choose_lambda_crc(table, delta);
  CalibrationResult result;
  result.delta = delta;
  result.epsilon = epsilon;
  result.method = CalibrationMethod::Crc;
  result.examples = crc.examples;
  for (const CrcPoint& c : crc.points) {
    GridPointResult p;
    p.lambda = c.lambda;
    p.mean_loss = c.mean_loss;
    p.mean_layers = c.mean_layers;
    p.crc_bound = c.bound;
    p.passed = c.passed;
    p.tested = c.tested;
    result.points.push_back(p);
  }
  result.chosen_index = crc.chosen_index;
  result.lambda = crc.lambda;
  result.monotonicity = crc.monotonicity;
  return result;
}

}  // namespace calm
