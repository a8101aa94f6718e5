// Fixed-sequence Learn-then-Test over hand-built loss tables whose answer is
// known: the losses are 0/1 per example, so a row's mean is count / n exactly,
// and the means are chosen far enough from the pass/fail boundary that the
// outcome does not hang on the p-value's last digits (values quoted from
// tests/fixtures/calibration/pvalue_reference.json).
#include <QtTest>

#include <cmath>

#include "calibrate/ltt.h"
#include "util/error.h"

using namespace calm;

namespace {

// A row of n losses with `lost` ones first and zeros after: mean lost / n.
std::vector<double> row(std::size_t n, std::size_t lost) {
  std::vector<double> losses(n, 0.0);
  for (std::size_t i = 0; i < lost && i < n; ++i) losses[i] = 1.0;
  return losses;
}

LossTable table_from_counts(const std::vector<double>& lambdas,
                            const std::vector<std::size_t>& lost, std::size_t n) {
  LossTable table;
  table.lambdas = lambdas;
  for (std::size_t count : lost) table.losses.push_back(row(n, count));
  return table;
}

// The chosen point passed, every tested point before it passed, and the walk
// stopped right after it (or ran off the end).
void check_walk_invariants(const CalibrationResult& r) {
  if (r.chosen_index) {
    const std::size_t c = *r.chosen_index;
    QVERIFY(r.points[c].p_value <= r.epsilon);
    QCOMPARE(r.lambda, r.points[c].lambda);
    for (std::size_t j = 0; j <= c; ++j) QVERIFY(r.points[j].tested && r.points[j].passed);
    if (c + 1 < r.points.size()) {
      QVERIFY(r.points[c + 1].tested);
      QVERIFY(!r.points[c + 1].passed);
    }
  } else {
    QCOMPARE(r.lambda, 1.0);
    QVERIFY(!r.points.front().passed);
  }
}

}  // namespace

class TestLtt : public QObject {
  Q_OBJECT

 private slots:
  void default_grid();
  void custom_grids();
  void bad_grids_throw();
  void monotone_losses();
  void bump_stops_the_walk();
  void none_valid_gives_one();
  void all_valid_gives_smallest();
  void new_delta_epsilon_reuse_the_table();
  void method_matters();
  void p_value_equal_to_epsilon_passes();
  void means_of_losses_and_layers();
  void malformed_tables_throw();
};

void TestLtt::default_grid() {
  // 1.0 down to 0.0 in steps of 0.05: 21 points, rounded so they print cleanly.
  const auto grid = lambda_grid();
  QCOMPARE(grid.size(), std::size_t{21});
  QCOMPARE(grid.front(), 1.0);
  QCOMPARE(grid[1], 0.95);
  QCOMPARE(grid[3], 0.85);  // 1 - 3 * 0.05 is 0.85000000000000009 before rounding
  QCOMPARE(grid.back(), 0.0);
  QVERIFY(!std::signbit(grid.back()));  // +0, not the -0.0 that rounding 1 - 20 * 0.05 gives
  for (std::size_t j = 1; j < grid.size(); ++j) QVERIFY(grid[j] < grid[j - 1]);
}

void TestLtt::custom_grids() {
  QCOMPARE(lambda_grid(0.1).size(), std::size_t{11});
  // 0.3 does not divide 1: 1.0, 0.7, 0.4, 0.1, and -0.2 is off the grid.
  QCOMPARE(lambda_grid(0.3), (std::vector<double>{1.0, 0.7, 0.4, 0.1}));
  QCOMPARE(lambda_grid(0.01, 1.0, 0.9).size(), std::size_t{11});
  QCOMPARE(lambda_grid(0.25, 0.5, 0.5), (std::vector<double>{0.5}));
}

void TestLtt::bad_grids_throw() {
  QVERIFY_THROWS_EXCEPTION(Error, lambda_grid(0.0));
  QVERIFY_THROWS_EXCEPTION(Error, lambda_grid(-0.05));
  QVERIFY_THROWS_EXCEPTION(Error, lambda_grid(0.05, 1.2));
  QVERIFY_THROWS_EXCEPTION(Error, lambda_grid(0.05, 0.5, 0.6));
  QVERIFY_THROWS_EXCEPTION(Error, lambda_grid(0.05, 1.0, -0.1));
  QVERIFY_THROWS_EXCEPTION(Error, lambda_grid(1e-9));  // a billion points
  QVERIFY_THROWS_EXCEPTION(Error, lambda_grid(1e-9));  // a billion points
}

