// The random-split check of the guarantee, on a hand-built loss table whose
// answer per split is known: n = 10, grid {1, 0.5}. Lambda 1 has no loss;
// at lambda 0.5 only example 0 has loss 1. With delta 0.15, epsilon 0.5 and
// 8 calibration examples (Hoeffding-Bentkus):
//  - example 0 in the test part: the calibration mean at 0.5 is 0, p = 0.85^8
//    = 0.27 <= 0.5, so 0.5 is chosen and the test mean is 1/2 > delta: a violation;
//  - example 0 in the calibration part: the mean is 1/8, p = exp(-8 h(1/8, 0.15))
//    = 0.98 > 0.5, so lambda stays 1 and the test loss is 0: no violation.
// So the violation fraction is the fraction of splits with example 0 in test.
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <set>

#include "calibrate/sampling.h"
#include "calibrate/validate.h"
#include "util/error.h"

using namespace calm;

namespace {

LossTable known_table() {
  LossTable t;
  t.lambdas = {1.0, 0.5};
  t.losses = {std::vector<double>(10, 0.0), std::vector<double>(10, 0.0)};
  t.losses[1][0] = 1.0;
  t.layers = {std::vector<double>(10, 4.0), std::vector<double>(10, 2.0)};
  return t;
}

const Guarantee kGuarantee{Consistency::Textual, Metric::Token, 0.15, 0.5, CalibrationMethod::HoeffdingBentkus};

// A pool of 2,000 examples with binary losses and a known true risk: example i
// loses at grid point j (lambda 1 - 0.05 j) when u_i < 0.01 j, with the u_i
// spread evenly over [0, 1) in a random order. So the pool risk at point j is
// exactly 0.01 j, rising by 0.01 per point: with delta 0.1 point 10 sits at
// delta and point 11 (risk 0.11) just above it. Losses are monotone in lambda.
LossTable rising_risk_pool() {
  const std::size_t n = 2000;
  const std::vector<std::size_t> order = random_subset(n, n, 99);
  LossTable t;
  t.lambdas = lambda_grid(0.05);
  for (std::size_t j = 0; j < t.lambdas.size(); ++j) {
    std::vector<double> row(n);
    for (std::size_t i = 0; i < n; ++i) row[i] = (static_cast<double>(order[i]) + 0.5) / n < 0.01 * j ? 1.0 : 0.0;
    t.losses.push_back(row);
  }
  return t;
}

bool in_test(const Split& s, size_t i) { return std::find(s.test.begin(), s.test.end(), i) != s.test.end(); }

}  // namespace

class TestValidate : public QObject {
  Q_OBJECT

 private slots:
  void splits_partition_and_repeat();
  void clopper_pearson_matches_scipy();
  void broken_selector_fails_where_valid_ones_hold();
  void hand_made_splits_give_the_known_fraction();
  void random_splits_give_the_known_fraction();
  void speedups_from_a_run();
  void refusals();
};

void TestValidate::splits_partition_and_repeat() {
  const auto splits = random_splits(10, 20, 7);
  QCOMPARE(splits.size(), size_t{20});
  for (const Split& s : splits) {
    QCOMPARE(s.calibration.size(), size_t{8});
    QCOMPARE(s.test.size(), size_t{2});
    std::set<size_t> all(s.calibration.begin(), s.calibration.end());
    all.insert(s.test.begin(), s.test.end());
    QCOMPARE(all.size(), size_t{10});  // disjoint, and together every example
    QCOMPARE(*all.rbegin(), size_t{9});
  }
  const auto again = random_splits(10, 20, 7), other = random_splits(10, 20, 8);
  bool same = true, differs = false;
  for (size_t k = 0; k < splits.size(); ++k) {
    same = same && again[k].test == splits[k].test;
    differs = differs || other[k].test != splits[k].test;
  }
  QVERIFY(same);
  QVERIFY(differs);
  // Small sets still leave one example on each side.
  QCOMPARE(random_splits(2, 1, 0).front().test.size(), size_t{1});
}

