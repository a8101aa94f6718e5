#include "calibrate/online_bounds.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "calibrate/pvalues.h"
#include "util/error.h"

namespace calm {

namespace {

// The p between `inside` (where n h(E, p) <= budget) and `outside` (where it
// is above) at which n h(E, p) = budget; h(E, p) grows as p moves away from E.
double bisect(double mean, double n, double budget, double inside, double outside) {
  for (int i = 0; i < 100 && std::abs(outside - inside) > 1e-13; ++i) {
    const double mid = 0.5 * (inside + outside);
    (n * kl_bernoulli(mean, mid) <= budget ? inside : outside) = mid;
  }
  return inside;  // on the side the bound allows: a hair wider, never narrower
}

}  // namespace

LossBounds anytime_loss_bounds(double mean, std::int64_t n, double epsilon) {
  if (!(epsilon > 0.0 && epsilon < 1.0)) throw Error("anytime_loss_bounds: epsilon must be in (0, 1)");
  if (n < 0) throw Error("anytime_loss_bounds: negative count");
  if (!(mean >= 0.0 && mean <= 1.0)) throw Error("anytime_loss_bounds: the mean loss must be in [0, 1]");
  LossBounds b;
  b.n = n;
  b.mean = mean;
  if (n == 0) return b;
  const double nd = static_cast<double>(n);
  const double budget = std::log(nd) + std::log(nd + 1.0) - std::log(epsilon);
  // h(E, p) is infinite at p = 0 (for E > 0) and p = 1 (for E < 1); a bound
  // that reaches an end of (0, 1) within the budget is that end.
  constexpr double low_end = 1e-300, high_end = 1.0 - 1e-16;
  if (mean >= 1.0 || nd * kl_bernoulli(mean, high_end) <= budget) b.upper = 1.0;
  else b.upper = bisect(mean, nd, budget, mean, high_end);
  if (mean <= 0.0 || nd * kl_bernoulli(mean, low_end) <= budget) b.lower = 0.0;
  else b.lower = bisect(mean, nd, budget, mean, low_end);
  return b;
}

void RunningLoss::add(double loss) {
  if (!(loss >= 0.0 && loss <= 1.0))
    throw Error("RunningLoss: a loss must be in [0, 1], got " + std::to_string(loss));
  ++n_;
  sum_ += loss;
}

}  // namespace calm