void TestLtt::monotone_losses() {
  // n = 1000, delta = 0.1, epsilon = 0.05, Hoeffding-Bentkus. Means 0, 0.01,
  // 0.03, 0.05 are at least 5 standard errors under delta (HB p = 1.7e-46 ...
  // 1.6e-8); 0.2 and 0.4 are above delta, p = 1. The walk passes four points.
  const auto table = table_from_counts({1.0, 0.9, 0.8, 0.7, 0.6, 0.5},
                                       {0, 10, 30, 50, 200, 400}, 1000);
  const auto r = choose_lambda(table, 0.1, 0.05);
  QVERIFY(r.chosen_index.has_value());
  QCOMPARE(*r.chosen_index, std::size_t{3});
  QCOMPARE(r.lambda, 0.7);
  QCOMPARE(r.points[3].mean_loss, 0.05);
  QCOMPARE(r.points[4].p_value, 1.0);
  QCOMPARE(r.examples, std::size_t{1000});
  check_walk_invariants(r);
}

void TestLtt::bump_stops_the_walk() {
  // A bump at lambda 0.8 (mean 0.3 > delta) fails; 0.7 and 0.6 would pass on
  // their own but lie beyond the first failure, so they do not count.
  const auto table = table_from_counts({1.0, 0.9, 0.8, 0.7, 0.6, 0.5},
                                       {0, 20, 300, 30, 40, 500}, 1000);
  const auto r = choose_lambda(table, 0.1, 0.05);
  QCOMPARE(*r.chosen_index, std::size_t{1});
  QCOMPARE(r.lambda, 0.9);
  QVERIFY(!r.points[2].passed);
  QVERIFY(r.points[3].passed && !r.points[3].tested);
  QVERIFY(r.points[4].passed && !r.points[4].tested);
  check_walk_invariants(r);
}

void TestLtt::none_valid_gives_one() {
  // Even the safest point has mean 0.2 > delta = 0.1: nothing passes; answer 1
  // (never exit early), whatever the grid starts at.
  const auto r = choose_lambda(table_from_counts({1.0, 0.5}, {200, 300}, 1000), 0.1, 0.05);
  QVERIFY(!r.chosen_index.has_value());
  QCOMPARE(r.lambda, 1.0);
  check_walk_invariants(r);
  const auto r2 = choose_lambda(table_from_counts({0.9, 0.5}, {200, 0}, 1000), 0.1, 0.05);
  QVERIFY(!r2.chosen_index.has_value());
  QCOMPARE(r2.lambda, 1.0);
  QVERIFY(r2.points[1].passed && !r2.points[1].tested);
}

void TestLtt::all_valid_gives_smallest() {
  // Zero loss everywhere on the default grid: HB p = 0.9^1000 = 1.7e-46 at every point.
  const auto grid = lambda_grid();
  const auto table = table_from_counts(grid, std::vector<std::size_t>(grid.size(), 0), 1000);
  const auto r = choose_lambda(table, 0.1, 0.05);
  QCOMPARE(*r.chosen_index, grid.size() - 1);
  QCOMPARE(r.lambda, 0.0);
  check_walk_invariants(r);
}

void TestLtt::new_delta_epsilon_reuse_the_table() {
  // One table, several questions; only the stored losses are read.
  const auto table = table_from_counts({1.0, 0.9, 0.8, 0.7, 0.6, 0.5},
                                       {0, 10, 30, 50, 200, 400}, 1000);
  // delta 0.25: mean 0.2 is 3.7 standard errors below (HB p = 3.0e-4), so it
  // passes; 0.4 is above delta and does not.
  QCOMPARE(choose_lambda(table, 0.25, 0.05).lambda, 0.6);
  // delta 0.02: mean 0.01 gives HB p = 0.028 (reference E = 0.01, n = 1000).
  QCOMPARE(choose_lambda(table, 0.02, 0.05).lambda, 0.9);
  // ... which fails at epsilon 0.01, leaving only the zero-loss point.
  QCOMPARE(choose_lambda(table, 0.02, 0.01).lambda, 1.0);
  QCOMPARE(*choose_lambda(table, 0.02, 0.01).chosen_index, std::size_t{0});
  // The answers for the first question are unchanged by asking the others.
  QCOMPARE(choose_lambda(table, 0.1, 0.05).lambda, 0.7);

  // A table of 10^5 examples and 21 points is re-answered without a model.
  const auto grid = lambda_grid();
  std::vector<std::size_t> lost;
  for (std::size_t j = 0; j < grid.size(); ++j) lost.push_back(j * 600);  // means 0 .. 0.12
  const auto big = table_from_counts(grid, lost, 100000);
  for (double delta : {0.05, 0.1, 0.25}) check_walk_invariants(choose_lambda(big, delta, 0.05));
}

