// Watching a certified guarantee on live traffic: bounds on the expected loss
// from a stream of losses in [0, 1] that hold at every sample size at once,
// so they may be checked after every new loss.
//
// At n losses with mean E, with L_n = ln(n (n + 1) / epsilon):
//   upper_n = the largest p >= E with n h(E, p) <= L_n
//   lower_n = the smallest p <= E with n h(E, p) <= L_n
// h the Bernoulli relative entropy (pvalues.h). For losses in [0, 1] with
// expectation mu, Hoeffding's inequality in its relative-entropy form
// (Hoeffding 1963, Theorem 1; the bound Learn then Test uses) gives
// P[E_n >= a] <= exp(-n h(a, mu)) for a > mu, so P[lower_n > mu] <=
// epsilon / (n (n + 1)); the union over n = 1, 2, ... sums to epsilon. Hence
// with probability at least 1 - epsilon, lower_n <= mu for every n (and the
// same for upper_n >= mu): the bounds may be watched continuously, and
// "lower_n > delta" is a test of "mu <= delta" at level epsilon however long
// one watches.
#pragma once

#include <cstdint>

namespace calm {

struct LossBounds {
  std::int64_t n = 0;
  double mean = 0.0;
  double lower = 0.0;  // 0 when n = 0
  double upper = 1.0;  // 1 when n = 0
};

// The bounds above for `n` losses of mean `mean` (in [0, 1]) at level
// `epsilon` in (0, 1). Throws calm::Error on arguments outside those ranges.
LossBounds anytime_loss_bounds(double mean, std::int64_t n, double epsilon);

// A running sum of losses, checked into [0, 1].
class RunningLoss {
 public:
  void add(double loss);  // throws calm::Error for a loss outside [0, 1] or NaN
  std::int64_t count() const { return n_; }
  double mean() const { return n_ ? sum_ / static_cast<double>(n_) : 0.0; }
  LossBounds bounds(double epsilon) const { return anytime_loss_bounds(mean(), n_, epsilon); }

 private:
  std::int64_t n_ = 0;
  double sum_ = 0.0;
};

}  // namespace calm
