#include "calibrate/crc.h"

#include <algorithm>
#include <string>

#include "util/error.h"

namespace calm {

LossTable monotone_envelope(const LossTable& table) {
  LossTable envelope = table;
  for (std::size_t j = 1; j < envelope.losses.size(); ++j)
    for (std::size_t i = 0; i < envelope.losses[j].size(); ++i)
      envelope.losses[j][i] = std::max(envelope.losses[j][i], envelope.losses[j - 1][i]);
  return envelope;
}

Monotonicity check_monotonicity(const LossTable& table) {
  Monotonicity m;
  std::size_t falls = 0, pairs = 0;
  for (std::size_t i = 0; i < table.examples(); ++i) {
    bool broken = false;
    for (std::size_t j = 1; j < table.grid_size(); ++j) {
      const bool falls_here = table.losses[j][i] < table.losses[j - 1][i];
      falls += falls_here;
      broken = broken || falls_here;
      ++pairs;
    }
    m.examples_broken += broken;
  }
  m.pairs_broken = pairs ? static_cast<double>(falls) / static_cast<double>(pairs) : 0.0;
  return m;
}

CrcResult choose_lambda_crc(const LossTable& table, double delta) {
  table.validate();
  if (!(delta > 0.0 && delta < 1.0))
    throw Error("conformal risk control: delta " + std::to_string(delta) + " is not in (0, 1)");
  const LossTable envelope = monotone_envelope(table);
  CrcResult result;
  result.delta = delta;
  result.examples = table.examples();
  const double n = static_cast<double>(result.examples);
  result.monotonicity = check_monotonicity(table);
  bool walking = true;
  for (std::size_t j = 0; j < table.grid_size(); ++j) {
    CrcPoint p;
    p.lambda = table.lambdas[j];
    p.mean_loss = table.mean_loss(j);
    p.envelope_mean_loss = envelope.mean_loss(j);
    p.bound = (n * p.envelope_mean_loss + 1.0) / (n + 1.0);
    p.passed = p.bound <= delta;
    p.mean_layers = table.mean_layers(j);
    p.tested = walking;
    if (walking && p.passed) result.chosen_index = j;
    if (!p.passed) walking = false;
    result.points.push_back(p);
  }
  result.lambda = result.chosen_index ? table.lambdas[*result.chosen_index] : 1.0;
  return result;
}

}  // namespace calm
