// Learn-then-Test p-values and the binomial CDF under them.
//
// Reference values: tests/fixtures/calibration/{binomial,pvalue}_reference.json,
// made by make_reference.py in the same folder with mpmath at 60 digits and
// checked there against scipy.stats.binom (agreement within 1e-10 wherever the
// value is above 1e-300); the scipy values, kept in the same files, are
// checked here too where they are above 1e-300. Tolerances here:
//   * values > 1e-300: relative 1e-9;
//   * values <= 1e-300 (down into the subnormals): relative 1e-9 plus one
//     subnormal step (1e-323), and never 0 when the reference is not 0;
//   * natural logs of the CDF: absolute 1e-9 everywhere (= relative 1e-9 on
//     the value, and still meaningful far below the double range).
#include <QtTest>

#include <cmath>
#include <fstream>
#include <limits>
#include <numbers>

#include <nlohmann/json.hpp>

#include "calibrate/pvalues.h"
#include "util/error.h"

using namespace calm;

namespace {

constexpr double kRelTol = 1e-9;
constexpr double kLogAbsTol = 1e-9;

nlohmann::json load_cases(const char* name) {
  const std::string path = std::string(CALM_FIXTURES_DIR) + "/calibration/" + name;
  std::ifstream file(path);
  if (!file) qFatal("cannot open %s", path.c_str());
  return nlohmann::json::parse(file).at("cases");
}

bool close_value(double computed, double expected) {
  if (expected > 1e-300) return std::fabs(computed - expected) <= kRelTol * expected;
  if (expected > 0.0 && computed == 0.0) return false;  // an underflow to 0
  return std::fabs(computed - expected) <= kRelTol * expected + 1e-323;
}

QByteArray describe(double computed, double expected) {
  return QByteArray("computed ") + QByteArray::number(computed, 'g', 17) + ", expected " +
         QByteArray::number(expected, 'g', 17);
}

}  // namespace

class TestPValues : public QObject {
  Q_OBJECT

 private slots:
  void binomial_matches_reference_data();
  void binomial_matches_reference();
  void binomial_edges();
  void binomial_sums_to_one();
  void pvalues_match_reference_data();
  void pvalues_match_reference();
  void pvalues_hand_computed();
  void pvalue_is_one_at_or_above_delta();
  void count_ceiling_ignores_rounding_noise();
  void method_names_round_trip();
  void bad_arguments_throw();
};

void TestPValues::binomial_matches_reference_data() {
  QTest::addColumn<qint64>("k");
  QTest::addColumn<qint64>("n");
  QTest::addColumn<double>("p");
  QTest::addColumn<double>("cdf");
  QTest::addColumn<double>("log_cdf");
  QTest::addColumn<double>("scipy_cdf");
  for (const auto& c : load_cases("binomial_reference.json")) {
    const QByteArray name = "k=" + QByteArray::number(c.at("k").get<qint64>()) +
                            " n=" + QByteArray::number(c.at("n").get<qint64>()) +
                            " p=" + QByteArray::number(c.at("p").get<double>());
    QTest::newRow(name.constData())
        << c.at("k").get<qint64>() << c.at("n").get<qint64>() << c.at("p").get<double>()
        << c.at("cdf").get<double>() << c.at("log_cdf").get<double>()
        << c.at("scipy_cdf").get<double>();
  }
}

void TestPValues::binomial_matches_reference() {
  QFETCH(qint64, k);
  QFETCH(qint64, n);
  QFETCH(double, p);
  QFETCH(double, cdf);
  QFETCH(double, log_cdf);
  QFETCH(double, scipy_cdf);
  const double computed_log = binomial_log_cdf(k, n, p);
  QVERIFY2(std::fabs(computed_log - log_cdf) <= kLogAbsTol, describe(computed_log, log_cdf));
  const double computed = binomial_cdf(k, n, p);
  QVERIFY2(close_value(computed, cdf), describe(computed, cdf));
  // scipy.stats.binom.cdf itself, where it is trustworthy (above 1e-300).
  if (scipy_cdf > 1e-300)
    QVERIFY2(close_value(computed, scipy_cdf), "scipy: " + describe(computed, scipy_cdf));
}