void TestValidate::hand_made_splits_give_the_known_fraction() {
  std::vector<Split> splits(4);
  splits[0] = {{1, 2, 3, 4, 5, 6, 7, 8}, {0, 9}};  // violation
  splits[1] = {{0, 1, 2, 3, 4, 5, 6, 7}, {8, 9}};  // none
  splits[2] = {{0, 2, 3, 4, 5, 6, 7, 9}, {1, 8}};  // none
  splits[3] = {{1, 2, 3, 4, 5, 6, 8, 9}, {0, 7}};  // violation
  const ValidationSummary v = validate_guarantee(known_table(), kGuarantee, splits);
  QCOMPARE(v.splits, 4);
  QCOMPARE(v.calibration_size, size_t{8});
  QCOMPARE(v.test_size, size_t{2});
  QCOMPARE(v.violations, size_t{2});
  QCOMPARE(v.violation_fraction, 0.5);
  QCOMPARE(v.violation_se, 0.25);         // sqrt(0.5 * 0.5 / 4)
  QCOMPARE(v.mean_lambda, 0.75);          // (0.5 + 1 + 1 + 0.5) / 4
  QCOMPARE(v.mean_test_loss, 0.25);       // (0.5 + 0 + 0 + 0.5) / 4
  QCOMPARE(v.mean_test_layers, 3.0);      // (2 + 4 + 4 + 2) / 4
  QCOMPARE(v.outcomes[0].chosen_point, size_t{1});
  QVERIFY(v.outcomes[0].violated && !v.outcomes[1].violated);
  QCOMPARE(v.outcomes[1].lambda, 1.0);
}

void TestValidate::clopper_pearson_matches_scipy() {
  // Reference: scipy.stats.beta.ppf(0.025, k, n - k + 1) and
  // beta.ppf(0.975, k + 1, n - k); the ends in closed form (0 of 50:
  // 1 - 0.025^(1/50) = 0.0711; 1 of 1: lower 0.025).
  struct Case { size_t k, n; double lower, upper; };
  const Case cases[] = {{0, 50, 0.0, 0.07112173646419764},
                        {3, 50, 0.01254858783533406, 0.16548194660377288},
                        {50, 50, 0.9288782635358024, 1.0},
                        {10, 200, 0.02423416547210855, 0.09002753770135137},
                        {1, 1, 0.025, 1.0}};
  for (const Case& c : cases) {
    const Interval ci = clopper_pearson(c.k, c.n);
    QVERIFY2(std::fabs(ci.lower - c.lower) < 1e-9, qPrintable(QString::number(ci.lower, 'g', 17)));
    QVERIFY2(std::fabs(ci.upper - c.upper) < 1e-9, qPrintable(QString::number(ci.upper, 'g', 17)));
  }
  QVERIFY(std::fabs(clopper_pearson(0, 50).upper - (1.0 - std::pow(0.025, 1.0 / 50))) < 1e-12);
  QVERIFY_THROWS_EXCEPTION(Error, clopper_pearson(3, 2));
}

void TestValidate::broken_selector_fails_where_valid_ones_hold() {
  // 400 splits of 200 calibration examples from the pool above, delta 0.1,
  // epsilon 0.05. The empirical mean at point 11 (true risk 0.11) has
  // standard deviation about sqrt(0.11 * 0.89 / 200) = 0.022, so it is at
  // most 0.1 in about a third of the draws: the broken selector then picks a
  // lambda whose true risk exceeds delta, far more often than epsilon allows.
  const LossTable pool = rising_risk_pool();
  QVERIFY(std::fabs(pool.mean_loss(11) - 0.11) < 1e-12);
  const Guarantee g{Consistency::Textual, Metric::Token, 0.1, 0.05, CalibrationMethod::HoeffdingBentkus};
  const auto splits = random_splits_of_size(pool.examples(), 400, 5, 200);
  const ValidationSummary broken = validate_selector(pool, empirical_mean_selector(g.delta), "empirical-mean", g, splits);
  QVERIFY2(broken.true_violation_ci.lower > g.epsilon, qPrintable(QString::number(broken.true_violation_fraction)));
  // The certified selectors stay within epsilon on the same design (their
  // intervals reach below it), and CRC's mean true risk is at most delta.
  for (CalibrationMethod m : {CalibrationMethod::HoeffdingBentkus, CalibrationMethod::Hoeffding,
                              CalibrationMethod::Bentkus, CalibrationMethod::Wsr}) {
    Guarantee gm = g;
    gm.method = m;
    const ValidationSummary v = validate_guarantee(pool, gm, splits);
    QVERIFY2(v.true_violation_ci.lower <= g.epsilon, calibration_method_name(m));
    QVERIFY(v.true_violation_fraction <= broken.true_violation_fraction);
  }
  const ValidationSummary crc = validate_selector(pool, crc_selector(g.delta), "crc", g, splits);
  // The guarantee's method reaches the same selector through validate_guarantee.
  Guarantee by_method = g;
  by_method.method = CalibrationMethod::Crc;
  const ValidationSummary crc2 = validate_guarantee(pool, by_method, splits);
  QCOMPARE(crc2.selector, std::string("crc"));
  QCOMPARE(crc2.mean_true_risk, crc.mean_true_risk);
  QCOMPARE(crc2.mean_lambda, crc.mean_lambda);
  QVERIFY2(crc.mean_true_risk - 2.0 * crc.true_risk_se <= g.delta, qPrintable(QString::number(crc.mean_true_risk)));
  QCOMPARE(crc.selector, std::string("crc"));
  QCOMPARE(crc.pool_risk.size(), pool.grid_size());
}

