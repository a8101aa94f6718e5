// Sizes read from config.json are range-checked in 64 bits before anything is
// computed from them (core/model/config_checks.h), and a config shallower than
// its checkpoint is refused. Every file is written in a QTemporaryDir.
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>

#include "error_assertions.h"
#include "fixture_models.h"
#include "model/config.h"
#include "model/config_checks.h"
#include "model/model.h"

using namespace calm;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kT5 = "t5-gated-untied-f32", kLlama = "llama-tied";

json fixture_config(const std::string& name) {
  return testing::read_json(testing::fixture_models_dir() + "/" + name + "/config.json");
}

std::string write_config(const QTemporaryDir& dir, const json& config) {
  const std::string path = dir.filePath("config.json").toStdString();
  std::ofstream(path) << config.dump(2);
  return path;
}

}  // namespace

class TestConfigBounds : public QObject {
  Q_OBJECT
 private slots:
  void fixtures_pass();
  void product_that_wraps_int_is_refused();
  void each_size_is_bounded_data();
  void each_size_is_bounded();
  void matrix_products_are_bounded();
  void fewer_layers_than_the_checkpoint();
};

void TestConfigBounds::fixtures_pass() {
  for (const std::string& dir : testing::fixture_model_dirs()) load_config(dir + "/config.json");
}

// The case found by hand: 4 x 1073741856 wraps a 32-bit int to 128, so every
// later shape check passed and the encoder read out of bounds.
void TestConfigBounds::product_that_wraps_int_is_refused() {
  QTemporaryDir dir;
  json c = fixture_config(kT5);
  c["d_kv"] = 1073741856;
  VERIFY_ERROR(load_config(write_config(dir, c)), "config.json", "'d_kv'", "1073741856");
  // Within each bound alone, the product still is checked.
  c["d_kv"] = 4096;
  c["num_heads"] = 4096;
  VERIFY_ERROR(load_config(write_config(dir, c)), "config.json", "num_heads x d_kv", "16777216", "attention width");
  json l = fixture_config(kLlama);
  l["head_dim"] = 16384;
  l["num_attention_heads"] = 128;
  l["num_key_value_heads"] = 128;
  VERIFY_ERROR(load_config(write_config(dir, l)), "num_attention_heads x head_dim", "2097152");
}

void TestConfigBounds::each_size_is_bounded_data() {
  QTest::addColumn<QString>("fixture");
  QTest::addColumn<QString>("key");
  QTest::addColumn<qint64>("value");
  using B = ConfigBounds;
  const auto row = [](const std::string& fixture, const char* key, qint64 value) {
    QTest::addRow("%s %s %lld", fixture.c_str(), key, static_cast<long long>(value))
        << QString::fromStdString(fixture) << key << value;
  };
  row(kT5, "vocab_size", B::kMaxVocab + 1);
  row(kT5, "d_model", B::kMaxWidth + 1);
  row(kT5, "d_ff", B::kMaxFeedForward + 1);
  row(kT5, "num_heads", B::kMaxHeads + 1);
  row(kT5, "d_kv", B::kMaxHeadDim + 1);
  row(kT5, "num_layers", B::kMaxLayers + 1);
  row(kT5, "num_decoder_layers", B::kMaxLayers + 1);
  row(kT5, "n_positions", B::kMaxPositions + 1);
  row(kT5, "relative_attention_num_buckets", B::kMaxRelativeBuckets + 1);
  row(kT5, "relative_attention_max_distance", B::kMaxRelativeDistance + 1);
  row(kLlama, "hidden_size", B::kMaxWidth * 2);  // divisible by the heads, so the bound is what fails
  row(kLlama, "intermediate_size", B::kMaxFeedForward + 1);
  row(kLlama, "num_hidden_layers", B::kMaxLayers + 1);
  row(kLlama, "max_position_embeddings", B::kMaxPositions + 1);
  row(kLlama, "head_dim", B::kMaxHeadDim + 1);
}

void TestConfigBounds::each_size_is_bounded() {
  QFETCH(QString, fixture);
  QFETCH(QString, key);
  QFETCH(qint64, value);
  QTemporaryDir dir;
  json c = fixture_config(fixture.toStdString());
  c[key.toStdString()] = value;
  VERIFY_ERROR(load_config(write_config(dir, c)), "config.json", "'" + key.toStdString() + "'",
               std::to_string(value), "supports 1 to");
  // 1 is no error of this key (another check may still fire).
  c[key.toStdString()] = 1;
  const std::string message = testing::error_from([&] { load_config(write_config(dir, c)); });
  QVERIFY2(message.find("supports 1 to") == std::string::npos, message.c_str());
}

void TestConfigBounds::matrix_products_are_bounded() {
  QTemporaryDir dir;
  json c = fixture_config(kT5);
  c["vocab_size"] = ConfigBounds::kMaxVocab;  // 2^22 x 2^10 = 2^32 > 2^31 - 1
  c["d_model"] = 1024;
  VERIFY_ERROR(load_config(write_config(dir, c)), "vocab_size x d_model", "4294967296", "one weight matrix");
  c = fixture_config(kT5);
  c["d_ff"] = ConfigBounds::kMaxFeedForward;
  c["d_model"] = 4096;
  VERIFY_ERROR(load_config(write_config(dir, c)), "d_ff x d_model", "one weight matrix");
  c = fixture_config(kT5);
  c["d_model"] = 65536;
  c["num_heads"] = 64;
  c["d_kv"] = 1024;  // q_dim 65536: within the attention width; x d_model = 2^32
  VERIFY_ERROR(load_config(write_config(dir, c)), "num_heads x d_kv x d_model", "4294967296");
}

void TestConfigBounds::fewer_layers_than_the_checkpoint() {
  for (const auto& [fixture, key, prefix] :
       {std::tuple{kT5, "num_decoder_layers", "decoder.block.2."}, std::tuple{kT5, "num_layers", "encoder.block.1."},
        std::tuple{kLlama, "num_hidden_layers", "model.layers.2."}}) {
    QTemporaryDir dir;
    const fs::path source = testing::fixture_models_dir() + "/" + fixture;
    const fs::path model = dir.filePath("model").toStdString();
    fs::create_directory(model);
    for (const char* file : {"model.safetensors", "tokenizer.model"})
      fs::copy_file(source / file, model / file);
    json c = fixture_config(fixture);
    // num_layers also sets the decoder depth when num_decoder_layers is absent;
    // the fixture states both, so each can be lowered alone.
    c[key] = c[key].get<int>() - 1;
    std::ofstream((model / "config.json").string()) << c.dump(2);
    VERIFY_ERROR(load_model(model.string()), "config.json", std::string("'") + key + "'", "model.safetensors",
                 prefix, "drop layers");
  }
}

QTEST_GUILESS_MAIN(TestConfigBounds)
#include "test_config_bounds.moc"
