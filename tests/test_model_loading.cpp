// config.json parsing, the tokenizer wrapper and load_model: every fixture
// model loads with the shapes its config implies, and broken copies of a
// fixture (in a temporary directory) fail with a calm::Error that names the
// file and the key or tensor at fault.
#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "model/load.h"
#include "model/model.h"
#include "error_assertions.h"
#include "model/safetensors.h"

using json = nlohmann::json;
using TensorMap = std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>;

namespace {

const QString kModels = QStringLiteral(CALM_FIXTURES_DIR "/models");

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::trunc) << text; }

// Every tensor of a file, as F32, to be changed and written back.
TensorMap read_all(const std::string& path) {
  const calm::SafeTensors st(path);
  TensorMap out;
  for (const auto& [name, info] : st.tensors()) out[name] = {info.shape, st.read_f32(name)};
  return out;
}

// The parameter count a config implies, written out from the architecture
// description independently of load_model's own bookkeeping.
int64_t expected_parameters(const calm::ModelConfig& c) {
  const int64_t d = c.d_model, attention = 2 * int64_t(c.q_dim()) * d + 2 * int64_t(c.kv_dim()) * d;
  const int64_t ffn_matrices = c.feed_forward == calm::FeedForward::Relu ? 2 : 3;
  const int64_t ffn = ffn_matrices * int64_t(c.d_ff) * d;
  const int64_t vocab = int64_t(c.vocab_size) * d * (c.tied_embeddings ? 1 : 2);
  const int64_t classifier = c.has_classifier() ? d + (c.classifier_bias.empty() ? 0 : 1) : 0;
  // Biases: q (q_dim), k and v (kv_dim), o (d); gate and up (d_ff), down (d).
  const int64_t biases = (c.qkv_bias ? c.q_dim() + 2 * int64_t(c.kv_dim()) : 0) + (c.o_bias ? d : 0) +
                         (c.mlp_bias ? 2 * int64_t(c.d_ff) + d : 0);
  if (c.arch == calm::Arch::DecoderOnly)
    return vocab + c.decoder_layers * (2 * d + attention + ffn + biases) + d + classifier;
  const int64_t relative_bias = int64_t(c.relative_buckets) * c.num_heads;
  return vocab + c.encoder_layers * (2 * d + attention + ffn) + d + relative_bias +
         c.decoder_layers * (3 * d + 2 * attention + ffn) + d + relative_bias + classifier;
}

}  // namespace