void TestPValues::binomial_edges() {
  const double inf = std::numeric_limits<double>::infinity();
  // k >= n covers every outcome: exactly 1, log exactly 0.
  QCOMPARE(binomial_cdf(10, 10, 0.3), 1.0);
  QCOMPARE(binomial_cdf(11, 10, 0.3), 1.0);
  QCOMPARE(binomial_log_cdf(10, 10, 0.3), 0.0);
  // k < 0 covers none.
  QCOMPARE(binomial_cdf(-1, 10, 0.3), 0.0);
  QCOMPARE(binomial_log_cdf(-1, 10, 0.3), -inf);
  // p = 0: X is always 0. p = 1: X is always n.
  QCOMPARE(binomial_cdf(0, 10, 0.0), 1.0);
  QCOMPARE(binomial_cdf(9, 10, 1.0), 0.0);
  QCOMPARE(binomial_cdf(10, 10, 1.0), 1.0);
  // n = 0: X = 0 surely.
  QCOMPARE(binomial_cdf(0, 0, 0.5), 1.0);
  // P[X <= 0] = (1 - p)^n; for n = 10^6, p = 0.1 its log is 10^6 ln 0.9, far
  // below the double range, and must come back as a finite log, not -inf.
  const double expected = 1e6 * std::log(0.9);
  QVERIFY2(std::fabs(binomial_log_cdf(0, 1000000, 0.1) - expected) <= 1e-9 * std::fabs(expected),
           describe(binomial_log_cdf(0, 1000000, 0.1), expected));
  // The upper tail of Bin(10^6, 0.1) beyond 200000 is below 1e-4000: the CDF
  // is 1 to double precision and must be returned as exactly 1.
  QCOMPARE(binomial_cdf(200000, 1000000, 0.1), 1.0);
}

void TestPValues::binomial_sums_to_one() {
  // The pmf summed over all k is 1, and the CDF at k is the running sum: a
  // check of pmf and CDF against each other for sizes 1, 2, 7 and 50.
  for (std::int64_t n : {1, 2, 7, 50}) {
    for (double p : {0.01, 0.3, 0.5, 0.97}) {
      double running = 0.0;
      for (std::int64_t k = 0; k <= n; ++k) {
        running += std::exp(binomial_log_pmf(k, n, p));
        const double cdf = binomial_cdf(k, n, p);
        QVERIFY2(std::fabs(cdf - running) <= 1e-13, describe(cdf, running));
      }
      QVERIFY(std::fabs(running - 1.0) <= 1e-13);
    }
  }
}

void TestPValues::pvalues_match_reference_data() {
  QTest::addColumn<double>("mean_loss");
  QTest::addColumn<qint64>("n");
  QTest::addColumn<double>("delta");
  QTest::addColumn<double>("hoeffding");
  QTest::addColumn<double>("bentkus");
  QTest::addColumn<double>("hb");
  QTest::addColumn<double>("scipy_hb");
  for (const auto& c : load_cases("pvalue_reference.json")) {
    const QByteArray name = "E=" + QByteArray::number(c.at("mean_loss").get<double>(), 'g', 17) +
                            " n=" + QByteArray::number(c.at("n").get<qint64>()) +
                            " delta=" + QByteArray::number(c.at("delta").get<double>());
    QTest::newRow(name.constData())
        << c.at("mean_loss").get<double>() << c.at("n").get<qint64>()
        << c.at("delta").get<double>() << c.at("hoeffding").get<double>()
        << c.at("bentkus").get<double>() << c.at("hb").get<double>()
        << c.at("scipy").at("hb").get<double>();
  }
}

void TestPValues::pvalues_match_reference() {
  QFETCH(double, mean_loss);
  QFETCH(qint64, n);
  QFETCH(double, delta);
  QFETCH(double, hoeffding);
  QFETCH(double, bentkus);
  QFETCH(double, hb);
  QFETCH(double, scipy_hb);
  const double h = hoeffding_pvalue(mean_loss, n, delta);
  QVERIFY2(close_value(h, hoeffding), "hoeffding: " + describe(h, hoeffding));
  const double b = bentkus_pvalue(mean_loss, n, delta);
  QVERIFY2(close_value(b, bentkus), "bentkus: " + describe(b, bentkus));
  const double both = hoeffding_bentkus_pvalue(mean_loss, n, delta);
  QVERIFY2(close_value(both, hb), "hb: " + describe(both, hb));
  if (scipy_hb > 1e-300)
    QVERIFY2(close_value(both, scipy_hb), "scipy hb: " + describe(both, scipy_hb));
  QCOMPARE(pvalue(PValueMethod::HoeffdingBentkus, mean_loss, n, delta), both);
}

