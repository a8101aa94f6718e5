// The repetition remedies (decode/repetition.h): the processor against the
// numpy twin of transformers' processors (tests/fixtures/decoding/
// repetition_reference.json, made by make_repetition_reference.py), and the
// decoder's use of it: the full model's greedy run equals a greedy walk over
// teacher-forced logits processed by the same sequence, every exit policy
// honours the n-gram ban, verify mode still reproduces the full model and
// the oracle's exits replayed still give the oracle's tokens; with both remedies off
// the output is the PyTorch twin's, token for token.
#include <QtTest>

#include <cmath>
#include <limits>
#include <set>

#include "decode/decoder.h"
#include "decode/repetition.h"
#include "fixture_models.h"
#include "model/catalog.h"
#include "model/model.h"
#include "util/error.h"

using namespace calm;
using namespace calm::testing;

namespace {

const char* const kPrompt = "And God said, Let there be light";

// The sequence the remedies saw at the end of a run: decode/repetition.h.
std::vector<int> whole_sequence(const Model& model, const DecodeResult& r) {
  std::vector<int> seq = model.config.arch == Arch::EncoderDecoder ? std::vector<int>{model.config.decoder_start_id}
                                                                   : r.prompt_ids;
  seq.insert(seq.end(), r.tokens.begin(), r.tokens.end());
  return seq;
}

// The first n-gram of `seq` that occurs twice, as text for a message; "" when none does.
std::string repeated_ngram(const std::vector<int>& seq, int n) {
  std::set<std::vector<int>> seen;
  for (size_t i = 0; i + n <= seq.size(); ++i) {
    const std::vector<int> gram(seq.begin() + i, seq.begin() + i + n);
    if (!seen.insert(gram).second) {
      std::string text = "at " + std::to_string(i) + ":";
      for (int id : gram) text += " " + std::to_string(id);
      return text;
    }
  }
  return "";
}

DecodeOptions with_remedies(double penalty, int ngram, int max_new_tokens = 24) {
  DecodeOptions o;
  o.max_new_tokens = max_new_tokens;
  o.repetition_penalty = penalty;
  o.no_repeat_ngram = ngram;
  return o;
}

}  // namespace

class TestRepetition : public QObject {
  Q_OBJECT

 private slots:
  void processor_matches_reference() {
    const nlohmann::json ref = read_json(CALM_FIXTURES_DIR "/decoding/repetition_reference.json");
    QVERIFY(ref["cases"].size() >= 50);
    int banned_somewhere = 0, penalised_somewhere = 0;
    for (const auto& c : ref["cases"]) {
      ExitRule rule;
      rule.repetition_penalty = c["repetition_penalty"].get<double>();
      rule.no_repeat_ngram = c["no_repeat_ngram_size"].get<int>();
      const auto seq = c["sequence"].get<std::vector<int>>();
      const auto& in = c["logits"];
      const auto& expected = c["expected"];
      Vector logits(static_cast<Eigen::Index>(in.size()));
      for (size_t i = 0; i < in.size(); ++i) logits[i] = in[i].get<float>();
      RepetitionProcessor p(rule, static_cast<int>(logits.size()), 16);
      p.reset(seq);
      p.prepare();
      const std::set<int> banned(p.banned().begin(), p.banned().end());
      QCOMPARE(std::vector<int>(banned.begin(), banned.end()), c["banned"].get<std::vector<int>>());
      p.apply(logits);
      for (size_t i = 0; i < expected.size(); ++i) {
        const std::string where = c.dump().substr(0, 80) + " id " + std::to_string(i);
        if (expected[i].is_null()) {
          QVERIFY2(std::isinf(logits[i]) && logits[i] < 0, where.c_str());
          ++banned_somewhere;
        } else {
          // Exact: one float32 multiplication or division, as numpy did it.
          QVERIFY2(logits[i] == expected[i].get<float>(), where.c_str());
          penalised_somewhere += expected[i].get<float>() != in[i].get<float>();
        }
      }
    }
    QVERIFY(banned_somewhere > 10);
    QVERIFY(penalised_somewhere > 10);
  }

