#include "calibrate/pvalues.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>

#include "util/error.h"

namespace calm {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Terms of a tail sum smaller than this fraction of the running sum no longer
// change a double.
constexpr double kSumTolerance = 1e-17;

void check_binomial(std::int64_t n, double p) {
  if (n < 0) throw Error("binomial: n = " + std::to_string(n) + " is negative");
  if (!(p >= 0.0 && p <= 1.0))
    throw Error("binomial: p = " + std::to_string(p) + " is not in [0, 1]");
}

void check_pvalue_args(double mean_loss, std::int64_t n, double delta) {
  if (n < 0) throw Error("p-value: n = " + std::to_string(n) + " is negative");
  if (!(mean_loss >= 0.0 && mean_loss <= 1.0))
    throw Error("p-value: mean loss " + std::to_string(mean_loss) + " is not in [0, 1]");
  if (!(delta > 0.0 && delta < 1.0))
    throw Error("p-value: delta " + std::to_string(delta) + " is not in (0, 1)");
}

// stirlerr(n) = log(n!) - log(sqrt(2 pi n) (n/e)^n), the error of Stirling's
// formula. Up to 15 the lgamma difference is exact to ~1e-15 absolute (the
// terms are below 30); above, the asymptotic series to n^-9 is exact to double
// precision (its next term is below 1e-16 at n = 16).
double stirlerr(double n) {
  if (n <= 15.0) {
    return std::lgamma(n + 1.0) - (n + 0.5) * std::log(n) + n -
           0.5 * std::log(2.0 * std::numbers::pi);
  }
  constexpr double s0 = 1.0 / 12, s1 = 1.0 / 360, s2 = 1.0 / 1260, s3 = 1.0 / 1680,
                   s4 = 1.0 / 1188;
  const double nn = n * n;
  return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n;
}

// bd0(x, m) = x log(x/m) + m - x >= 0, the deviance term. When x is near m the
// direct form cancels, so a series in v = (x - m)/(x + m) is used instead.
double bd0(double x, double m) {
  if (std::fabs(x - m) < 0.1 * (x + m)) {
    double v = (x - m) / (x + m);
    double s = (x - m) * v;
    double ej = 2.0 * x * v;
    const double v2 = v * v;
    for (int j = 1; j < 1000; ++j) {
      ej *= v2;
      const double s1 = s + ej / (2 * j + 1);
      if (s1 == s) return s1;
      s = s1;
    }
    return s;
  }
  return x * std::log(x / m) + m - x;
}

}  // namespace

PValueMethod parse_pvalue_method(std::string_view name) {
  if (name == "hoeffding") return PValueMethod::Hoeffding;
  if (name == "bentkus") return PValueMethod::Bentkus;
  if (name == "hb" || name == "hoeffding-bentkus") return PValueMethod::HoeffdingBentkus;
  if (name == "wsr") return PValueMethod::Wsr;
  throw Error("unknown p-value method \"" + std::string(name) +
              "\" (expected hoeffding, bentkus, hb or wsr)");
}

const char* pvalue_method_name(PValueMethod method) {
  switch (method) {
    case PValueMethod::Hoeffding: return "hoeffding";
    case PValueMethod::Bentkus: return "bentkus";
    case PValueMethod::HoeffdingBentkus: return "hb";
    case PValueMethod::Wsr: return "wsr";
  }
  return "unknown";
}

double binomial_log_pmf(std::int64_t k, std::int64_t n, double p) {
  check_binomial(n, p);
  if (k < 0 || k > n) return -kInf;
  const double q = 1.0 - p;
  const double x = static_cast<double>(k), nd = static_cast<double>(n);
  if (p == 0.0) return k == 0 ? 0.0 : -kInf;
  if (q == 0.0) return k == n ? 0.0 : -kInf;
  // The two ends have no Stirling terms; bd0 avoids n log(q) losing digits
  // when q is close to 1.
  if (k == 0) return p < 0.1 ? -bd0(nd, nd * q) - nd * p : nd * std::log(q);
  if (k == n) return q < 0.1 ? -bd0(nd, nd * p) - nd * q : nd * std::log(p);
  const double lc = stirlerr(nd) - stirlerr(x) - stirlerr(nd - x) - bd0(x, nd * p) -
                    bd0(nd - x, nd * q);
  const double lf = std::log(2.0 * std::numbers::pi) + std::log(x) + std::log1p(-x / nd);
  return lc - 0.5 * lf;
}

