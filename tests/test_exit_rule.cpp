// The exit rule as one value: its JSON form round-trips every field and
// leaves the optional keys out at their defaults (so older files compare the
// same), its reader names the key at fault, one validation refuses what cannot
// be decoded, and the full-model rule never exits.
#include <QtTest>

#include <limits>

#include "decode/exit_rule.h"
#include "error_assertions.h"
#include "util/json_file.h"

using namespace calm;
using nlohmann::json;

namespace {

// Every field away from its default.
ExitRule sample() {
  ExitRule r;
  r.measure = Measure::State;
  r.lambda = 0.35;
  r.tau = 0.3;  // not a float: must be written as typed
  r.max_new_tokens = 17;
  r.first_exit_layer = 2;
  r.check_interval = 3;
  r.gate = Gate::Classifier;
  r.gate_threshold = 0.75;
  r.kv_mode = KvMode::Propagate;
  r.verify_draft = 4;
  r.repetition_penalty = 1.15;
  r.no_repeat_ngram = 3;
  return r;
}

ExitRule read(const json& j) { return ExitRule::from_json(JsonReader(j, "rule.json")); }

}  // namespace

class TestExitRule : public QObject {
  Q_OBJECT

 private slots:
  void json_round_trip_keeps_every_field() {
    const ExitRule r = sample();
    const json j = r.to_json();
    QVERIFY(read(j) == r);
    QCOMPARE(j.at("tau").dump(), std::string("0.3"));
    ExitRule fixed = r;
    fixed.verify_draft = 0;
    fixed.kv_mode = KvMode::Exact;
    fixed.policy = ExitPolicy::Static;
    fixed.static_layer = 2;
    QVERIFY(read(fixed.to_json()) == fixed);
    QCOMPARE(read(fixed.to_json()).static_layer, 2);
  }

  void defaults_leave_the_optional_keys_out() {
    const json j = ExitRule().to_json();
    QCOMPARE(j.size(), size_t{7});
    for (const char* key : {"gate", "gate_threshold", "policy", "static_layer", "verify_draft", "repetition_penalty",
                            "no_repeat_ngram_size"})
      QVERIFY2(!j.contains(key), key);
    QVERIFY(read(j) == ExitRule());
  }

  void equality_sees_every_field() {
    const ExitRule base = sample();
    int differing = 0;
    auto differs = [&](auto change) {
      ExitRule r = base;
      change(r);
      differing += !(r == base);
    };
    differs([](ExitRule& r) { r.policy = ExitPolicy::Oracle; });
    differs([](ExitRule& r) { r.measure = Measure::Softmax; });
    differs([](ExitRule& r) { r.lambda = 0.36; });
    differs([](ExitRule& r) { r.tau = 0.31; });
    differs([](ExitRule& r) { r.static_layer = 5; });
    differs([](ExitRule& r) { r.max_new_tokens = 18; });
    differs([](ExitRule& r) { r.first_exit_layer = 1; });
    differs([](ExitRule& r) { r.check_interval = 1; });
    differs([](ExitRule& r) { r.gate = Gate::State; });
    differs([](ExitRule& r) { r.gate_threshold = 0.5; });
    differs([](ExitRule& r) { r.kv_mode = KvMode::CatchUp; });
    differs([](ExitRule& r) { r.verify_draft = 2; });
    differs([](ExitRule& r) { r.repetition_penalty = 1.0; });
    differs([](ExitRule& r) { r.no_repeat_ngram = 0; });
    QCOMPARE(differing, 14);
  }

  void reader_names_the_key() {
    json j = sample().to_json();
    j["tau"] = -1;
    VERIFY_ERROR(read(j), "rule.json: key 'tau'", "outside");
    j = sample().to_json();
    j["kv_mode"] = "lazy";
    VERIFY_ERROR(read(j), "key 'kv_mode'", "lazy");
    j = sample().to_json();
    j.erase("check_interval");
    VERIFY_ERROR(read(j), "key 'check_interval' missing");
    j = sample().to_json();
    j["kv_mode"] = "exact";  // verify mode drafts with propagated K/V
    VERIFY_ERROR(read(j), "key 'verify_draft'", "propagated");
    j = sample().to_json();
    j["repetition_penalty"] = 0;
    VERIFY_ERROR(read(j), "key 'repetition_penalty'", "above 0");
    j["repetition_penalty"] = "strong";
    VERIFY_ERROR(read(j), "key 'repetition_penalty'");
    j = sample().to_json();
    j["no_repeat_ngram_size"] = -1;
    VERIFY_ERROR(read(j), "key 'no_repeat_ngram_size'", "outside");
    j["no_repeat_ngram_size"] = 2.5;
    VERIFY_ERROR(read(j), "key 'no_repeat_ngram_size'");
  }

  void validation_refuses_what_cannot_be_decoded() {
    ExitRule r;
    r.validate();
    r.check_interval = 0;
    VERIFY_ERROR(r.validate(), "check interval");
    r = ExitRule();
    r.tau = -0.5;
    VERIFY_ERROR(r.validate(), "tau");
    r = ExitRule();
    r.lambda = std::numeric_limits<double>::quiet_NaN();
    VERIFY_ERROR(r.validate(), "lambda");
    r = ExitRule();
    r.verify_draft = 3;
    r.policy = ExitPolicy::Static;
    VERIFY_ERROR(r.validate(), "verify mode");
  }

  void full_model_rule_never_exits() {
    const ExitRule full = sample().full_model();
    QVERIFY(!full.calm_exits());
    QVERIFY(full.policy == ExitPolicy::Full);
    QCOMPARE(full.lambda, 1.0);
    QCOMPARE(full.verify_draft, 0);
    QVERIFY(full.gate == Gate::None);
    QCOMPARE(full.max_new_tokens, 17);  // the same tokens' budget
    // and the same distribution: the loss compares like with like
    QCOMPARE(full.repetition_penalty, 1.15);
    QCOMPARE(full.no_repeat_ngram, 3);
    full.validate();
    // lambda 1 never exits, whatever tau; below 1 the schedule starts at
    // 0.9 lambda + 0.1 and decays toward 0.9 lambda.
    ExitRule calm = sample();
    calm.lambda = 1.0;
    QVERIFY(!calm.calm_exits());
    calm.lambda = 0.5;
    calm.tau = 4.0;
    QVERIFY(calm.calm_exits());
    QCOMPARE(calm.threshold(0), 0.55f);
    QVERIFY(calm.threshold(16) < calm.threshold(0));
    QVERIFY(calm.threshold(16) > 0.45f);
  }
};

QTEST_APPLESS_MAIN(TestExitRule)
#include "test_exit_rule.moc"
