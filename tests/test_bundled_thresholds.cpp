// The certified thresholds shipped with the bundled models, and how they are
// found: every file is for today's weights and certified; each measure has
// delta 0.1 and 0.25 at the settings calm and the app start with, so both
// find them (prose also with repeated 3-grams banned); a larger delta never certifies a higher lambda; a file made for
// other weights, an exploratory one or a broken one is left out and named.
// (bundled_thresholds_fresh reproduces one model's files by calibrating.)
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>

#include "calibrate/bundled.h"
#include "util/hash.h"

namespace fs = std::filesystem;

class TestBundledThresholds : public QObject {
  Q_OBJECT

 private slots:
  void bundledModelsShipCertifiedThresholds() {
    for (const char* name : {"kjv2web", "prose"}) {
      const std::string dir = std::string(CALM_SOURCE_DIR) + "/resources/models/" + name;
      std::vector<std::string> problems;
      const auto files = calm::bundled_thresholds(dir, calm::file_hash(dir + "/model.safetensors"), &problems);
      QVERIFY2(problems.empty(), problems.empty() ? "" : problems.front().c_str());
      // prose also ships each file made with repeated 3-grams banned.
      const bool prose = std::string(name) == "prose";
      QCOMPARE(files.size(), std::size_t(prose ? 16 : 8));
      for (calm::Measure m : {calm::Measure::Softmax, calm::Measure::SoftmaxMax, calm::Measure::State,
                              calm::Measure::Classifier}) {
        calm::ExitRule rule;  // calm's defaults: tau 4, 64 new tokens, propagate, checks from layer 1
        rule.measure = m;
        calm::Guarantee g;  // textual rougeL on words, delta 0.1, epsilon 0.05, hb
        const calm::BundledThresholds* tight = calm::find_thresholds(files, rule, g);
        g.delta = 0.25;
        const calm::BundledThresholds* loose = calm::find_thresholds(files, rule, g);
        QVERIFY2(tight && loose, name);
        QCOMPARE(tight->thresholds.delta, 0.1);
        QCOMPARE(loose->thresholds.delta, 0.25);
        QVERIFY(loose->thresholds.lambda <= tight->thresholds.lambda);
        QCOMPARE(tight->thresholds.examples, std::size_t(1000));
        QVERIFY(!tight->thresholds.exploratory);
        // Any other setting finds nothing: the guarantee is for these settings only.
        calm::ExitRule other = rule;
        other.max_new_tokens = 48;
        QVERIFY(!calm::find_thresholds(files, other, g));
        other = rule;
        other.tau = 2;
        QVERIFY(!calm::find_thresholds(files, other, g));
        // The default files were made without the repetition remedies (files
        // from before they existed read as off): a run with them is not
        // covered, except by prose's files made with the 3-gram ban.
        other = rule;
        other.repetition_penalty = 1.2;
        QVERIFY(!calm::find_thresholds(files, other, g));
        other = rule;
        other.no_repeat_ngram = 3;
        const calm::BundledThresholds* banned = calm::find_thresholds(files, other, g);
        QCOMPARE(banned != nullptr, prose);
        if (banned) {
          QCOMPARE(banned->thresholds.no_repeat_ngram, 3);
          QCOMPARE(banned->thresholds.delta, 0.25);
          QVERIFY(banned->path.find("-nr3-d0.25.json") != std::string::npos);
        }
        other.no_repeat_ngram = 2;
        QVERIFY(!calm::find_thresholds(files, other, g));
        QCOMPARE(tight->thresholds.repetition_penalty, 1.0);
        QCOMPARE(tight->thresholds.no_repeat_ngram, 0);
        g.epsilon = 0.1;
        QVERIFY(!calm::find_thresholds(files, rule, g));
      }
    }
  }

  void otherWeightsExploratoryAndBrokenFilesAreLeftOut() {
    QTemporaryDir tmp;
    const std::string source = std::string(CALM_SOURCE_DIR) + "/resources/models/prose/thresholds/softmax-d0.1.json";
    const fs::path dir = fs::path(tmp.path().toStdString()) / "thresholds";
    fs::create_directories(dir);
    fs::copy_file(source, dir / "good.json");
    std::ifstream in(source);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(dir / "broken.json") << text.substr(0, text.size() / 2);
    const std::string certified = "\"certification\": \"certified\"";
    QVERIFY(text.find(certified) != std::string::npos);
    std::string exploratory = text;
    exploratory.replace(exploratory.find(certified), certified.size(), "\"certification\": \"exploratory\"");
    std::ofstream(dir / "seen.json") << exploratory;
    std::ofstream(dir / "notes.txt") << "not a thresholds file";

    const std::string hash = calm::read_thresholds(source).model_hash;
    std::vector<std::string> problems;
    auto files = calm::bundled_thresholds(tmp.path().toStdString(), hash, &problems);
    QCOMPARE(files.size(), std::size_t(1));
    QCOMPARE(fs::path(files[0].path).filename().string(), std::string("good.json"));
    QCOMPARE(problems.size(), std::size_t(2));
    QVERIFY(problems[0].find("broken.json") != std::string::npos);
    QVERIFY(problems[1].find("seen.json") != std::string::npos && problems[1].find("exploratory") != std::string::npos);

    problems.clear();
    files = calm::bundled_thresholds(tmp.path().toStdString(), "0123456789abcdef", &problems);
    QVERIFY(files.empty());
    QCOMPARE(problems.size(), std::size_t(3));
    QVERIFY(problems[1].find("good.json") != std::string::npos && problems[1].find("other weights") != std::string::npos);
    // No thresholds directory: nothing, and nothing to report.
    problems.clear();
    QVERIFY(calm::bundled_thresholds(std::string(CALM_FIXTURES_DIR) + "/models/t5-gated-untied-f32", hash, &problems).empty());
    QVERIFY(problems.empty());
  }

  void settingsDifferencesNameWhatDiffers() {
    calm::RunSettings calibrated;
    calm::ExitRule rule;
    QVERIFY(calm::settings_differences(calibrated, rule).empty());
    rule.measure = calm::Measure::State;
    rule.max_new_tokens = 10;
    const auto why = calm::settings_differences(calibrated, rule);
    QCOMPARE(why.size(), std::size_t(2));
    QCOMPARE(why[0], std::string("the softmax measure"));
    QCOMPARE(why[1], std::string("max new tokens = 64"));
    // The gate matters only to the softmax measures.
    rule = calm::ExitRule{};
    rule.gate = calm::Gate::State;
    QCOMPARE(calm::settings_differences(calibrated, rule).size(), std::size_t(1));
    calibrated.measure = rule.measure = calm::Measure::State;
    QVERIFY(calm::settings_differences(calibrated, rule).empty());
    // The repetition remedies change the outputs: a calibration without them
    // does not cover a run with them, nor the other way round.
    rule.repetition_penalty = 1.2;
    rule.no_repeat_ngram = 3;
    QCOMPARE(calm::settings_differences(calibrated, rule),
             (std::vector<std::string>{"no repetition penalty", "no n-gram ban"}));
    calibrated.repetition_penalty = 1.3;
    calibrated.no_repeat_ngram = 2;
    QCOMPARE(calm::settings_differences(calibrated, rule),
             (std::vector<std::string>{"repetition penalty 1.3", "no repeated 2-grams"}));
  }
};

QTEST_APPLESS_MAIN(TestBundledThresholds)
#include "test_bundled_thresholds.moc"
