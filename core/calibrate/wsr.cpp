#include "calibrate/wsr.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "util/error.h"

namespace calm {

namespace {

void check(const std::vector<double>& losses, double epsilon) {
  if (!(epsilon > 0.0 && epsilon < 1.0))
    throw Error("WSR: epsilon " + std::to_string(epsilon) + " is not in (0, 1)");
  for (std::size_t i = 0; i < losses.size(); ++i)
    if (!(losses[i] >= 0.0 && losses[i] <= 1.0))
      throw Error("WSR: loss " + std::to_string(i) + " = " + std::to_string(losses[i]) + " is not in [0, 1]");
}

// The bets nu_t, which do not depend on mu.
std::vector<double> bets(const std::vector<double>& losses, double epsilon) {
  const double n = static_cast<double>(losses.size());
  const double numerator = 2.0 * std::log(1.0 / epsilon);
  std::vector<double> nu(losses.size());
  double sum = 0.0, squares = 0.0, sigma2_before = 0.25;
  for (std::size_t t = 0; t < losses.size(); ++t) {
    nu[t] = std::min(1.0, std::sqrt(numerator / (n * sigma2_before)));
    sum += losses[t];
    const double count = static_cast<double>(t + 2);  // t + 1 losses seen, plus the prior's one
    const double mu_t = (0.5 + sum) / count;
    squares += (losses[t] - mu_t) * (losses[t] - mu_t);
    sigma2_before = (0.25 + squares) / count;
  }
  return nu;
}

double log_capital(const std::vector<double>& losses, const std::vector<double>& nu, double mu) {
  double log_k = 0.0, best = 0.0;
  for (std::size_t t = 0; t < losses.size(); ++t) {
    log_k += std::log1p(-nu[t] * (losses[t] - mu));  // 1 - nu (x - mu) >= mu > 0
    best = std::max(best, log_k);
  }
  return best;
}

}  // namespace

double wsr_log_capital(const std::vector<double>& losses, double mu, double epsilon) {
  check(losses, epsilon);
  if (!(mu > 0.0 && mu <= 1.0)) throw Error("WSR: mu " + std::to_string(mu) + " is not in (0, 1]");
  return log_capital(losses, bets(losses, epsilon), mu);
}

double wsr_pvalue(const std::vector<double>& losses, double delta, double epsilon) {
  if (!(delta > 0.0 && delta < 1.0)) throw Error("WSR: delta " + std::to_string(delta) + " is not in (0, 1)");
  return std::min(1.0, std::exp(-wsr_log_capital(losses, delta, epsilon)));
}

double wsr_upper_bound(const std::vector<double>& losses, double epsilon) {
  check(losses, epsilon);
  const std::vector<double> nu = bets(losses, epsilon);
  const double target = std::log(1.0 / epsilon);
  if (log_capital(losses, nu, 1.0) < target) return 1.0;
  double low = 1e-12, high = 1.0;  // capital below target at low (or low is the answer), at or above at high
  if (log_capital(losses, nu, low) >= target) return low;
  while (high - low > 1e-10) {
    const double mid = 0.5 * (low + high);
    (log_capital(losses, nu, mid) >= target ? high : low) = mid;
  }
  return high;
}

}  // namespace calm