void TestValidate::random_splits_give_the_known_fraction() {
  const auto splits = random_splits(10, 400, 0);
  const ValidationSummary v = validate_guarantee(known_table(), kGuarantee, splits);
  size_t zero_in_test = 0;
  for (const Split& s : splits) zero_in_test += in_test(s, 0);
  QCOMPARE(v.violations, zero_in_test);
  for (size_t k = 0; k < splits.size(); ++k) QCOMPARE(v.outcomes[k].violated, in_test(splits[k], 0));
  // Example 0 lands in the 2-of-10 test part with probability 0.2; 400 splits
  // give a standard error of 0.02, so 0.2 +- 0.08 is 4 standard errors.
  QVERIFY2(std::fabs(v.violation_fraction - 0.2) < 0.08, qPrintable(QString::number(v.violation_fraction)));
}

void TestValidate::speedups_from_a_run() {
  // Example i takes 2 s in full and (i < 5 ? 1 s : 0.5 s) at lambda 0.5.
  CalibrationRun run;
  run.settings.grid = {1.0, 0.5};
  for (size_t i = 0; i < 10; ++i) {
    run.examples.push_back(Example{"x", std::nullopt, nlohmann::json::object(), i + 1});
    ExampleOutputs o;
    o.full = {1};
    o.full_seconds = 2.0;
    o.full_flops = 10.0;
    o.early = {{1}, {1}};
    o.layers = {4.0, 2.0};
    o.seconds = {2.0, i < 5 ? 1.0 : 0.5};
    o.flops = {10.0, 5.0};
    run.outputs.push_back(o);
  }
  std::vector<Split> splits(2);
  splits[0] = {{1, 2, 3, 4, 5, 6, 7, 8}, {0, 9}};  // chooses 0.5: 4 s / 1.5 s
  splits[1] = {{0, 1, 2, 3, 4, 5, 6, 7}, {8, 9}};  // keeps 1: speedup 1
  ValidationSummary v = validate_guarantee(known_table(), kGuarantee, splits);
  add_speedups(v, run, splits);
  QCOMPARE(v.outcomes[0].measured_speedup, 4.0 / 1.5);
  QCOMPARE(v.outcomes[1].measured_speedup, 1.0);
  QCOMPARE(v.measured_speedup, (4.0 / 1.5 + 1.0) / 2);
  QCOMPARE(v.flops_speedup, (2.0 + 1.0) / 2);
}

void TestValidate::refusals() {
  QVERIFY_THROWS_EXCEPTION(Error, random_splits(1, 5, 0));
  QVERIFY_THROWS_EXCEPTION(Error, random_splits(10, 0, 0));
  LossTable no_full = known_table();
  no_full.lambdas = {0.9, 0.5};
  QVERIFY_THROWS_EXCEPTION(Error, validate_guarantee(no_full, kGuarantee, random_splits(10, 2, 0)));
  QVERIFY_THROWS_EXCEPTION(Error, validate_guarantee(known_table(), kGuarantee, {}));
}

QTEST_APPLESS_MAIN(TestValidate)
#include "test_validate.moc"
