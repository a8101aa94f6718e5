// Word tokenization for the metrics (core/calibrate/words.h), checked by hand
// and against an independent Python implementation
// (tests/fixtures/calibration/word_metrics_reference.json, made by
// make_word_metrics.py in the same folder; tolerance 1e-12).
#include <QtTest>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "calibrate/words.h"
#include "util/error.h"

using namespace calm;

namespace {

using Words = std::vector<std::string>;

double word_similarity(Metric metric, const std::string& candidate, const std::string& reference) {
  WordIds ids;
  const TokenIds c = ids(candidate);
  return similarity(metric, c, ids(reference));
}

}  // namespace

class TestWords : public QObject {
  Q_OBJECT

 private slots:
  void hand_computed_words() {
    QCOMPARE(words_of("Don't stop, Ægir!"), (Words{"don", "t", "stop", "ægir"}));
    QCOMPARE(words_of("  The\tCAT  sat.\n"), (Words{"the", "cat", "sat"}));
    QCOMPARE(words_of("co-operate__now 42nd"), (Words{"co", "operate", "now", "42nd"}));
    QCOMPARE(words_of("ΣΟΦΙΑ Мир"), (Words{"σοφια", "мир"}));
    QVERIFY(words_of("").empty());
    QVERIFY(words_of(" ... !?").empty());
    // Invalid UTF-8 separates words and never becomes one: a stray byte, a
    // truncated sequence, an overlong "/" and an encoded surrogate.
    QCOMPARE(words_of("ab\xff" "cd"), (Words{"ab", "cd"}));
    QCOMPARE(words_of("ab\xc3"), (Words{"ab"}));
    QCOMPARE(words_of("a\xc0\xaf" "b"), (Words{"a", "b"}));
    QCOMPARE(words_of("a\xed\xa0\x80" "b"), (Words{"a", "b"}));
  }

  void hand_computed_similarities() {
    // Pieces would differ in case and punctuation; words do not: identical.
    QCOMPARE(word_similarity(Metric::Exact, "The cat sat.", "the cat sat"), 1.0);
    // KJV vs WEB: 11 and 10 words, the LCS is the 10 of the reference:
    // ROUGE-L = 2 * 10 / 21.
    const double rouge = word_similarity(Metric::RougeL, "And God said, Let there be light: and there was light.",
                                         "God said, \"Let there be light,\" and there was light.");
    QVERIFY(std::fabs(rouge - 20.0 / 21.0) < 1e-15);
    // Token F1 of [the the the the] vs [the cat]: 1 in common, P = 1/4, R = 1/2, F1 = 1/3.
    QVERIFY(std::fabs(word_similarity(Metric::F1, "the the the the", "The cat!") - 1.0 / 3.0) < 1e-15);
  }

  void matches_python_reference_data() {
    QTest::addColumn<QString>("candidate");
    QTest::addColumn<QString>("reference");
    QTest::addColumn<QStringList>("candidateWords");
    QTest::addColumn<QStringList>("referenceWords");
    QTest::addColumn<QVariantList>("expected");  // token, rougeL, bleu, f1, exact
    std::ifstream file(std::string(CALM_FIXTURES_DIR) + "/calibration/word_metrics_reference.json");
    QVERIFY(file);
    const auto cases = nlohmann::json::parse(file).at("cases");
    QVERIFY(cases.size() >= 10);
    auto list = [](const nlohmann::json& j) {
      QStringList out;
      for (const auto& w : j) out << QString::fromStdString(w.get<std::string>());
      return out;
    };
    int row = 0;
    for (const auto& c : cases) {
      QVariantList expected;
      for (const char* m : {"token", "rougeL", "bleu", "f1", "exact"}) expected << c.at(m).get<double>();
      QTest::addRow("case %d", row++) << QString::fromStdString(c.at("candidate").get<std::string>())
                                      << QString::fromStdString(c.at("reference").get<std::string>())
                                      << list(c.at("candidate_words")) << list(c.at("reference_words")) << expected;
    }
  }

  void matches_python_reference() {
    QFETCH(QString, candidate);
    QFETCH(QString, reference);
    QFETCH(QStringList, candidateWords);
    QFETCH(QStringList, referenceWords);
    QFETCH(QVariantList, expected);
    const std::string c = candidate.toStdString(), r = reference.toStdString();
    QStringList computed;
    for (const auto& w : words_of(c)) computed << QString::fromStdString(w);
    QCOMPARE(computed, candidateWords);
    computed.clear();
    for (const auto& w : words_of(r)) computed << QString::fromStdString(w);
    QCOMPARE(computed, referenceWords);
    const Metric metrics[] = {Metric::Token, Metric::RougeL, Metric::Bleu, Metric::F1, Metric::Exact};
    for (int k = 0; k < 5; ++k) {
      const double value = word_similarity(metrics[k], c, r), want = expected[k].toDouble();
      QVERIFY2(std::fabs(value - want) <= 1e-12,
               qPrintable(QString("%1: %2 vs %3").arg(metric_name(metrics[k])).arg(value, 0, 'g', 17).arg(want, 0, 'g', 17)));
    }
  }

  void unit_names_round_trip() {
    for (TextUnit u : {TextUnit::Words, TextUnit::Pieces}) QCOMPARE(parse_text_unit(text_unit_name(u)), u);
    QVERIFY_THROWS_EXCEPTION(Error, parse_text_unit("letters"));
  }
};

QTEST_APPLESS_MAIN(TestWords)
#include "test_words.moc"