  // push and truncate keep the processor as reset() would make it (verify
  // mode rewinds over its drafts this way).
  void rewinding_equals_a_fresh_sequence() {
    ExitRule rule;
    rule.repetition_penalty = 1.5;
    rule.no_repeat_ngram = 2;
    const std::vector<int> seq = {4, 1, 4, 2, 4, 1, 3, 3};
    RepetitionProcessor rewound(rule, 6, 16);
    rewound.reset(seq);
    rewound.truncate(3);
    rewound.push(1);
    RepetitionProcessor fresh(rule, 6, 16);
    fresh.reset({4, 1, 4, 1});
    QCOMPARE(rewound.sequence(), fresh.sequence());
    rewound.prepare();
    fresh.prepare();
    Vector a = Vector::LinSpaced(6, -2.0f, 3.0f), b = a;
    rewound.apply(a);
    fresh.apply(b);
    for (int i = 0; i < 6; ++i) QVERIFY(a[i] == b[i] || (std::isinf(a[i]) && std::isinf(b[i])));
    QVERIFY(std::isinf(a[4]));   // (1, 4) occurred: 4 is banned after 1
    QCOMPARE(a[5], 3.0f);        // 5 never occurred: untouched
    QCOMPARE(a[1], -1.5f);      // -1 * 1.5: penalised once, though 1 occurs twice
    QVERIFY_THROWS_EXCEPTION(Error, rewound.push(6));
  }

