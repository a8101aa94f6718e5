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

#include "calibrate/validate.h"
#include "model/error.h"

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

const Guarantee kGuarantee{Consistency::Textual, Metric::Token, 0.15, 0.5, PValueMethod::HoeffdingBentkus};

bool in_test(const Split& s, size_t i) { return std::find(s.test.begin(), s.test.end(), i) != s.test.end(); }

}  // namespace

class TestValidate : public QObject {
  Q_OBJECT

 private slots:
  void splits_partition_and_repeat();
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
