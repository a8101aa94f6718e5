// Similarity metrics and consistency losses on hand-computed cases. Each
// expected value is derived in the comment beside it; ratios of small
// integers are compared within 1e-12.
#include <QtTest>

#include <cmath>

#include "calibrate/metrics.h"
#include "util/error.h"

using namespace calm;

namespace {

bool is_near(double a, double b) { return std::fabs(a - b) <= 1e-12; }

#define CHECK_NEAR(computed, expected)                                                 \
  do {                                                                                 \
    const double c_ = (computed), e_ = (expected);                                      \
    QVERIFY2(is_near(c_, e_), (QByteArray(#computed " = ") + QByteArray::number(c_, 'g', 17) + \
                            ", expected " + QByteArray::number(e_, 'g', 17))          \
                               .constData());                                          \
  } while (false)

const std::vector<Metric> kAllMetrics = {Metric::Token, Metric::RougeL, Metric::Bleu,
                                         Metric::F1, Metric::Exact};

}  // namespace

class TestMetrics : public QObject {
  Q_OBJECT

 private slots:
  void empty_and_identical_are_one();
  void one_empty_is_zero();
  void token_agreement_cases();
  void rouge_l_cases();
  void bleu_cases();
  void f1_cases();
  void exact_cases();
  void corpus_bleu_cases();
  void strings_split_on_whitespace();
  void metric_names_round_trip();
  void textual_loss_cases();
  void risk_loss_cases();
};

void TestMetrics::empty_and_identical_are_one() {
  // Two empty outputs are the same output; so are two equal ones.
  const TokenIds empty, one{7}, many{1, 2, 3, 4, 5, 6};
  for (Metric m : kAllMetrics) {
    CHECK_NEAR(similarity(m, empty, empty), 1.0);
    // For BLEU a single token has no 2-, 3- or 4-grams; add-1 makes those
    // orders (0 + 1) / (0 + 1) = 1, so identical short outputs still score 1.
    CHECK_NEAR(similarity(m, one, one), 1.0);
    CHECK_NEAR(similarity(m, many, many), 1.0);
  }
}

void TestMetrics::one_empty_is_zero() {
  // Nothing in common with a non-empty sequence.
  const TokenIds empty, some{1, 2};
  for (Metric m : kAllMetrics) {
    CHECK_NEAR(similarity(m, empty, some), 0.0);
    CHECK_NEAR(similarity(m, some, empty), 0.0);
  }
}

void TestMetrics::token_agreement_cases() {
  // max len 4; positions 0 and 2 agree, 1 differs, 3 exists in one only: 2/4.
  CHECK_NEAR(token_agreement({1, 2, 3}, {1, 5, 3, 4}), 0.5);
  // A shift by one loses every position (agreement is positional): 0/4.
  CHECK_NEAR(token_agreement({1, 2, 3}, {0, 1, 2, 3}), 0.0);
  // 3 of 3 positions agree.
  CHECK_NEAR(token_agreement({4, 5, 6}, {4, 5, 6}), 1.0);
}

void TestMetrics::rouge_l_cases() {
  // LCS of [1 2 3 4] and [1 3 4 5 6] is [1 3 4], length 3: P = 3/4, R = 3/5,
  // F = 2 P R / (P + R) = 0.9 / 1.35 = 2/3.
  CHECK_NEAR(rouge_l({1, 2, 3, 4}, {1, 3, 4, 5, 6}), 2.0 / 3.0);
  // Reversed pair: LCS 1 of lengths 2 and 2: 2 * 1 / 4 = 1/2. Symmetric.
  CHECK_NEAR(rouge_l({1, 2}, {2, 1}), 0.5);
  CHECK_NEAR(rouge_l({1, 3, 4, 5, 6}, {1, 2, 3, 4}), 2.0 / 3.0);
  // No token in common.
  CHECK_NEAR(rouge_l({1, 2}, {3, 4}), 0.0);
}

void TestMetrics::bleu_cases() {
  // c = [1 2 3 4], r = [1 2 3 5]:
  //   p1 = 3/4 (1, 2, 3 match);
  //   p2 = (2 + 1)/(3 + 1) = 3/4 (12 and 23 match of 12 23 34);
  //   p3 = (1 + 1)/(2 + 1) = 2/3 (123 matches of 123 234);
  //   p4 = (0 + 1)/(1 + 1) = 1/2;
  //   |c| = |r| so BP = exp(1 - 1) = 1; BLEU = (3/4 * 3/4 * 2/3 * 1/2)^(1/4) = (3/16)^(1/4).
  CHECK_NEAR(sentence_bleu({1, 2, 3, 4}, {1, 2, 3, 5}), std::pow(3.0 / 16.0, 0.25));
  // Brevity: c = [1 2] is a prefix of r = [1 2 3 4]. p1 = 2/2, p2 = (1+1)/(1+1),
  // p3 = p4 = (0+1)/(0+1): all 1. BP = exp(1 - 4/2) = e^-1.
  CHECK_NEAR(sentence_bleu({1, 2}, {1, 2, 3, 4}), std::exp(-1.0));
  // The other way round BLEU is not symmetric: c = [1 2 3 4], r = [1 2]:
  // p1 = 2/4, p2 = (1+1)/(3+1), p3 = (0+1)/(2+1), p4 = (0+1)/(1+1); |c| > |r|
  // so BP = 1; BLEU = (1/2 * 1/2 * 1/3 * 1/2)^(1/4) = (1/24)^(1/4).
  CHECK_NEAR(sentence_bleu({1, 2, 3, 4}, {1, 2}), std::pow(1.0 / 24.0, 0.25));
  // Clipping: c = [1 1 1 1], r = [1 2]. Unigram 1 counts at most once: p1 = 1/4.
  // p2 = (0+1)/(3+1), p3 = (0+1)/(2+1), p4 = (0+1)/(1+1); BP = 1 (4 > 2).
  // BLEU = (1/4 * 1/4 * 1/3 * 1/2)^(1/4) = (1/96)^(1/4).
  CHECK_NEAR(sentence_bleu({1, 1, 1, 1}, {1, 2}), std::pow(1.0 / 96.0, 0.25));
  // No unigram in common: p1 = 0 is not smoothed, BLEU = 0.
  CHECK_NEAR(sentence_bleu({1, 2, 3}, {4, 5, 6}), 0.0);
}

void TestMetrics::f1_cases() {
  // c = [1 2 3 3], r = [3 3 3 4]: bag intersection {3, 3} = 2; P = R = 2/4; F1 = 1/2.
  CHECK_NEAR(token_f1({1, 2, 3, 3}, {3, 3, 3, 4}), 0.5);
  // c = [1 2], r = [1 .. 6]: common 2; P = 1, R = 1/3; F1 = (2/3)/(4/3) = 1/2.
  CHECK_NEAR(token_f1({1, 2}, {1, 2, 3, 4, 5, 6}), 0.5);
  // Bags ignore order.
  CHECK_NEAR(token_f1({1, 2, 3}, {3, 2, 1}), 1.0);
  CHECK_NEAR(token_f1({1, 2}, {3, 4}), 0.0);
}

void TestMetrics::exact_cases() {
  CHECK_NEAR(exact_match({1, 2, 3}, {1, 2, 3}), 1.0);
  CHECK_NEAR(exact_match({1, 2, 3}, {1, 2}), 0.0);
  CHECK_NEAR(exact_match({1, 2, 3}, {3, 2, 1}), 0.0);
}

void TestMetrics::corpus_bleu_cases() {
  // Pairs ([1 2 3 4], [1 2 3 5]) and ([6 7 8 9], [6 7 8 9]). Summed clipped
  // matches / counts: 1-grams (3+4)/(4+4), 2-grams (2+3)/(3+3), 3-grams
  // (1+2)/(2+2), 4-grams (0+1)/(1+1). Lengths 8 and 8: BP = 1.
  // BLEU = (7/8 * 5/6 * 3/4 * 1/2)^(1/4) = (105/384)^(1/4).
  CHECK_NEAR(corpus_bleu({{1, 2, 3, 4}, {6, 7, 8, 9}}, {{1, 2, 3, 5}, {6, 7, 8, 9}}),
             std::pow(105.0 / 384.0, 0.25));
  // Unsmoothed: the first pair alone has no 4-gram match, so corpus BLEU is 0.
  CHECK_NEAR(corpus_bleu({{1, 2, 3, 4}}, {{1, 2, 3, 5}}), 0.0);
  // A perfect prefix half as long: every precision is 1, BP = exp(1 - 10/5) = e^-1.
  CHECK_NEAR(corpus_bleu({{1, 2, 3, 4, 5}}, {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}), std::exp(-1.0));
  // Only empty pairs: identical, 1. Empty candidates for real references: 0.
  CHECK_NEAR(corpus_bleu({{}, {}}, {{}, {}}), 1.0);
  CHECK_NEAR(corpus_bleu({{}}, {{1, 2}}), 0.0);
  QVERIFY_THROWS_EXCEPTION(Error, corpus_bleu({{1}}, {{1}, {2}}));
}

void TestMetrics::strings_split_on_whitespace() {
  QCOMPARE(split_whitespace("  the\tcat \n sat\r\n"),
           (std::vector<std::string>{"the", "cat", "sat"}));
  QVERIFY(split_whitespace("").empty());
  QVERIFY(split_whitespace(" \t\n").empty());
  // Spacing does not matter, only the words.
  for (Metric m : kAllMetrics) CHECK_NEAR(similarity(m, "the cat  sat", "the\tcat sat\n"), 1.0);
  // "a b c d" vs "a b c e" is the [1 2 3 4] / [1 2 3 5] case above: (3/16)^(1/4).
  CHECK_NEAR(similarity(Metric::Bleu, "a b c d", "a b c e"), std::pow(3.0 / 16.0, 0.25));
  // Whitespace-only strings are empty sequences.
  CHECK_NEAR(similarity(Metric::RougeL, "  ", ""), 1.0);
  CHECK_NEAR(similarity(Metric::F1, "x", " "), 0.0);
}

void TestMetrics::metric_names_round_trip() {
  for (Metric m : kAllMetrics) QCOMPARE(parse_metric(metric_name(m)), m);
  QCOMPARE(QByteArray(metric_name(Metric::RougeL)), QByteArray("rougeL"));
  QVERIFY_THROWS_EXCEPTION(Error, parse_metric("rouge"));
  QVERIFY_THROWS_EXCEPTION(Error, parse_metric(""));
}

void TestMetrics::textual_loss_cases() {
  // Token agreement of [1 2 3 4] and [1 2 0 0] is 2/4: loss 1/2.
  CHECK_NEAR(textual_loss(Metric::Token, {1, 2, 3, 4}, {1, 2, 0, 0}), 0.5);
  CHECK_NEAR(textual_loss(Metric::RougeL, {1, 2, 3}, {1, 2, 3}), 0.0);
  CHECK_NEAR(textual_loss(Metric::Exact, {1}, {2}), 1.0);
  CHECK_NEAR(textual_loss(Metric::Bleu, {}, {}), 0.0);
}

void TestMetrics::risk_loss_cases() {
  const TokenIds reference{1, 2, 3, 4};
  const TokenIds full{1, 2, 3, 9};   // token agreement with the reference 3/4
  const TokenIds early{1, 2, 9, 9};  // 2/4
  // (1 - 2/4) - (1 - 3/4) = 1/4: the quality lost by exiting early.
  CHECK_NEAR(risk_loss(Metric::Token, early, full, reference), 0.25);
  // Early better than full: no loss (max with 0), not a negative one.
  CHECK_NEAR(risk_loss(Metric::Token, reference, full, reference), 0.0);
  // Same output, same risk: 0, however wrong both are.
  CHECK_NEAR(risk_loss(Metric::Token, {7, 7}, {7, 7}, reference), 0.0);
  // Full right, early entirely wrong: (1 - 0) - (1 - 1) = 1.
  CHECK_NEAR(risk_loss(Metric::Exact, {5}, reference, reference), 1.0);
}

QTEST_APPLESS_MAIN(TestMetrics)
#include "test_metrics.moc"
