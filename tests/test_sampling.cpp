// Seeded random orders and subsets (core/calibrate/sampling.h): what --limit
// and the app's example cap take from a calibration set.
#include <QtTest>

#include <algorithm>
#include <numeric>
#include <set>

#include "calibrate/sampling.h"

using namespace calm;

class TestSampling : public QObject {
  Q_OBJECT

 private slots:
  void shuffle_is_a_seeded_permutation() {
    for (std::size_t n : {0, 1, 2, 7, 1000}) {
      auto order = shuffled_indices(n, 3);
      QCOMPARE(order.size(), n);
      QCOMPARE(shuffled_indices(n, 3), order);  // the same seed, the same order
      std::sort(order.begin(), order.end());
      for (std::size_t i = 0; i < n; ++i) QCOMPARE(order[i], i);
    }
    QVERIFY(shuffled_indices(1000, 3) != shuffled_indices(1000, 4));
  }

  void shuffle_matches_fisher_yates_by_hand() {
    // Fisher-Yates from the back over mt19937_64(seed): position i - 1 swaps
    // with random() % i, for i = n .. 2. Replayed here step by step for n = 5.
    std::mt19937_64 random(11);
    std::vector<std::size_t> expected{0, 1, 2, 3, 4};
    for (std::size_t i = 5; i > 1; --i) std::swap(expected[i - 1], expected[random() % i]);
    QCOMPARE(shuffled_indices(5, 11), expected);
  }

  void every_position_is_equally_likely() {
    // Over 4,000 seeds, each element of 4 lands first about 1,000 times
    // (binomial sd sqrt(4000 * 0.25 * 0.75) = 27; the bound is 5 sd).
    std::vector<int> first(4, 0);
    for (std::uint64_t seed = 0; seed < 4000; ++seed) ++first[shuffled_indices(4, seed).front()];
    for (int count : first) QVERIFY2(std::abs(count - 1000) < 137, qPrintable(QString::number(count)));
  }

  void subset_is_random_not_the_first_lines() {
    const auto subset = random_subset(1000, 300, 0);
    QCOMPARE(subset.size(), std::size_t{300});
    QCOMPARE(std::set<std::size_t>(subset.begin(), subset.end()).size(), std::size_t{300});  // no repeats
    // The first 300 lines would have mean index 149.5 and maximum 299; a
    // uniform draw has mean index 499.5 (sd of the mean about 14.4 here).
    const double mean = std::accumulate(subset.begin(), subset.end(), 0.0) / 300.0;
    QVERIFY2(std::abs(mean - 499.5) < 72.0, qPrintable(QString::number(mean)));
    QVERIFY(*std::max_element(subset.begin(), subset.end()) >= 300);
    QCOMPARE(random_subset(10, 20, 0).size(), std::size_t{10});  // all of them, shuffled
  }

  void random_examples_keep_whole_examples() {
    std::vector<Example> set(50);
    for (std::size_t i = 0; i < set.size(); ++i) {
      set[i].input = "input " + std::to_string(i);
      set[i].line = i + 1;
    }
    const auto kept = random_examples(set, 10, 5);
    QCOMPARE(kept.size(), std::size_t{10});
    const auto order = random_subset(50, 10, 5);
    for (std::size_t k = 0; k < kept.size(); ++k) {
      QCOMPARE(kept[k].line, order[k] + 1);  // the line number travels with its example
      QCOMPARE(kept[k].input, "input " + std::to_string(order[k]));
    }
    // No limit, or a limit the set is within: the set unchanged, in file order.
    QCOMPARE(random_examples(set, 0, 5).size(), std::size_t{50});
    QCOMPARE(random_examples(set, 50, 5).front().line, std::size_t{1});
  }
};

QTEST_APPLESS_MAIN(TestSampling)
#include "test_sampling.moc"
