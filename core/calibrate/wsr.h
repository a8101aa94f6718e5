// The Waudby-Smith-Ramdas betting test and upper confidence bound for the
// mean of losses in [0, 1] (Waudby-Smith & Ramdas 2023, "Estimating means of
// bounded random variables by betting"), as used for risk control by Bates et
// al. 2021 (RCPS, "WSR bound") and by Jazbec et al. 2024 ("Fast yet Safe:
// Early-Exiting with Risk Control", UCB-WSR). It adapts to the variance of
// the losses, so where most losses are 0 it certifies far more than Hoeffding.
//
// Against the null "the expected loss is at least mu", a gambler starts with
// capital 1 and bets on each loss x_t in turn:
//   K_t(mu) = prod_{i <= t} (1 - nu_i (x_i - mu)),
// with predictable bets (each from the losses before it only):
//   mu_t     = (1/2 + sum_{i <= t} x_i) / (t + 1),
//   sigma2_t = (1/4 + sum_{i <= t} (x_i - mu_i)^2) / (t + 1),
//   nu_t     = min(1, sqrt(2 ln(1/epsilon) / (n sigma2_{t-1}))), sigma2_0 = 1/4.
// Under the null K is a nonnegative supermartingale, so by Ville's inequality
// P[max_t K_t(mu) >= 1/epsilon] <= epsilon: rejecting when the capital ever
// reaches 1/epsilon is a level-epsilon test, and p = min(1, 1 / max_t K_t) a
// valid p-value. The bets depend on epsilon (fixed before seeing the data) and
// on the order of the losses (the calibration set's order, which is random).
#pragma once

#include <vector>

namespace calm {

// ln max_t K_t(mu) over the losses in their order (0 for no losses: the capital never moved).
double wsr_log_capital(const std::vector<double>& losses, double mu, double epsilon);

// min(1, 1 / max_t K_t(delta)): the p-value for "the expected loss is at least delta".
// Throws calm::Error unless delta and epsilon are in (0, 1) and the losses in [0, 1].
double wsr_pvalue(const std::vector<double>& losses, double delta, double epsilon);

// The upper confidence bound at level 1 - epsilon: the smallest mu in (0, 1]
// at which max_t K_t(mu) reaches 1/epsilon (to 1e-10; the capital grows with
// mu), or 1 when none does. With probability at least 1 - epsilon the expected
// loss is at most it.
double wsr_upper_bound(const std::vector<double>& losses, double epsilon);

}  // namespace calm