void TestPValues::pvalues_hand_computed() {
  // n = 10, delta = 0.25, E = 0 (no example lost anything):
  // Hoeffding: h(0, 0.25) = ln(1/0.75), so exp(-10 h) = 0.75^10 (the quadratic
  // form exp(-2 * 10 * 0.25^2) = exp(-1.25) = 0.29 would be far looser);
  // Bentkus e * P[Bin(10, 0.25) <= 0] = e * 0.75^10;
  // HB: the smaller of the two, 0.75^10.
  const double q10 = std::pow(0.75, 10);
  QVERIFY(std::fabs(hoeffding_pvalue(0.0, 10, 0.25) - q10) <= 1e-15);
  QVERIFY(std::fabs(bentkus_pvalue(0.0, 10, 0.25) - std::numbers::e * q10) <= 1e-15);
  QVERIFY(std::fabs(hoeffding_bentkus_pvalue(0.0, 10, 0.25) - q10) <= 1e-15);
  // n = 1, delta = 0.1, E = 0: Bentkus e * 0.9 > 1 is clipped to 1; HB = 0.9.
  QCOMPARE(bentkus_pvalue(0.0, 1, 0.1), 1.0);
  QVERIFY(std::fabs(hoeffding_bentkus_pvalue(0.0, 1, 0.1) - 0.9) <= 1e-15);
  // n = 0: no evidence at all.
  QCOMPARE(hoeffding_bentkus_pvalue(0.0, 0, 0.1), 1.0);
}

void TestPValues::pvalue_is_one_at_or_above_delta() {
  for (auto method : {PValueMethod::Hoeffding, PValueMethod::Bentkus,
                      PValueMethod::HoeffdingBentkus}) {
    QCOMPARE(pvalue(method, 0.1, 1000, 0.1), 1.0);  // E = delta
    QCOMPARE(pvalue(method, 0.2, 1000, 0.1), 1.0);  // E > delta
    QCOMPARE(pvalue(method, 1.0, 1, 0.1), 1.0);
  }
}

void TestPValues::count_ceiling_ignores_rounding_noise() {
  // 10 * 0.3 is 3.0000000000000004 in doubles; the count of lost examples is 3.
  QCOMPARE(loss_count_ceiling(0.3, 10), std::int64_t{3});
  QCOMPARE(loss_count_ceiling(0.0, 10), std::int64_t{0});
  QCOMPARE(loss_count_ceiling(1.0, 10), std::int64_t{10});
  QCOMPARE(loss_count_ceiling(0.31, 10), std::int64_t{4});  // 3.1 -> 4
  QCOMPARE(loss_count_ceiling(24999.0 / 100000, 100000), std::int64_t{24999});
}

void TestPValues::method_names_round_trip() {
  for (auto method : {PValueMethod::Hoeffding, PValueMethod::Bentkus,
                      PValueMethod::HoeffdingBentkus})
    QCOMPARE(parse_pvalue_method(pvalue_method_name(method)), method);
  QCOMPARE(parse_pvalue_method("hoeffding-bentkus"), PValueMethod::HoeffdingBentkus);
  QVERIFY_THROWS_EXCEPTION(Error, parse_pvalue_method("bonferroni"));
}

void TestPValues::bad_arguments_throw() {
  QVERIFY_THROWS_EXCEPTION(Error, hoeffding_pvalue(-0.1, 10, 0.1));
  QVERIFY_THROWS_EXCEPTION(Error, hoeffding_pvalue(1.5, 10, 0.1));
  QVERIFY_THROWS_EXCEPTION(Error, bentkus_pvalue(0.1, -1, 0.1));
  QVERIFY_THROWS_EXCEPTION(Error, hoeffding_bentkus_pvalue(0.1, 10, 0.0));
  QVERIFY_THROWS_EXCEPTION(Error, hoeffding_bentkus_pvalue(0.1, 10, 1.0));
  QVERIFY_THROWS_EXCEPTION(Error, hoeffding_bentkus_pvalue(std::nan(""), 10, 0.1));
  QVERIFY_THROWS_EXCEPTION(Error, binomial_cdf(1, 10, 1.5));
  QVERIFY_THROWS_EXCEPTION(Error, binomial_cdf(1, -10, 0.5));
}

QTEST_APPLESS_MAIN(TestPValues)
#include "test_pvalues.moc"
