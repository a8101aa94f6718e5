// The Waudby-Smith-Ramdas betting p-value and bound (core/calibrate/wsr.h)
// against numpy/scipy (tests/fixtures/calibration/wsr_reference.json, made by
// make_wsr_reference.py from RCPS's published WSR_mu_plus), and conformal
// risk control (core/calibrate/crc.h) against hand-computed cases.
#include <QtTest>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "calibrate/crc.h"
#include "calibrate/ltt.h"
#include "calibrate/wsr.h"
#include "util/error.h"

using namespace calm;

class TestWsr : public QObject {
  Q_OBJECT

 private slots:
  void matches_reference() {
    std::ifstream file(std::string(CALM_FIXTURES_DIR) + "/calibration/wsr_reference.json");
    QVERIFY(file);
    const auto cases = nlohmann::json::parse(file).at("cases");
    QVERIFY(cases.size() >= 10);
    for (const auto& c : cases) {
      const auto losses = c.at("losses").get<std::vector<double>>();
      const double epsilon = c.at("epsilon").get<double>();
      const auto deltas = c.at("deltas").get<std::vector<double>>();
      const auto pvalues = c.at("pvalues").get<std::vector<double>>();
      for (std::size_t k = 0; k < deltas.size(); ++k) {
        const double p = wsr_pvalue(losses, deltas[k], epsilon);
        // relative 1e-9 (the sums run in another order), absolute below 1e-300
        QVERIFY2(std::fabs(p - pvalues[k]) <= 1e-9 * pvalues[k] + 1e-300,
                 qPrintable(QString("%1 n=%2 delta=%3: %4 vs %5")
                                .arg(QString::fromStdString(c.at("kind").get<std::string>()))
                                .arg(losses.size()).arg(deltas[k]).arg(p, 0, 'g', 17).arg(pvalues[k], 0, 'g', 17)));
      }
      const double bound = wsr_upper_bound(losses, epsilon), want = c.at("upper_bound").get<double>();
      QVERIFY2(std::fabs(bound - want) <= 1e-9, qPrintable(QString("%1 vs %2").arg(bound, 0, 'g', 17).arg(want, 0, 'g', 17)));
      // The bound and the test agree: passing at delta means the bound is below it.
      for (double d : deltas)
        if (d > bound + 1e-9) QVERIFY(wsr_pvalue(losses, d, epsilon) <= epsilon);
    }
  }

  void hand_computed_capital() {
    // Two losses 0 at mu = 0.5, epsilon = e^-2 (ln(1/eps) = 2), n = 2:
    // nu_1 = min(1, sqrt(4 / (2 * 0.25))) = 1; after x_1 = 0, mu_1 = 0.5/2 = 0.25,
    // sigma2_1 = (0.25 + 0.0625) / 2 = 0.15625, nu_2 = min(1, sqrt(4 / 0.3125)) = 1.
    // K_2 = (1 + 0.5)^2 = 2.25.
    QVERIFY(std::fabs(wsr_log_capital({0.0, 0.0}, 0.5, std::exp(-2.0)) - 2.0 * std::log(1.5)) < 1e-15);
    // One loss of 1 at mu = 0.5: the capital falls (1 - 0.5), the maximum stays at the start, 1.
    QCOMPARE(wsr_log_capital({1.0}, 0.5, std::exp(-2.0)), 0.0);
    QCOMPARE(wsr_pvalue({}, 0.1, 0.05), 1.0);
    QVERIFY_THROWS_EXCEPTION(Error, wsr_pvalue({1.5}, 0.1, 0.05));
    QVERIFY_THROWS_EXCEPTION(Error, wsr_pvalue({0.5}, 0.0, 0.05));
  }

  void beats_hoeffding_bentkus_on_mostly_zero_losses() {
    // 1,000 losses: 950 zeros, 50 of 0.2 (mean 0.01, small spread). At delta
    // 0.02, epsilon 0.05 both pass, but WSR's p-value is far smaller; at
    // delta 0.015 HB fails (it only sees the mean) and WSR passes.
    std::vector<double> losses(1000, 0.0);
    for (std::size_t i = 0; i < losses.size(); i += 20) losses[i] = 0.2;
    LossTable table;
    table.lambdas = {1.0, 0.5};
    table.losses = {std::vector<double>(1000, 0.0), losses};
    QCOMPARE(choose_lambda(table, 0.015, 0.05, PValueMethod::HoeffdingBentkus).lambda, 1.0);
    QCOMPARE(choose_lambda(table, 0.015, 0.05, PValueMethod::Wsr).lambda, 0.5);
    QVERIFY(wsr_upper_bound(losses, 0.05) < 0.015);
  }

  void crc_hand_computed() {
    // 4 examples, grid 1, 0.5, 0. Real losses (rows: lambdas):
    //   1.0: 0 0 0 0
    //   0.5: 0 1 0 0      mean 0.25
    //   0.0: 1 0 0 0      mean 0.25, but example 2 fell from 1 to 0
    // Envelope: 0.5 row as is; 0.0 row = max with the rows above: 1 1 0 0, mean 0.5.
    // Bounds (n mean + 1) / (n + 1): 1/5, 2/5, 3/5.
    LossTable table;
    table.lambdas = {1.0, 0.5, 0.0};
    table.losses = {{0, 0, 0, 0}, {0, 1, 0, 0}, {1, 0, 0, 0}};
    const CrcResult at_half = choose_lambda_crc(table, 0.5);
    QCOMPARE(at_half.points[0].bound, 0.2);
    QCOMPARE(at_half.points[1].bound, 0.4);
    QCOMPARE(at_half.points[2].bound, 0.6);
    QCOMPARE(at_half.points[2].mean_loss, 0.25);  // the real mean, not the envelope's
    QCOMPARE(at_half.lambda, 0.5);
    QCOMPARE(choose_lambda_crc(table, 0.6).lambda, 0.0);
    QCOMPARE(choose_lambda_crc(table, 0.3).lambda, 1.0);
    // Too few examples to certify anything: 1/(n + 1) = 0.2 > 0.1.
    QVERIFY(!choose_lambda_crc(table, 0.1).chosen_index.has_value());
    // One fall out of 8 adjacent pairs.
    QCOMPARE(at_half.monotonicity.pairs_broken, 1.0 / 8.0);
    QCOMPARE(at_half.monotonicity.examples_broken, std::size_t(1));
    QVERIFY(!at_half.monotonicity.holds());
    QVERIFY(check_monotonicity(monotone_envelope(table)).holds());
    QCOMPARE(monotone_envelope(table).losses[2], (std::vector<double>{1, 1, 0, 0}));
  }
};

QTEST_APPLESS_MAIN(TestWsr)
#include "test_wsr.moc"