void TestLtt::method_matters() {
  // n = 100, delta = 0.1, 4 of 100 examples lost 1 at lambda 0.5 (mean 0.04).
  // Hoeffding exp(-100 h(0.04, 0.1)) = 0.0796 > 0.07 (fails); Bentkus
  // e * P[Bin(100, 0.1) <= 4] = e * 0.02371 = 0.0645 <= 0.07 (passes), and so
  // does Hoeffding-Bentkus, their minimum (values from mpmath at 30 digits).
  const auto table = table_from_counts({1.0, 0.5}, {0, 4}, 100);
  QCOMPARE(choose_lambda(table, 0.1, 0.07, PValueMethod::Hoeffding).lambda, 1.0);
  QCOMPARE(choose_lambda(table, 0.1, 0.07, PValueMethod::HoeffdingBentkus).lambda, 0.5);
  QCOMPARE(choose_lambda(table, 0.1, 0.07, PValueMethod::Bentkus).lambda, 0.5);
  QVERIFY(std::fabs(hoeffding_pvalue(0.04, 100, 0.1) - 0.0796164060104119) <= 1e-12);
  // Every loss 0 at risk delta 0.05 (the audit's case): the quadratic form
  // exp(-2 * 100 * 0.05^2) = 0.61 rejected even lambda = 1; the Learn-then-Test
  // form gives 0.95^100 = 0.00592 and passes.
  const auto zero = table_from_counts({1.0}, {0}, 100);
  QCOMPARE(choose_lambda(zero, 0.05, 0.05, PValueMethod::Hoeffding).chosen_index, std::optional<std::size_t>{0});
  QVERIFY(std::fabs(hoeffding_pvalue(0.0, 100, 0.05) - 0.00592052922033403) <= 1e-15);
}

void TestLtt::p_value_equal_to_epsilon_passes() {
  // The test rejects "not consistent" when p <= epsilon.
  const auto table = table_from_counts({1.0}, {0}, 10);
  const double p = hoeffding_bentkus_pvalue(0.0, 10, 0.1);  // 0.9^10 = 0.349
  QCOMPARE(choose_lambda(table, 0.1, p).chosen_index, std::optional<std::size_t>{0});
  QVERIFY(!choose_lambda(table, 0.1, std::nextafter(p, 0.0)).chosen_index.has_value());
}

void TestLtt::means_of_losses_and_layers() {
  LossTable table;
  table.lambdas = {1.0, 0.5};
  table.losses = {{0.0, 0.5, 0.25, 0.25}, {1.0, 0.0, 0.0, 0.0}};
  table.layers = {{8, 8, 8, 8}, {2, 4, 3, 3}};
  QCOMPARE(table.examples(), std::size_t{4});
  QCOMPARE(table.mean_loss(0), 0.25);
  QCOMPARE(table.mean_layers(1), 3.0);
  const auto r = choose_lambda(table, 0.5, 0.5);
  QCOMPARE(r.points[0].mean_loss, 0.25);
  QCOMPARE(r.points[1].mean_layers, 3.0);
  // Layers are optional.
  table.layers.clear();
  QCOMPARE(choose_lambda(table, 0.5, 0.5).points[1].mean_layers, 0.0);
}

void TestLtt::malformed_tables_throw() {
  const auto good = table_from_counts({1.0, 0.5}, {0, 0}, 10);
  auto t = good;
  t.lambdas = {0.5, 1.0};  // ascending
  QVERIFY_THROWS_EXCEPTION(Error, choose_lambda(t, 0.1, 0.05));
  t = good;
  t.losses[1].pop_back();  // ragged
  QVERIFY_THROWS_EXCEPTION(Error, choose_lambda(t, 0.1, 0.05));
  t = good;
  t.losses[0][3] = 1.5;  // out of [0, 1]
  QVERIFY_THROWS_EXCEPTION(Error, choose_lambda(t, 0.1, 0.05));
  t = good;
  t.losses.pop_back();  // rows != lambdas
  QVERIFY_THROWS_EXCEPTION(Error, choose_lambda(t, 0.1, 0.05));
  t = good;
  t.layers = {{1.0}};  // wrong shape
  QVERIFY_THROWS_EXCEPTION(Error, choose_lambda(t, 0.1, 0.05));
  QVERIFY_THROWS_EXCEPTION(Error, choose_lambda(LossTable{}, 0.1, 0.05));
  QVERIFY_THROWS_EXCEPTION(Error, choose_lambda(good, 0.0, 0.05));
  QVERIFY_THROWS_EXCEPTION(Error, choose_lambda(good, 0.1, 1.0));
}

QTEST_APPLESS_MAIN(TestLtt)
#include "test_ltt.moc"
