// The anytime bounds of calibrate/online_bounds.h that `calm serve` watches
// its guarantee with. Checked against closed forms where the relative entropy
// has one, against Pinsker's inequality (never wider than the quadratic
// Hoeffding bound), and by simulation: over many streams of Bernoulli losses
// the bounds, watched after every loss, exclude the true mean in at most an
// epsilon fraction of the streams.
#include <QtTest>

#include <cmath>
#include <random>

#include "calibrate/online_bounds.h"
#include "calibrate/pvalues.h"
#include "util/error.h"

using namespace calm;

namespace {

double budget(std::int64_t n, double epsilon) { return std::log(double(n) * double(n + 1) / epsilon); }

}  // namespace

class TestOnlineBounds : public QObject {
  Q_OBJECT

 private slots:
  void no_losses_bound_nothing() {
    const LossBounds b = anytime_loss_bounds(0.0, 0, 0.05);
    QCOMPARE(b.lower, 0.0);
    QCOMPARE(b.upper, 1.0);
  }

  // All losses 0: h(0, p) = -ln(1 - p), so upper = 1 - exp(-L / n).
  // All losses 1: h(1, p) = -ln p, so lower = exp(-L / n).
  void closed_forms_at_the_ends() {
    for (std::int64_t n : {1, 2, 7, 50, 1000, 100000}) {
      for (double epsilon : {0.01, 0.05, 0.2}) {
        const double L = budget(n, epsilon);
        const LossBounds zero = anytime_loss_bounds(0.0, n, epsilon);
        QCOMPARE(zero.lower, 0.0);
        QVERIFY2(std::abs(zero.upper - (1.0 - std::exp(-L / double(n)))) < 1e-10, qPrintable(QString::number(n)));
        const LossBounds one = anytime_loss_bounds(1.0, n, epsilon);
        QCOMPARE(one.upper, 1.0);
        QVERIFY2(std::abs(one.lower - std::exp(-L / double(n))) < 1e-10, qPrintable(QString::number(n)));
      }
    }
  }

  // Inside (0, 1) each bound solves n h(E, p) = L, and Pinsker's
  // h(a, b) >= 2 (a - b)^2 puts it within sqrt(L / 2n) of the mean.
  void solves_the_equation_within_pinsker() {
    for (std::int64_t n : {20, 200, 5000}) {
      for (double mean : {0.05, 0.3, 0.5, 0.9}) {
        const double L = budget(n, 0.05);
        const LossBounds b = anytime_loss_bounds(mean, n, 0.05);
        QVERIFY(b.lower <= mean && mean <= b.upper);
        const double half_width = std::sqrt(L / (2.0 * double(n)));
        QVERIFY(b.upper <= mean + half_width + 1e-12);
        QVERIFY(b.lower >= mean - half_width - 1e-12);
        if (b.upper < 1.0) QVERIFY(std::abs(double(n) * kl_bernoulli(mean, b.upper) - L) < 1e-6 * L);
        if (b.lower > 0.0) QVERIFY(std::abs(double(n) * kl_bernoulli(mean, b.lower) - L) < 1e-6 * L);
      }
    }
    // More losses, narrower bounds.
    QVERIFY(anytime_loss_bounds(0.3, 10000, 0.05).upper < anytime_loss_bounds(0.3, 100, 0.05).upper);
  }

  // Bernoulli(mu) losses, the bounds checked after every one: the fraction of
  // streams in which either bound ever excludes mu stays under epsilon (the
  // union bound makes it far smaller in practice). A bound computed for a
  // fixed n (budget ln(1/epsilon)) and watched the same way fails more often.
  void coverage_when_watched_after_every_loss() {
    const double epsilon = 0.2, mu = 0.3;
    const int streams = 300, length = 200;
    std::mt19937_64 rng(7);
    std::bernoulli_distribution draw(mu);
    int anytime_misses = 0, fixed_n_misses = 0;
    for (int s = 0; s < streams; ++s) {
      RunningLoss running;
      bool anytime_missed = false, fixed_missed = false;
      for (int i = 0; i < length; ++i) {
        running.add(draw(rng) ? 1.0 : 0.0);
        const LossBounds b = running.bounds(epsilon);
        anytime_missed |= b.lower > mu || b.upper < mu;
        // The same relative-entropy bound with the fixed-n budget ln(2 / epsilon).
        const double n = double(running.count()), e = running.mean();
        fixed_missed |= (e > mu && n * kl_bernoulli(e, mu) > std::log(2.0 / epsilon)) ||
                        (e < mu && n * kl_bernoulli(e, mu) > std::log(2.0 / epsilon));
      }
      anytime_misses += anytime_missed;
      fixed_n_misses += fixed_missed;
    }
    QVERIFY2(anytime_misses <= epsilon * streams,
             qPrintable(QString("%1 of %2 streams").arg(anytime_misses).arg(streams)));
    // The control: checking a fixed-n bound after every loss is not valid.
    QVERIFY2(fixed_n_misses > anytime_misses, qPrintable(QString("%1 vs %2").arg(fixed_n_misses).arg(anytime_misses)));
  }

  void refuses_bad_arguments() {
    QVERIFY_THROWS_EXCEPTION(Error, anytime_loss_bounds(0.5, 10, 0.0));
    QVERIFY_THROWS_EXCEPTION(Error, anytime_loss_bounds(0.5, 10, 1.0));
    QVERIFY_THROWS_EXCEPTION(Error, anytime_loss_bounds(1.5, 10, 0.05));
    QVERIFY_THROWS_EXCEPTION(Error, anytime_loss_bounds(0.5, -1, 0.05));
    RunningLoss r;
    QVERIFY_THROWS_EXCEPTION(Error, r.add(-0.1));
    QVERIFY_THROWS_EXCEPTION(Error, r.add(std::nan("")));
    QCOMPARE(r.count(), std::int64_t(0));
  }
};

QTEST_APPLESS_MAIN(TestOnlineBounds)
#include "test_online_bounds.moc"