class TestModelLoading : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir tmp_;
  int copies_ = 0;

  // A fresh writable copy of a fixture model's three files; "" when the
  // fixture is absent (the caller skips).
  std::string copy_fixture(const QString& name) {
    const QDir source(kModels + "/" + name);
    if (!source.exists()) return {};
    const QString target = tmp_.filePath(QString("%1-%2").arg(name).arg(copies_++));
    QDir().mkpath(target);
    for (const char* file : {"config.json", "model.safetensors", "tokenizer.model"}) {
      const QString to = target + "/" + file;
      if (!QFile::copy(source.filePath(file), to)) return {};
      QFile(to).setPermissions(QFile::ReadOwner | QFile::WriteOwner);
    }
    return target.toStdString();
  }

  static void edit_tensors(const std::string& dir, const std::function<void(TensorMap&)>& edit) {
    const std::string path = dir + "/model.safetensors";
    TensorMap tensors = read_all(path);
    edit(tensors);
    calm::write_safetensors_f32(path, tensors);
  }

  static void edit_config(const std::string& dir, const std::function<void(json&)>& edit) {
    const std::string path = dir + "/config.json";
    json j = read_json(path);
    edit(j);
    write_text(path, j.dump(2));
  }

  std::string config_file(const char* name, const json& j) {
    const std::string path = tmp_.filePath(name).toStdString();
    write_text(path, j.dump(2));
    return path;
  }

  static json minimal_t5() {
    return {{"model_type", "t5"}, {"vocab_size", 64}, {"d_model", 16}, {"d_kv", 4}, {"d_ff", 32},
            {"num_layers", 2},    {"num_heads", 4}};
  }

  static json minimal_llama() {
    return {{"model_type", "llama"},   {"vocab_size", 64},        {"hidden_size", 16},
            {"intermediate_size", 32}, {"num_hidden_layers", 3}, {"num_attention_heads", 4}};
  }

 private slots:
  void initTestCase() { QVERIFY(tmp_.isValid()); }

  // --- config.json ---------------------------------------------------------

  void t5ConfigDefaults() {
    const calm::ModelConfig c = calm::load_config(config_file("t5.json", minimal_t5()));
    QCOMPARE(c.arch, calm::Arch::EncoderDecoder);
    QCOMPARE(c.encoder_layers, 2);
    QCOMPARE(c.decoder_layers, 2);  // num_decoder_layers defaults to num_layers
    QCOMPARE(c.head_dim, 4);        // d_kv
    QCOMPARE(c.num_kv_heads, 4);    // T5 has no grouped-query attention
    QCOMPARE(c.feed_forward, calm::FeedForward::Relu);  // Hugging Face's T5Config default
    QCOMPARE(c.relative_buckets, 32);
    QCOMPARE(c.relative_max_distance, 128);
    QCOMPARE(c.max_positions, 512);
    QVERIFY(c.tied_embeddings);
    QCOMPARE(c.norm_eps, 1e-6f);
    QCOMPARE(c.eos_id, 1);
    QCOMPARE(c.pad_id, 0);
    QCOMPARE(c.decoder_start_id, 0);
    QVERIFY(!c.has_classifier());
  }

  void t5ConfigExplicit() {
    json j = minimal_t5();
    j.update({{"num_decoder_layers", 5}, {"feed_forward_proj", "gated-gelu"}, {"tie_word_embeddings", false},
              {"n_positions", 128}, {"relative_attention_num_buckets", 16}, {"layer_norm_epsilon", 1e-5},
              {"calm", {{"classifier", {{"weight", "head.w"}, {"bias", "head.b"}}}}}});
    const calm::ModelConfig c = calm::load_config(config_file("t5x.json", j));
    QCOMPARE(c.decoder_layers, 5);
    QCOMPARE(c.feed_forward, calm::FeedForward::GatedGelu);
    QVERIFY(!c.tied_embeddings);
    QCOMPARE(c.max_positions, 128);
    QCOMPARE(c.relative_buckets, 16);
    QCOMPARE(c.norm_eps, 1e-5f);
    QCOMPARE(c.classifier_weight, std::string("head.w"));
    QCOMPARE(c.classifier_bias, std::string("head.b"));
  }

  void llamaConfigDefaults() {
    json j = minimal_llama();
    j["eos_token_id"] = {5, 7};  // Llama 3 style list: eos_id is the first, both end generation
    j["num_decoder_layers"] = nullptr;  // unrelated keys, even null ones, are ignored
    const calm::ModelConfig c = calm::load_config(config_file("llama.json", j));
    QCOMPARE(c.arch, calm::Arch::DecoderOnly);
    QCOMPARE(c.encoder_layers, 0);
    QCOMPARE(c.decoder_layers, 3);
    QCOMPARE(c.num_kv_heads, 4);  // defaults to num_attention_heads
    QCOMPARE(c.head_dim, 4);      // hidden_size / num_attention_heads = 16 / 4
    QCOMPARE(c.feed_forward, calm::FeedForward::SwiGlu);
    QVERIFY(!c.tied_embeddings);
    QCOMPARE(c.rope_theta, 10000.0f);
    QCOMPARE(c.eos_id, 5);
    QCOMPARE(c.eos_ids, std::vector<int>({5, 7}));
    QCOMPARE(c.bos_id, 1);
  }

  // The Llama family's variants: rope_scaling, head_dim, eos lists, Mistral's window.
  void llamaVariants() {
    json j = minimal_llama();
    j.update({{"model_type", "mistral"}, {"head_dim", 8}, {"eos_token_id", {2, 9, 11}},
              {"max_position_embeddings", 32768}, {"sliding_window", 4096},
              {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 32.0}, {"low_freq_factor", 1.0},
                                {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}}}});
    calm::ModelConfig c = calm::load_config(config_file("variants.json", j));
    QCOMPARE(c.head_dim, 8);
    QCOMPARE(c.q_dim(), 32);  // 4 heads x 8, wider than hidden_size 16
    QCOMPARE(c.rope_scaling.type, calm::RopeScalingType::Llama3);
    QCOMPARE(c.rope_scaling.factor, 32.0f);
    QCOMPARE(c.rope_scaling.original_max_positions, 8192);
    QCOMPARE(c.eos_id, 2);
    QCOMPARE(c.eos_ids, std::vector<int>({2, 9, 11}));
    QVERIFY(c.is_eos(11) && !c.is_eos(3));
    QCOMPARE(c.max_positions, 4096);  // the context is capped at the window: attention stays exact
    j["use_sliding_window"] = false;  // Qwen2 style: a window stated but not used
    j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
    c = calm::load_config(config_file("variants2.json", j));
    QCOMPARE(c.max_positions, 32768);
    QCOMPARE(c.rope_scaling.type, calm::RopeScalingType::Linear);
    j["rope_scaling"] = {{"rope_type", "default"}};
    QCOMPARE(calm::load_config(config_file("variants3.json", j)).rope_scaling.type, calm::RopeScalingType::None);
  }

  // Biases: Llama's two keys, Qwen2's q/k/v biases without a key (and no bos
  // added to its prompts: its bos_token_id is the end-of-text token).
  void biasVariants() {
    json j = minimal_llama();
    calm::ModelConfig c = calm::load_config(config_file("nobias.json", j));
    QVERIFY(!c.qkv_bias && !c.o_bias && !c.mlp_bias);
    QCOMPARE(c.model_type, std::string("llama"));
    j.update({{"attention_bias", true}, {"mlp_bias", false}});
    c = calm::load_config(config_file("attention_bias.json", j));
    QVERIFY(c.qkv_bias && c.o_bias && !c.mlp_bias);
    j.update({{"attention_bias", false}, {"mlp_bias", true}});
    c = calm::load_config(config_file("mlp_bias.json", j));
    QVERIFY(!c.qkv_bias && !c.o_bias && c.mlp_bias);
    j = minimal_llama();
    j.update({{"model_type", "qwen2"}, {"bos_token_id", 7}, {"eos_token_id", 7}, {"sliding_window", 8},
              {"use_sliding_window", false}, {"max_position_embeddings", 32}});
    c = calm::load_config(config_file("qwen2.json", j));
    QCOMPARE(c.model_type, std::string("qwen2"));
    QVERIFY(c.qkv_bias && !c.o_bias && !c.mlp_bias);
    QCOMPARE(c.bos_id, -1);
    QCOMPARE(c.eos_id, 7);
    QCOMPARE(c.max_positions, 32);  // the window is off
  }

  void llamaGroupedQuery() {
    json j = minimal_llama();
    j["num_key_value_heads"] = 2;
    const calm::ModelConfig c = calm::load_config(config_file("gqa.json", j));
    QCOMPARE(c.q_dim(), 16);
    QCOMPARE(c.kv_dim(), 8);  // 2 kv heads of head_dim 4
  }

  // Each row: the base config, a JSON pointer to change ("" value: remove it),
  // and the key the error must name.
  void badConfig_data() {
    QTest::addColumn<QString>("arch");
    QTest::addColumn<QString>("pointer");
    QTest::addColumn<QString>("value");
    QTest::addColumn<QString>("needle");
    QTest::newRow("model_type missing") << "t5" << "/model_type" << "" << "'model_type' missing";
    QTest::newRow("model_type unknown") << "t5" << "/model_type" << "\"gpt2\"" << "gpt2";
    QTest::newRow("d_model missing") << "t5" << "/d_model" << "" << "'d_model' missing";
    QTest::newRow("d_model string") << "t5" << "/d_model" << "\"16\"" << "'d_model'";
    QTest::newRow("d_model float") << "t5" << "/d_model" << "16.5" << "'d_model'";
    QTest::newRow("d_model zero") << "t5" << "/d_model" << "0" << "'d_model' must be positive";
    QTest::newRow("num_heads negative") << "t5" << "/num_heads" << "-4" << "'num_heads'";
    QTest::newRow("d_kv missing") << "t5" << "/d_kv" << "" << "'d_kv'";
    QTest::newRow("feed_forward_proj") << "t5" << "/feed_forward_proj" << "\"gated-silu\"" << "'feed_forward_proj' is 'gated-silu'";
    QTest::newRow("tie not bool") << "t5" << "/tie_word_embeddings" << "\"yes\"" << "'tie_word_embeddings'";
    QTest::newRow("eos outside vocab") << "t5" << "/eos_token_id" << "64" << "'eos_token_id'";
    QTest::newRow("start outside vocab") << "t5" << "/decoder_start_token_id" << "-3" << "'decoder_start_token_id'";
    QTest::newRow("epsilon string") << "t5" << "/layer_norm_epsilon" << "\"small\"" << "'layer_norm_epsilon'";
    QTest::newRow("hidden_size missing") << "llama" << "/hidden_size" << "" << "'hidden_size' missing";
    QTest::newRow("kv heads do not divide") << "llama" << "/num_key_value_heads" << "3" << "'num_key_value_heads'";
    QTest::newRow("hidden not divisible") << "llama" << "/hidden_size" << "18" << "'hidden_size'";
    QTest::newRow("bos outside vocab") << "llama" << "/bos_token_id" << "64" << "'bos_token_id'";
    QTest::newRow("eos list huge") << "llama" << "/eos_token_id" << "[99999999999]" << "'eos_token_id' is out of range";
    QTest::newRow("eos empty list") << "llama" << "/eos_token_id" << "[]" << "'eos_token_id'";
    QTest::newRow("rms_norm_eps zero") << "llama" << "/rms_norm_eps" << "0" << "'rms_norm_eps'";
    QTest::newRow("hidden_act") << "llama" << "/hidden_act" << "\"gelu\"" << "'hidden_act'";
    QTest::newRow("rope_scaling yarn") << "llama" << "/rope_scaling" << R"({"rope_type": "yarn", "factor": 2.0})" << "'rope_type' is 'yarn'";
    QTest::newRow("rope_scaling factor") << "llama" << "/rope_scaling" << R"({"type": "linear", "factor": 0.5})" << "'factor'";
    QTest::newRow("rope_scaling not object") << "llama" << "/rope_scaling" << "2" << "'rope_scaling'";
    QTest::newRow("llama3 without original")
        << "llama" << "/rope_scaling" << R"({"rope_type": "llama3", "factor": 8.0})" << "'original_max_position_embeddings' missing";
    QTest::newRow("llama3 bands")
        << "llama" << "/rope_scaling"
        << R"({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4, "high_freq_factor": 4, "original_max_position_embeddings": 8192})"
        << "'high_freq_factor'";
    QTest::newRow("model_type gpt_neox") << "llama" << "/model_type" << "\"gpt_neox\"" << "'qwen2'";
    QTest::newRow("attention_bias not bool") << "llama" << "/attention_bias" << "1" << "'attention_bias'";
    QTest::newRow("mlp_bias not bool") << "llama" << "/mlp_bias" << "\"yes\"" << "'mlp_bias'";
    QTest::newRow("eos list element outside vocab") << "llama" << "/eos_token_id" << "[2, 64]" << "'eos_token_id' is 64";
    QTest::newRow("sliding_window zero") << "llama" << "/sliding_window" << "0" << "'sliding_window'";
    QTest::newRow("classifier weight not a name") << "llama" << "/calm" << R"({"classifier": {"weight": 5}})" << "'calm.classifier.weight'";
  }
  void badConfig() {
    QFETCH(QString, arch);
    QFETCH(QString, pointer);
    QFETCH(QString, value);
    QFETCH(QString, needle);
    json j = arch == "t5" ? minimal_t5() : minimal_llama();
    const json::json_pointer at(pointer.toStdString());
    if (value.isEmpty()) j.erase(at.back());
    else j[at] = json::parse(value.toStdString());
    const std::string path = config_file("bad_config.json", j);
    VERIFY_ERROR(calm::load_config(path), path, needle.toStdString());
  }

  void configNotJson() {
    const std::string path = tmp_.filePath("broken.json").toStdString();
    write_text(path, "{\"model_type\": \"t5\",");
    VERIFY_ERROR(calm::load_config(path), path, "JSON");
  }

  void configMissing() {
    const std::string path = tmp_.filePath("absent/config.json").toStdString();
    VERIFY_ERROR(calm::load_config(path), path);
  }

  // --- tokenizer -----------------------------------------------------------

  void tokenizerRoundTrip() {
    calm::Tokenizer t;
    QVERIFY(!t.loaded());
    const QString path = kModels + "/llama-tied/tokenizer.model";
    if (!QFile::exists(path)) QSKIP("fixture llama-tied absent");
    t.load(path.toStdString());
    QVERIFY(t.loaded());
    QVERIFY(t.size() > 0);
    const std::string text = "And God said, Let there be light";
    const std::vector<int> ids = t.encode(text);
    QVERIFY(!ids.empty());
    QCOMPARE(t.decode(ids), text);
    // The piece that starts "God" begins a word: SentencePiece writes "▁God"
    // (or "▁G"...), the wrapper shows a plain space.
    QVERIFY(t.piece(ids[1]).rfind(" ", 0) == 0);
    QVERIFY(t.piece(ids[1]).find("\xE2\x96\x81") == std::string::npos);
    // Ids past the SentencePiece model (vocabulary padding) are shown, not crashed on.
    QCOMPARE(t.piece(t.size()), "<id " + std::to_string(t.size()) + ">");
    std::vector<int> padded = ids;
    padded.push_back(t.size() + 3);
    QCOMPARE(t.decode(padded), text);
  }

  void tokenizerMissing() {
    calm::Tokenizer t;
    const std::string path = tmp_.filePath("none/tokenizer.model").toStdString();
    VERIFY_ERROR(t.load(path), path);
    QVERIFY(!t.loaded());
  }

  void tokenizerGarbage() {
    const std::string path = tmp_.filePath("garbage.model").toStdString();
    write_text(path, "this is not a protobuf");
    calm::Tokenizer t;
    VERIFY_ERROR(t.load(path), path);
    QVERIFY(!t.loaded());
  }

  // --- every fixture model loads -------------------------------------------

  void fixturesPresent() {
    QVERIFY2(!QDir(kModels).entryList(QDir::Dirs | QDir::NoDotAndDotDot).isEmpty(),
             qPrintable("no fixture models under " + kModels));
  }

  void loadEveryFixture_data() {
    QTest::addColumn<QString>("name");
    for (const QString& name : QDir(kModels).entryList(QDir::Dirs | QDir::NoDotAndDotDot))
      QTest::newRow(qPrintable(name)) << name;
  }
  void loadEveryFixture() {
    QFETCH(QString, name);
    const std::string dir = (kModels + "/" + name).toStdString();
    const calm::Model m = calm::load_model(dir);
    const calm::ModelConfig& c = m.config;
    QCOMPARE(m.name, name.toStdString());
    QCOMPARE(m.dir, dir);

    // Layer counts and shapes follow the config.
    const bool t5 = c.arch == calm::Arch::EncoderDecoder;
    QCOMPARE(name.startsWith("t5"), t5);
    QVERIFY(c.decoder_layers > 0);
    QCOMPARE(int(m.weights.decoder.size()), c.decoder_layers);
    QCOMPARE(int(m.weights.encoder.size()), c.encoder_layers);
    QCOMPARE(t5, c.encoder_layers > 0);
    QCOMPARE(int(m.weights.embedding.rows), c.vocab_size);
    QCOMPARE(int(m.weights.embedding.cols), c.d_model);
    QCOMPARE(m.weights.lm_head.empty(), c.tied_embeddings);
    QCOMPARE(int(m.weights.output_projection().rows), c.vocab_size);
    for (const calm::LayerWeights& l : m.weights.decoder) {
      QCOMPARE(int(l.self_attn.k.rows), c.kv_dim());
      QCOMPARE(int(l.self_attn.o.cols), c.q_dim());
      QCOMPARE(int(l.cross_attn.q.rows), t5 ? c.q_dim() : 0);
      QCOMPARE(l.ffn.gate.empty(), c.feed_forward == calm::FeedForward::Relu);
      QCOMPARE(int(l.ffn.down.rows), c.d_model);
    }
    QCOMPARE(int(m.weights.decoder_relative_bias.rows()), t5 ? c.relative_buckets : 0);
    QCOMPARE(m.weights.classifier.size() != 0, c.has_classifier());

    // The count matches the architecture's formula, and is not tiny or huge.
    QCOMPARE(m.parameter_count(), expected_parameters(c));
    QVERIFY(m.parameter_count() > int64_t(c.vocab_size) * c.d_model);

    // Row-major layout: element (r, col) of a matrix is flat index r * cols + col.
    const calm::SafeTensors st(dir + "/model.safetensors");
    const std::string embedding = t5 ? "shared.weight" : "model.embed_tokens.weight";
    const std::vector<float> flat = st.read_f32(embedding);
    const int r = c.vocab_size - 2, col = c.d_model - 3;
    QCOMPARE(m.weights.embedding.to_dense()(r, col), flat[size_t(r) * c.d_model + col]);

    QVERIFY(m.tokenizer.loaded());
    QVERIFY(m.tokenizer.size() <= c.vocab_size);
  }

  void nameIgnoresTrailingSlash() {
    if (!QDir(kModels + "/llama-tied").exists()) QSKIP("fixture llama-tied absent");
    QCOMPARE(calm::load_model((kModels + "/llama-tied/").toStdString()).name, std::string("llama-tied"));
  }

  // --- broken copies of a fixture ------------------------------------------

  void missingFile_data() {
    QTest::addColumn<QString>("file");
    for (const char* f : {"config.json", "model.safetensors", "tokenizer.model"}) QTest::newRow(f) << f;
  }
  void missingFile() {
    QFETCH(QString, file);
    const std::string dir = copy_fixture("llama-tied");
    if (dir.empty()) QSKIP("fixture llama-tied absent");
    QVERIFY(QFile::remove(QString::fromStdString(dir) + "/" + file));
    VERIFY_ERROR(calm::load_model(dir), dir + "/" + file.toStdString(), "missing");
  }

  // What a reader is told about a loaded model.
  void modelInfo_data() {
    QTest::addColumn<QString>("fixture");
    QTest::addColumn<QString>("variant");
    QTest::addColumn<QString>("stored");
    QTest::addColumn<QString>("tokenizer");
    QTest::addColumn<bool>("trained");
    QTest::newRow("qwen2") << "qwen2-style" << "qwen2: q/k/v biases, grouped-query, tied head" << "bf16"
                           << "SentencePiece" << false;
    QTest::newRow("llama bias") << "llama-bias" << "llama: q/k/v/o, MLP biases, grouped-query, untied head"
                                << "f32" << "SentencePiece" << false;
    QTest::newRow("llama3") << "llama3-style" << "llama: grouped-query, rope llama3, tied head" << "bf16"
                            << "SentencePiece" << false;
    // The classifier head in config.json's calm block: CALM's own training.
    QTest::newRow("t5 with head") << "t5-gated-untied-f16" << "t5: gated-gelu (T5 v1.1), untied head" << "f16"
                                  << "SentencePiece" << true;
    QTest::newRow("t5 relu") << "t5-relu-tied" << "t5: relu (original T5), tied head" << "f32" << "SentencePiece"
                             << false;
  }
  void modelInfo() {
    QFETCH(QString, fixture);
    QFETCH(QString, variant);
    QFETCH(QString, stored);
    QFETCH(QString, tokenizer);
    QFETCH(bool, trained);
    const calm::LoadedModel loaded = calm::load_model_reporting((kModels + "/" + fixture).toStdString(), {}, {});
    const calm::ModelInfo& info = loaded.info;
    QCOMPARE(QString::fromStdString(info.variant), variant);
    QCOMPARE(QString::fromStdString(info.stored_types), stored);
    QCOMPARE(QString::fromStdString(info.weights_type), stored);  // kept as stored
    QCOMPARE(QString::fromStdString(info.tokenizer), tokenizer);
    QCOMPARE(info.trained_for_exits, trained);
    QCOMPARE(info.decoder_layers, loaded.model.config.decoder_layers);
    QCOMPARE(info.parameters, expected_parameters(loaded.model.config));
    QCOMPARE(info.weight_bytes, loaded.model.weights.matrix_bytes());
    QVERIFY(info.weight_bytes > 0);
  }

  // LayerSkip checkpoints were trained with an early-exit loss: known by the
  // directory's name or config.json's _name_or_path.
  void layerSkipIsTrainedForExits() {
    const std::string dir = copy_fixture("llama-tied");
    if (dir.empty()) QSKIP("fixture llama-tied absent");
    QVERIFY(!calm::load_model_reporting(dir, {}, {}).info.trained_for_exits);
    edit_config(dir, [](json& j) { j["_name_or_path"] = "facebook/layerskip-llama2-7B"; });
    const calm::ModelInfo info = calm::load_model_reporting(dir, {}, {}).info;
    QVERIFY(info.trained_for_exits);
    QVERIFY(info.exit_training.find("LayerSkip") != std::string::npos);
    const std::string renamed = tmp_.filePath("LayerSkip-Llama3.2-1B").toStdString();
    QVERIFY(QDir().rename(QString::fromStdString(dir), QString::fromStdString(renamed)));
    edit_config(renamed, [](json& j) { j.erase("_name_or_path"); });
    QVERIFY(calm::load_model_reporting(renamed, {}, {}).info.trained_for_exits);
  }

  void missingDirectory() {
    const std::string dir = tmp_.filePath("no-such-model").toStdString();
    VERIFY_ERROR(calm::load_model(dir), dir);
  }

  void wrongShape_data() {
    QTest::addColumn<QString>("fixture");
    QTest::addColumn<QString>("tensor");
    QTest::addColumn<QString>("actual");
    QTest::addColumn<QString>("expected");
    // Rows of the right size but the wrong count, so only the shape check can catch them.
    QTest::newRow("t5 cross-attention k") << "t5-gated-untied-f32" << "decoder.block.1.layer.1.EncDecAttention.k.weight"
                                          << "[16, 64]" << "[32, 32]";
    QTest::newRow("t5 relative bias") << "t5-relu-tied" << "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"
                                      << "[4, 8]" << "[8, 4]";
    // Grouped-query attention: k has num_kv_heads * head_dim = 16 rows, not 32.
    QTest::newRow("llama gqa k") << "llama-gqa-untied-f32" << "model.layers.2.self_attn.k_proj.weight"
                                 << "[32, 16]" << "[16, 32]";
    QTest::newRow("llama final norm") << "llama-tied" << "model.norm.weight" << "[1, 32]" << "[32]";
    QTest::newRow("classifier") << "llama-gqa-untied-f32" << "calm.classifier.weight" << "[2, 16]" << "[32]";
    // Biases: k has kv_dim = 16 entries (2 kv heads of 8), o and down d_model = 32, gate d_ff = 64.
    QTest::newRow("qwen2 k bias") << "qwen2-style" << "model.layers.1.self_attn.k_proj.bias" << "[2, 8]" << "[16]";
    QTest::newRow("llama o bias") << "llama-bias" << "model.layers.0.self_attn.o_proj.bias" << "[32, 1]" << "[32]";
    QTest::newRow("llama gate bias") << "llama-bias" << "model.layers.2.mlp.gate_proj.bias" << "[1, 64]" << "[64]";
  }
  void wrongShape() {
    QFETCH(QString, fixture);
    QFETCH(QString, tensor);
    QFETCH(QString, actual);
    QFETCH(QString, expected);
    const std::string dir = copy_fixture(fixture);
    if (dir.empty()) QSKIP("fixture absent");
    const std::string name = tensor.toStdString();
    edit_tensors(dir, [&](TensorMap& t) {
      QVERIFY(t.count(name));
      t[name].first = json::parse(actual.toStdString()).get<std::vector<int64_t>>();  // same values, new shape
    });
    VERIFY_ERROR(calm::load_model(dir), "model.safetensors", "'" + name + "'", actual.toStdString(),
                 "expected " + expected.toStdString());
  }

  void missingTensor_data() {
    QTest::addColumn<QString>("fixture");
    QTest::addColumn<QString>("tensor");
    QTest::newRow("t5 gated wi_1") << "t5-gated-untied-f32" << "encoder.block.1.layer.1.DenseReluDense.wi_1.weight";
    QTest::newRow("t5 decoder final norm") << "t5-relu-tied" << "decoder.final_layer_norm.weight";
    QTest::newRow("t5 untied lm_head") << "t5-gated-untied-f32" << "lm_head.weight";
    QTest::newRow("llama untied lm_head") << "llama-gqa-untied-f32" << "lm_head.weight";
    QTest::newRow("llama up_proj") << "llama-tied" << "model.layers.1.mlp.up_proj.weight";
    QTest::newRow("classifier bias") << "llama-gqa-untied-f32" << "calm.classifier.bias";
    QTest::newRow("qwen2 q bias") << "qwen2-style" << "model.layers.2.self_attn.q_proj.bias";
    QTest::newRow("llama v bias") << "llama-bias" << "model.layers.0.self_attn.v_proj.bias";
    QTest::newRow("llama down bias") << "llama-bias" << "model.layers.1.mlp.down_proj.bias";
  }

  // A bias the config says the model lacks must not be ignored: the checkpoint
  // would compute another model.
  void unexpectedBias_data() {
    QTest::addColumn<QString>("fixture");
    QTest::addColumn<QString>("tensor");
    QTest::addColumn<QString>("key");
    QTest::addColumn<int>("size");
    QTest::newRow("llama q bias") << "llama-gqa-untied-f32" << "model.layers.1.self_attn.q_proj.bias"
                                  << "'attention_bias' false" << 32;
    QTest::newRow("llama up bias") << "llama-tied" << "model.layers.0.mlp.up_proj.bias" << "'mlp_bias' false" << 64;
    QTest::newRow("qwen2 o bias") << "qwen2-style" << "model.layers.2.self_attn.o_proj.bias"
                                  << "'model_type' 'qwen2', whose o_proj has no bias" << 32;
  }
  void unexpectedBias() {
    QFETCH(QString, fixture);
    QFETCH(QString, tensor);
    QFETCH(QString, key);
    QFETCH(int, size);
    const std::string dir = copy_fixture(fixture);
    if (dir.empty()) QSKIP("fixture absent");
    const std::string name = tensor.toStdString();
    edit_tensors(dir, [&](TensorMap& t) { t[name] = {{size}, std::vector<float>(size_t(size), 0.5f)}; });
    VERIFY_ERROR(calm::load_model(dir), "model.safetensors", "'" + name + "'", "config.json", key.toStdString());
  }

  // Switching attention_bias off in a checkpoint that has the biases is refused
  // the same way; switching it on where they are absent names the missing one.
  void biasConfigDisagrees() {
    const std::string dir = copy_fixture("llama-bias");
    if (dir.empty()) QSKIP("fixture llama-bias absent");
    edit_config(dir, [](json& j) { j["attention_bias"] = false; });
    VERIFY_ERROR(calm::load_model(dir), "model.safetensors", "'model.layers.0.self_attn.q_proj.bias'",
                 "'attention_bias' false");
    const std::string plain = copy_fixture("llama-tied");
    if (plain.empty()) QSKIP("fixture llama-tied absent");
    edit_config(plain, [](json& j) { j["mlp_bias"] = true; });
    VERIFY_ERROR(calm::load_model(plain), "model.safetensors", "'model.layers.0.mlp.gate_proj.bias'", "missing");
  }
  void missingTensor() {
    QFETCH(QString, fixture);
    QFETCH(QString, tensor);
    const std::string dir = copy_fixture(fixture);
    if (dir.empty()) QSKIP("fixture absent");
    const std::string name = tensor.toStdString();
    edit_tensors(dir, [&](TensorMap& t) { QCOMPARE(t.erase(name), size_t(1)); });
    VERIFY_ERROR(calm::load_model(dir), "model.safetensors", "'" + name + "'", "missing");
  }

  void embeddingUnderEncoderName() {
    // Older T5 exports keep the embedding only as encoder.embed_tokens.weight.
    const std::string dir = copy_fixture("t5-relu-tied");
    if (dir.empty()) QSKIP("fixture t5-relu-tied absent");
    edit_tensors(dir, [](TensorMap& t) {
      t["encoder.embed_tokens.weight"] = t["shared.weight"];
      t.erase("shared.weight");
    });
    const calm::Model m = calm::load_model(dir);
    QCOMPARE(int(m.weights.embedding.rows), m.config.vocab_size);
  }

  void nanInWeights() {
    const std::string dir = copy_fixture("llama-gqa-untied-f32");
    if (dir.empty()) QSKIP("fixture llama-gqa-untied-f32 absent");
    const std::string name = "model.layers.2.mlp.up_proj.weight";
    edit_tensors(dir, [&](TensorMap& t) { t[name].second.at(7) = std::numeric_limits<float>::quiet_NaN(); });
    VERIFY_ERROR(calm::load_model(dir), "model.safetensors", "'" + name + "'", "NaN", "flat index 7");
  }

  void infInWeights() {
    const std::string dir = copy_fixture("t5-gated-untied-f32");
    if (dir.empty()) QSKIP("fixture t5-gated-untied-f32 absent");
    const std::string name = "shared.weight";
    edit_tensors(dir, [&](TensorMap& t) { t[name].second.at(100) = -std::numeric_limits<float>::infinity(); });
    VERIFY_ERROR(calm::load_model(dir), "model.safetensors", "'" + name + "'", "Inf", "flat index 100");
  }

  void tokenizerLargerThanVocab() {
    // The fixture tokenizer has 128 pieces; a config claiming 100 tokens would
    // let the tokenizer produce ids the embedding lacks.
    const std::string dir = copy_fixture("llama-tied");
    if (dir.empty()) QSKIP("fixture llama-tied absent");
    calm::Tokenizer t;
    t.load(dir + "/tokenizer.model");
    const int pieces = t.size();
    edit_config(dir, [](json& j) { j["vocab_size"] = 100; });
    VERIFY_ERROR(calm::load_model(dir), "tokenizer.model", std::to_string(pieces), "vocab_size 100");
  }

  void tokenizerSmallerThanVocabIsAllowed() {
    // Hugging Face T5 pads its vocabulary past the SentencePiece model.
    const std::string dir = copy_fixture("t5-relu-tied");
    if (dir.empty()) QSKIP("fixture t5-relu-tied absent");
    edit_config(dir, [](json& j) { j["vocab_size"] = 136; });
    edit_tensors(dir, [](TensorMap& t) {
      auto& [shape, values] = t["shared.weight"];
      shape[0] += 8;
      values.resize(size_t(shape[0] * shape[1]), 0.0f);
    });
    const calm::Model m = calm::load_model(dir);
    QCOMPARE(int(m.weights.embedding.rows), 136);
    QVERIFY(m.tokenizer.size() < m.config.vocab_size);
  }

  void eosDisagrees() {
    const std::string dir = copy_fixture("t5-relu-tied");
    if (dir.empty()) QSKIP("fixture t5-relu-tied absent");
    edit_config(dir, [](json& j) { j["eos_token_id"] = 3; });
    VERIFY_ERROR(calm::load_model(dir), "tokenizer.model", "config.json", "eos");
  }

  void badConfigKeyInModel_data() {
    QTest::addColumn<QString>("fixture");
    QTest::addColumn<QString>("key");
    QTest::addColumn<QString>("value");
    QTest::newRow("t5 d_model missing") << "t5-gated-untied-f32" << "d_model" << "";
    QTest::newRow("t5 num_heads string") << "t5-gated-untied-f32" << "num_heads" << "\"four\"";
    QTest::newRow("t5 feed_forward_proj") << "t5-relu-tied" << "feed_forward_proj" << "\"swish\"";
    QTest::newRow("llama hidden_size missing") << "llama-tied" << "hidden_size" << "";
    QTest::newRow("llama kv heads") << "llama-gqa-untied-f32" << "num_key_value_heads" << "3";
  }
  void badConfigKeyInModel() {
    QFETCH(QString, fixture);
    QFETCH(QString, key);
    QFETCH(QString, value);
    const std::string dir = copy_fixture(fixture);
    if (dir.empty()) QSKIP("fixture absent");
    edit_config(dir, [&](json& j) {
      if (value.isEmpty()) j.erase(key.toStdString());
      else j[key.toStdString()] = json::parse(value.toStdString());
    });
    VERIFY_ERROR(calm::load_model(dir), dir + "/config.json", "'" + key.toStdString() + "'");
  }

  void configNamesMissingClassifier() {
    // The config names a head the checkpoint does not carry.
    const std::string dir = copy_fixture("llama-tied");
    if (dir.empty()) QSKIP("fixture llama-tied absent");
    edit_config(dir, [](json& j) { j["calm"] = {{"classifier", {{"weight", "exit.head"}}}}; });
    VERIFY_ERROR(calm::load_model(dir), "model.safetensors", "'exit.head'", "missing");
  }

  void classifierLoads() {
    const std::string dir = copy_fixture("llama-tied");
    if (dir.empty()) QSKIP("fixture llama-tied absent");
    edit_config(dir, [](json& j) { j["calm"] = {{"classifier", {{"weight", "exit.w"}, {"bias", "exit.b"}}}}; });
    edit_tensors(dir, [](TensorMap& t) {
      std::vector<float> w(32);
      for (size_t i = 0; i < w.size(); i++) w[i] = float(i) / 8.0f;
      t["exit.w"] = {{32}, w};
      t["exit.b"] = {{1}, {-0.75f}};
    });
    const calm::Model m = calm::load_model(dir);
    QCOMPARE(m.weights.classifier.size(), Eigen::Index(32));
    QCOMPARE(m.weights.classifier(9), 9.0f / 8.0f);
    QCOMPARE(m.weights.classifier_bias, -0.75f);
    QCOMPARE(m.parameter_count(), expected_parameters(m.config));
  }
};

QTEST_APPLESS_MAIN(TestModelLoading)
#include "test_model_loading.moc"

