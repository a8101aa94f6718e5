// Learn-then-Test p-values for the null hypothesis "the expected loss at this
// lambda is above delta", given the mean E of n losses in [0, 1] (Learn then
// Test, Angelopoulos et al. 2021, as CALM uses it), and the binomial CDF the Bentkus bound needs.
//
// All three p-values are 1 when E >= delta (no evidence against the null) and
// are clipped to at most 1.
#pragma once

#include <cstdint>
#include <string_view>

namespace calm {

// Wsr, the Waudby-Smith-Ramdas betting test (wsr.h), needs every loss, not
// only their mean: choose_lambda computes it from the loss table, and
// pvalue() below refuses it.
enum class PValueMethod { Hoeffding, Bentkus, HoeffdingBentkus, Wsr };

// "hoeffding", "bentkus", "hb" (also "hoeffding-bentkus"), "wsr"; throws calm::Error otherwise.
PValueMethod parse_pvalue_method(std::string_view name);
const char* pvalue_method_name(PValueMethod method);  // "hoeffding", "bentkus", "hb", "wsr"

// exp(-n h(min(E, delta), delta)), h below: Hoeffding's inequality in its
// Chernoff (relative-entropy) form, as Learn then Test states it. The looser
// exp(-2 n (delta - E)^2) is an upper bound on it (Pinsker).
double hoeffding_pvalue(double mean_loss, std::int64_t n, double delta);

// h(a, b) = a ln(a/b) + (1-a) ln((1-a)/(1-b)), 0 ln 0 = 0: the relative
// entropy of Bernoulli(a) to Bernoulli(b), for a in [0, 1], b in (0, 1).
double kl_bernoulli(double a, double b);

// e * P[Binomial(n, delta) <= ceil(n E)]
double bentkus_pvalue(double mean_loss, std::int64_t n, double delta);

// min(exp(-n h(min(E, delta), delta)), Bentkus),
// h(a, b) = a ln(a/b) + (1-a) ln((1-a)/(1-b)), 0 ln 0 = 0.
double hoeffding_bentkus_pvalue(double mean_loss, std::int64_t n, double delta);

double pvalue(PValueMethod method, double mean_loss, std::int64_t n, double delta);

// The k in ceil(n E). A product n * E that lands within 1e-9 above an integer
// is taken as that integer, so E = 3/10 with n = 10 gives 3, not the 4 that
// 10 * 0.3 = 3.0000000000000004 would.
std::int64_t loss_count_ceiling(double mean_loss, std::int64_t n);

// log P[Binomial(n, p) <= k], accurate in relative terms far into the lower
// tail (it never underflows: -5000 is returned as -5000). -inf only for a
// probability that is exactly 0 (k < 0, or p = 1 with k < n); exactly 0 when
// the probability is exactly 1 (k >= n, or p = 0 with k >= 0).
double binomial_log_cdf(std::int64_t k, std::int64_t n, double p);

// exp(binomial_log_cdf): nonzero whenever the value is representable
// (subnormals included), exactly 1 when the probability is 1 or rounds to 1.
double binomial_cdf(std::int64_t k, std::int64_t n, double p);

// log P[Binomial(n, p) = k] by Loader's saddle-point form (as in R's dbinom),
// which keeps full relative accuracy for n in the millions, where lgamma
// differences would lose about 1e-9.
double binomial_log_pmf(std::int64_t k, std::int64_t n, double p);

}  // namespace calm
