// Golden parity with the PyTorch twin: the tiny fixture models, decoded by the
// C++ engine, give PyTorch's per-layer logits and hidden states (within 1e-4
// relative to the values' scale: F32 against a float64 reference), its greedy
// tokens exactly, and its tokenization of the prompt. The references for the
// F16/BF16 fixtures were computed from the rounded weights, so the same
// tolerance holds for every dtype.
#include <QtTest>

#include "decode/decoder.h"
#include "fixture_models.h"
#include "model/model.h"
#include "nn/forward.h"

using namespace calm;
using namespace calm::testing;

class TestParity : public QObject {
  Q_OBJECT

 private slots:
  void parity_data() {
    QTest::addColumn<QString>("dir");
    for (const auto& dir : fixture_model_dirs())
      QTest::newRow(std::filesystem::path(dir).filename().c_str()) << QString::fromStdString(dir);
  }

  void parity() {
    QFETCH(QString, dir);
    const Model model = load_model(dir.toStdString());
    const nlohmann::json expected = read_json(dir.toStdString() + "/expected.json");
    const SafeTensors reference(dir.toStdString() + "/expected.safetensors");
    Decoder decoder(model);

    // Tokenization: the ids the engine feeds for the prompt.
    const auto prompt_ids = decoder.prompt_ids(expected["prompt"].get<std::string>());
    QCOMPARE(prompt_ids, expected["prompt_ids"].get<std::vector<int>>());

    // Per-layer logits and hidden states under teacher forcing.
    const auto teacher = expected["teacher_ids"].get<std::vector<int>>();
    const bool t5 = model.config.arch == Arch::EncoderDecoder;
    std::vector<Matrix> hidden;
    const auto logits = decoder.layer_logits(t5 ? prompt_ids : std::vector<int>{}, teacher, &hidden);
    QCOMPARE(static_cast<int>(logits.size()), model.config.decoder_layers);
    for (int l = 0; l < model.config.decoder_layers; ++l) {
      const double logit_error = relative_error(logits[l], slice(reference, "layer_logits", l));
      const double hidden_error = relative_error(hidden[l], slice(reference, "layer_hidden", l));
      QVERIFY2(logit_error < 1e-4, qPrintable(QString("layer %1 logits off by %2").arg(l + 1).arg(logit_error)));
      QVERIFY2(hidden_error < 1e-4, qPrintable(QString("layer %1 hidden off by %2").arg(l + 1).arg(hidden_error)));
    }

    // The early-exit classifier on the raw hidden states.
    if (model.config.has_classifier()) {
      const std::vector<float> probs = reference.read_f32("classifier_probs");
      const int positions = static_cast<int>(teacher.size());
      for (int l = 0; l < model.config.decoder_layers; ++l)
        for (int p = 0; p < positions; ++p) {
          const Vector h = hidden[l].row(p).transpose();
          QVERIFY(std::abs(classifier_probability(model, h) - probs[l * positions + p]) < 1e-5);
        }
    }

    // T5's encoder output.
    if (t5) {
      RunState state(model.config);
      Matrix encoder_output;
      encode(model, state, prompt_ids, &encoder_output);
      const auto& info = reference.tensors().at("encoder_output");
      Matrix expected_output(info.shape[0], info.shape[1]);
      const auto values = reference.read_f32("encoder_output");
      std::copy(values.begin(), values.end(), expected_output.data());
      QVERIFY(relative_error(encoder_output, expected_output) < 1e-4);
    }

    // Greedy decoding with the full model reproduces PyTorch's tokens.
    DecodeOptions options;
    options.policy = ExitPolicy::Full;
    options.max_new_tokens = expected["max_new_tokens"].get<int>();
    const DecodeResult full = decoder.generate(expected["prompt"].get<std::string>(), options);
    QCOMPARE(full.tokens, expected["greedy_ids"].get<std::vector<int>>());
    QCOMPARE(QString::fromStdString(full.text), QString::fromStdString(expected["greedy_text"].get<std::string>()));
  }
};

QTEST_APPLESS_MAIN(TestParity)
#include "test_parity.moc"
