// Inputs that would give a wrong result without any error: weights that are
// finite but overflow float32 in the arithmetic (non-finite logits), and
// safetensors headers whose tensors share bytes or names. Each must stop with
// a message naming the layer or the tensor. Files live in a QTemporaryDir.
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>

#include "calibrate/calibrator.h"
#include "error_assertions.h"
#include "fixture_models.h"
#include "model/model.h"
#include "model/safetensors.h"

using namespace calm;
namespace fs = std::filesystem;

namespace {

// A copy of fixture `name` in `dir` whose tensor `tensor` is scaled to 3e38:
// finite, so the reader accepts it, but every product with it overflows.
std::string overflowing_model(const QTemporaryDir& dir, const std::string& name, const std::string& tensor) {
  const fs::path source = testing::fixture_models_dir() + "/" + name;
  const fs::path model = dir.filePath(QString::fromStdString(name)).toStdString();
  fs::create_directory(model);
  for (const char* file : {"config.json", "tokenizer.model"}) fs::copy_file(source / file, model / file);
  const SafeTensors st((source / "model.safetensors").string());
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> tensors;
  for (const auto& [n, info] : st.tensors()) {
    std::vector<float> values = st.read_f32(n);
    if (n == tensor)
      for (float& v : values) v = 3e38f;
    tensors[n] = {info.shape, values};
  }
  write_safetensors_f32((model / "model.safetensors").string(), tensors);
  return model.string();
}

std::string write_safetensors_raw(const QTemporaryDir& dir, const char* name, const std::string& header,
                                  const std::string& data) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; i++) bytes[i] = char(uint64_t(header.size()) >> (8 * i));
  const std::string path = dir.filePath(name).toStdString();
  std::ofstream(path, std::ios::binary) << bytes + header + data;
  return path;
}

}  // namespace

class TestWrongResults : public QObject {
  Q_OBJECT
 private slots:
  void non_finite_logits_stop_generation();
  void non_finite_logits_stop_calibration();
  void overlapping_tensors_are_refused();
  void duplicate_tensor_names_are_refused();
};

void TestWrongResults::non_finite_logits_stop_generation() {
  QTemporaryDir dir;
  for (const auto& [fixture, tensor] : {std::pair{"t5-gated-untied-f32", "decoder.final_layer_norm.weight"},
                                        std::pair{"llama-tied", "model.norm.weight"}}) {
    const Model model = load_model(overflowing_model(dir, fixture, tensor));
    Decoder decoder(model);
    DecodeOptions o;
    o.max_new_tokens = 4;
    // Full depth, a fixed early exit, CALM, verify mode and the oracle: each
    // path that picks a token checks.
    VERIFY_ERROR(decoder.generate("light", o), fixture, "decoder layer 3", "not finite");
    o.policy = ExitPolicy::Static;
    o.static_layer = 1;
    VERIFY_ERROR(decoder.generate("light", o), fixture, "decoder layer 1", "not finite");
    o.policy = ExitPolicy::Calm;
    o.lambda = 0.0f;
    VERIFY_ERROR(decoder.generate("light", o), fixture, "decoder layer", "not finite");
    o.verify_draft = 2;
    VERIFY_ERROR(decoder.generate("light", o), fixture, "not finite");
    o.verify_draft = 0;
    o.lambda = 1.0f;
    o.policy = ExitPolicy::Oracle;
    VERIFY_ERROR(decoder.generate("light", o), fixture, "not finite");
  }
}

// The case found by hand: without the check, the outputs were empty, every
// loss 0, and calibration certified lambda = 0.
void TestWrongResults::non_finite_logits_stop_calibration() {
  QTemporaryDir dir;
  const Model model = load_model(overflowing_model(dir, "t5-gated-untied-f32", "decoder.final_layer_norm.weight"));
  std::vector<Example> examples(2);
  examples[0].input = "light";
  examples[0].line = 1;
  examples[1].input = "darkness";
  examples[1].line = 2;
  RunSettings settings;
  settings.max_new_tokens = 4;
  settings.grid = {1.0, 0.5, 0.0};
  CalibrationRun run = Calibrator::prepare(model, "cal.jsonl", examples, settings);
  VERIFY_ERROR(Calibrator::run(model, run, "", 1), "cal.jsonl:", "decoder layer", "not finite");
  QCOMPARE(run.finished(), size_t(0));
}

void TestWrongResults::overlapping_tensors_are_refused() {
  QTemporaryDir dir;
  const std::string data(32, '\0');
  // b's bytes [8, 24) overlap a's [0, 16).
  const std::string overlap = write_safetensors_raw(
      dir, "overlap.safetensors",
      R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
      data);
  VERIFY_ERROR(SafeTensors{overlap}, "overlap.safetensors", "'b'", "[8, 24)", "'a'", "[0, 16)", "overlap");
  // The same bytes twice under two names.
  const std::string same = write_safetensors_raw(
      dir, "same.safetensors",
      R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F16","shape":[8],"data_offsets":[0,16]}})",
      data);
  VERIFY_ERROR(SafeTensors{same}, "same.safetensors", "overlap");
  // Adjacent spans and empty tensors (no bytes of their own) are fine.
  const std::string fine = write_safetensors_raw(
      dir, "fine.safetensors",
      R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[16,32]},)"
      R"("e":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},"f":{"dtype":"F16","shape":[0,3],"data_offsets":[8,8]}})",
      data);
  const SafeTensors st(fine);
  QCOMPARE(st.tensors().size(), size_t(4));
}

void TestWrongResults::duplicate_tensor_names_are_refused() {
  QTemporaryDir dir;
  const std::string data(16, '\0');
  const std::string twice = write_safetensors_raw(
      dir, "twice.safetensors",
      R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
      data);
  VERIFY_ERROR(SafeTensors{twice}, "twice.safetensors", "'w'", "appears twice");
  // A repeated key inside an entry or in the metadata is not a tensor name.
  const std::string nested = write_safetensors_raw(
      dir, "nested.safetensors",
      R"({"__metadata__":{"k":"1","k":"2"},"w":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("v":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
      data);
  QCOMPARE(SafeTensors{nested}.tensors().size(), size_t(2));
}

QTEST_GUILESS_MAIN(TestWrongResults)
#include "test_wrong_results.moc"