  void bad_values_are_refused() {
    for (double penalty : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN(),
                           std::numeric_limits<double>::infinity(), 1001.0}) {
      ExitRule rule;
      rule.repetition_penalty = penalty;
      try {
        rule.validate();
        QFAIL("a bad repetition penalty must be refused");
      } catch (const Error& e) {
        QVERIFY2(QString(e.what()).contains("repetition penalty"), e.what());
      }
    }
    for (int n : {-1, 65}) {
      ExitRule rule;
      rule.no_repeat_ngram = n;
      try {
        rule.validate();
        QFAIL("a bad n-gram size must be refused");
      } catch (const Error& e) {
        QVERIFY2(QString(e.what()).contains("n-gram"), e.what());
      }
    }
    const Model model = load_model(fixture_models_dir() + "/llama-tied");
    Decoder decoder(model);
    QVERIFY_THROWS_EXCEPTION(Error, decoder.generate(kPrompt, with_remedies(-2.0, 0)));
  }

  void models_data() {
    QTest::addColumn<QString>("dir");
    for (const char* name : {"t5-gated-untied-f32", "t5-relu-tied", "llama-tied", "llama-gqa-untied-f32"})
      QTest::newRow(name) << QString::fromStdString(fixture_models_dir() + "/" + name);
  }

  // Both off, set explicitly: the PyTorch twin's greedy tokens, unchanged.
  void off_is_unchanged_data() { models_data(); }
  void off_is_unchanged() {
    QFETCH(QString, dir);
    const Model model = load_model(dir.toStdString());
    const nlohmann::json expected = read_json(dir.toStdString() + "/expected.json");
    Decoder decoder(model);
    DecodeOptions o = with_remedies(1.0, 0, expected["max_new_tokens"].get<int>());
    const DecodeResult r = decoder.generate(expected["prompt"].get<std::string>(), o);
    QCOMPARE(r.tokens, expected["greedy_ids"].get<std::vector<int>>());
  }

  // The full model with the remedies is the greedy walk over its top layer's
  // teacher-forced logits, each position processed against the sequence
  // before it: the decoder feeds the processor the right ids at the right time.
  void full_model_equals_processed_teacher_forcing_data() { models_data(); }
  void full_model_equals_processed_teacher_forcing() {
    QFETCH(QString, dir);
    const Model model = load_model(dir.toStdString());
    const ModelConfig& c = model.config;
    const bool t5 = c.arch == Arch::EncoderDecoder;
    Decoder decoder(model);
    const std::vector<int> plain = decoder.generate(kPrompt, with_remedies(1.0, 0)).tokens;
    int changed = 0;
    for (const auto& [penalty, ngram] : {std::pair{1.0, 2}, std::pair{1.8, 0}, std::pair{1.3, 3}}) {
      const DecodeOptions o = with_remedies(penalty, ngram);
      const DecodeResult r = decoder.generate(kPrompt, o);
      changed += r.tokens != plain;
      QVERIFY(!r.tokens.empty());
      const std::vector<int> seq = whole_sequence(model, r);
      const int start = static_cast<int>(seq.size() - r.tokens.size());  // the first generated token's index
      const std::vector<int> fed(seq.begin(), seq.end() - 1);
      const std::vector<Matrix> logits = t5 ? decoder.layer_logits(r.prompt_ids, fed) : decoder.layer_logits({}, fed);
      RepetitionProcessor p(o, c.vocab_size, static_cast<int>(seq.size()));
      for (int t = 0; t < static_cast<int>(r.tokens.size()); ++t) {
        p.reset(std::vector<int>(seq.begin(), seq.begin() + start + t));
        p.prepare();
        Vector row = logits[c.decoder_layers - 1].row(start + t - 1).transpose();
        p.apply(row);
        QCOMPARE(r.tokens[t], argmax(row));
      }
      if (ngram > 0) QCOMPARE(QString::fromStdString(repeated_ngram(seq, ngram)), QString());
    }
    QVERIFY2(changed >= 2, "these tiny random models loop: the remedies must change their output");
  }

  // Every way of choosing tokens honours the ban, and the remedies keep the
  // decoder's promises: verify mode gives the full model's output, the
  // oracle's exits replayed statically give the oracle's tokens, lambda 1 is
  // the full model.
  void every_policy_honours_the_ban_data() { models_data(); }
  void every_policy_honours_the_ban() {
    QFETCH(QString, dir);
    const Model model = load_model(dir.toStdString());
    Decoder decoder(model);
    const DecodeOptions base = with_remedies(1.2, 2);
    const DecodeResult full = decoder.generate(kPrompt, base.full_model());
    for (double lambda : {0.0, 0.4, 0.8}) {
      DecodeOptions o = base;
      o.lambda = lambda;
      for (Measure m : {Measure::Softmax, Measure::State}) {
        o.measure = m;
        const DecodeResult r = decoder.generate(kPrompt, o);
        QCOMPARE(QString::fromStdString(repeated_ngram(whole_sequence(model, r), 2)), QString());
        o.verify_draft = 3;
        QCOMPARE(decoder.generate(kPrompt, o).tokens, full.tokens);
        o.verify_draft = 0;
      }
    }
    // The oracle compares the layers' processed predictions: its token is the
    // top layer's processed argmax, which the trace's top-1 shows.
    const int L = model.config.decoder_layers;
    DecodeOptions oracle = base;
    oracle.policy = ExitPolicy::Oracle;
    oracle.trace = true;
    const DecodeResult o_run = decoder.generate(kPrompt, oracle);
    QCOMPARE(QString::fromStdString(repeated_ngram(whole_sequence(model, o_run), 2)), QString());
    for (const TokenTrace& t : o_run.trace) {
      QCOMPARE(t.token, t.top[L - 1][0].id);
      QCOMPARE(t.top[t.exit_layer - 1][0].id, t.token);
    }
    DecodeOptions replay = base;
    replay.policy = ExitPolicy::Static;
    replay.static_layer = L;
    replay.exit_schedule = o_run.exit_layers;
    QCOMPARE(decoder.generate(kPrompt, replay).tokens, o_run.tokens);
    DecodeOptions shallow = base;
    shallow.policy = ExitPolicy::Static;
    shallow.static_layer = 1;
    QCOMPARE(QString::fromStdString(repeated_ngram(whole_sequence(model, decoder.generate(kPrompt, shallow)), 2)),
             QString());
    DecodeOptions one = base;
    one.lambda = 1.0;
    QCOMPARE(decoder.generate(kPrompt, one).tokens, full.tokens);
  }

  // The calibration sweep's shortcut (resume keeps the tokens a lower lambda
  // would reproduce) feeds the kept tokens to the remedies' sequence too.
  void resume_equals_fresh_run_data() { models_data(); }
  void resume_equals_fresh_run() {
    QFETCH(QString, dir);
    const Model model = load_model(dir.toStdString());
    Decoder chained(model), fresh(model);
    DecodeOptions o = with_remedies(1.2, 2);
    o.lambda = 0.95;
    DecodeResult previous = chained.generate(kPrompt, o);
    int kept = 0;
    for (double lambda = 0.8; lambda > 0.0; lambda -= 0.2) {
      o.lambda = lambda;
      const int keep = Decoder::shared_prefix(previous, o);
      const DecodeResult resumed = chained.resume(previous, keep, o);
      QCOMPARE(resumed.tokens, fresh.generate(kPrompt, o).tokens);
      kept += keep;
      previous = resumed;
    }
    QVERIFY2(kept > 0, "nothing was kept: the test would prove little");
  }

  // The shipped models, as a demo would run them: no bigram twice.
  void bundled_models_repeat_no_bigram() {
    for (const char* name : {"prose", "kjv2web"}) {
      const Model model = load_model(resolve_model_dir(name));
      Decoder decoder(model);
      for (const char* prompt : {"Four score and seven years ago our fathers brought forth",
                                 "Call me Ishmael. Some years ago", "In the beginning God created"}) {
        const DecodeResult r = decoder.generate(prompt, with_remedies(1.0, 2, 48));
        const std::string repeat = repeated_ngram(whole_sequence(model, r), 2);
        QVERIFY2(repeat.empty(), (std::string(name) + ": \"" + r.text + "\" repeats " + repeat).c_str());
      }
    }
  }
};

QTEST_APPLESS_MAIN(TestRepetition)
#include "test_repetition.moc"