double binomial_log_cdf(std::int64_t k, std::int64_t n, double p) {
  check_binomial(n, p);
  if (k < 0) return -kInf;
  if (k >= n || p == 0.0) return 0.0;
  if (p == 1.0) return -kInf;
  const double q = 1.0 - p;
  const double nd = static_cast<double>(n);
  if (static_cast<double>(k) < nd * p) {
    // Lower tail: P = pmf(k) * S with S = sum_{i <= k} pmf(i)/pmf(k). Below the
    // mean each step down multiplies by r_i = i q / ((n - i + 1) p) < 1 and r
    // shrinks further as i falls, so the rest of the sum after a term t is at
    // most t r / (1 - r). S >= 1, so nothing here can underflow; the tiny part
    // of the answer lives in log pmf(k).
    double sum = 1.0, term = 1.0;
    for (std::int64_t i = k; i >= 1; --i) {
      const double r = (static_cast<double>(i) / static_cast<double>(n - i + 1)) * (q / p);
      term *= r;
      sum += term;
      if (term * r < kSumTolerance * sum * (1.0 - r)) break;
    }
    return binomial_log_pmf(k, n, p) + std::log(sum);
  }
  // At or above the mean the CDF is at least about 1/2: sum the upper tail
  // U = P[X > k] the same way (terms fall as i rises) and return log(1 - U).
  double sum = 1.0, term = 1.0;
  for (std::int64_t i = k + 1; i < n; ++i) {
    const double r = (static_cast<double>(n - i) / static_cast<double>(i + 1)) * (p / q);
    term *= r;
    sum += term;
    if (term * r < kSumTolerance * sum * (1.0 - r)) break;
  }
  const double upper = std::exp(binomial_log_pmf(k + 1, n, p)) * sum;
  return std::log1p(-std::min(upper, 1.0));
}

double binomial_cdf(std::int64_t k, std::int64_t n, double p) {
  const double log_cdf = binomial_log_cdf(k, n, p);
  return log_cdf == 0.0 ? 1.0 : std::exp(log_cdf);
}

std::int64_t loss_count_ceiling(double mean_loss, std::int64_t n) {
  const double x = mean_loss * static_cast<double>(n);
  double k = std::ceil(x);
  if (k - x > 1.0 - 1e-9) k -= 1.0;  // x was an integer plus rounding noise
  return std::clamp(static_cast<std::int64_t>(k), std::int64_t{0}, n);
}

namespace {

// log of the Bentkus p-value before clipping: 1 + log P[Bin(n, delta) <= k].
double log_bentkus(double mean_loss, std::int64_t n, double delta) {
  return 1.0 + binomial_log_cdf(loss_count_ceiling(mean_loss, n), n, delta);
}

// log of the Hoeffding p-value exp(-n h(E, delta)) for E < delta: the
// Chernoff form of Hoeffding's inequality that Learn then Test uses. It is
// never above the quadratic form exp(-2 n (delta - E)^2), since
// h(a, b) >= 2 (a - b)^2 (Pinsker).
double log_hoeffding(double mean_loss, std::int64_t n, double delta) {
  return -static_cast<double>(n) * kl_bernoulli(mean_loss, delta);
}

}  // namespace

// log1p keeps the digits when a is close to b.
double kl_bernoulli(double a, double b) {
  const double first = a == 0.0 ? 0.0 : a * std::log1p((a - b) / b);
  const double second = a == 1.0 ? 0.0 : (1.0 - a) * std::log1p((b - a) / (1.0 - b));
  return first + second;
}

double bentkus_pvalue(double mean_loss, std::int64_t n, double delta) {
  check_pvalue_args(mean_loss, n, delta);
  if (mean_loss >= delta || n == 0) return 1.0;
  return std::exp(std::min(0.0, log_bentkus(mean_loss, n, delta)));
}

double hoeffding_pvalue(double mean_loss, std::int64_t n, double delta) {
  check_pvalue_args(mean_loss, n, delta);
  if (mean_loss >= delta || n == 0) return 1.0;
  return std::exp(log_hoeffding(mean_loss, n, delta));
}

double hoeffding_bentkus_pvalue(double mean_loss, std::int64_t n, double delta) {
  check_pvalue_args(mean_loss, n, delta);
  if (mean_loss >= delta || n == 0) return 1.0;
  // Compare in log space so neither bound underflows before the minimum is taken.
  return std::exp(std::min({0.0, log_hoeffding(mean_loss, n, delta), log_bentkus(mean_loss, n, delta)}));
}

double pvalue(PValueMethod method, double mean_loss, std::int64_t n, double delta) {
  switch (method) {
    case PValueMethod::Hoeffding: return hoeffding_pvalue(mean_loss, n, delta);
    case PValueMethod::Bentkus: return bentkus_pvalue(mean_loss, n, delta);
    case PValueMethod::HoeffdingBentkus: return hoeffding_bentkus_pvalue(mean_loss, n, delta);
    case PValueMethod::Wsr: throw Error("pvalue: the WSR p-value needs every loss, not their mean (wsr_pvalue)");
  }
  throw Error("pvalue: unknown method value " + std::to_string(static_cast<int>(method)));
}

}  // namespace calm
