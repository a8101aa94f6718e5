// Weights kept as stored (a copy of the file's bytes), converted at load (--weights),
// sharded over several files; the K/V cache sized by what a run needs.
#include <QtTest>

#include <filesystem>
#include <fstream>

#include "decode/decoder.h"
#include "error_assertions.h"
#include "fixture_models.h"
#include "model/checkpoint.h"
#include "model/load.h"
#include "model/model.h"
#include "nn/run_state.h"

using namespace calm;
using calm::testing::fixture_models_dir;
using calm::testing::relative_error;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string& name) { return fixture_models_dir() + "/" + name; }

// Every layer's logits of a teacher-forced pass: what the weights compute.
std::vector<Matrix> logits_of(const Model& model) {
  Decoder decoder(model);
  const std::vector<int> encoder = model.config.arch == Arch::EncoderDecoder ? std::vector<int>{5, 9, 14, 3, 1}
                                                                             : std::vector<int>{};
  return decoder.layer_logits(encoder, {0, 7, 22, 11, 4, 9});
}

}  // namespace

class TestWeightsStorage : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;

  // The fixture copied into the temporary directory with its tensors spread
  // over `shards` files and an index, as Hugging Face writes large checkpoints.
  std::string sharded_copy(const std::string& name, int shards) {
    const fs::path out = fs::path(tmp_.path().toStdString()) / (name + "-sharded");
    fs::create_directories(out);
    for (const char* f : {"config.json", "tokenizer.model"}) fs::copy_file(fs::path(fixture(name)) / f, out / f);
    const SafeTensors all(fixture(name) + "/model.safetensors");
    std::vector<std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>> parts(static_cast<size_t>(shards));
    nlohmann::json map = nlohmann::json::object();
    int i = 0;
    for (const auto& [tensor, info] : all.tensors()) {
      const int shard = i++ % shards;
      parts[size_t(shard)][tensor] = {info.shape, all.read_f32(tensor)};
      map[tensor] = "model-0000" + std::to_string(shard + 1) + "-of-0000" + std::to_string(shards) + ".safetensors";
    }
    for (int s = 0; s < shards; ++s)
      write_safetensors_f32((out / ("model-0000" + std::to_string(s + 1) + "-of-0000" + std::to_string(shards) +
                                    ".safetensors")).string(),
                            parts[size_t(s)]);
    std::ofstream((out / "model.safetensors.index.json").string()) << nlohmann::json{{"metadata", {}}, {"weight_map", map}}.dump();
    return out.string();
  }

 private slots:
  void initTestCase() { QVERIFY(tmp_.isValid()); }

  void weightsStayInTheStoredType() {
    for (const auto& [name, type] : {std::pair{"llama-gqa-untied-f16", WeightType::F16},
                                     std::pair{"llama-gqa-untied-bf16", WeightType::BF16},
                                     std::pair{"t5-gated-untied-f32", WeightType::F32}}) {
      const Model m = load_model(fixture(name));
      QCOMPARE(m.weights.embedding.type, type);
      QCOMPARE(m.weights.decoder[0].ffn.down.type, type);
      // A copy of the file's bytes, exactly.
      const WeightMatrix& q = m.weights.decoder[0].self_attn.q;
      QVERIFY(q.storage != nullptr);
      const SafeTensors file(fixture(name) + "/model.safetensors");
      const std::vector<float> expected = file.read_f32(std::string(name).starts_with("t5") ? "decoder.block.0.layer.0.SelfAttention.q.weight"
                                                                                : "model.layers.0.self_attn.q_proj.weight");
      QCOMPARE(int64_t(expected.size()), q.size());
      const Matrix copied = q.to_dense();
      QVERIFY(std::equal(expected.begin(), expected.end(), copied.data()));
    }
  }

  void widenedWeightsComputeTheSameLogits() {
    // F16 values widen to F32 exactly, and the kernels accumulate in the same
    // order for both: the logits must agree bit for bit.
    const Model stored = load_model(fixture("llama-gqa-untied-f16"));
    LoadOptions f32;
    f32.weights = WeightType::F32;
    const Model widened = load_model(fixture("llama-gqa-untied-f16"), f32);
    QCOMPARE(widened.weights.decoder[1].self_attn.o.type, WeightType::F32);
    const std::vector<Matrix> a = logits_of(stored), b = logits_of(widened);
    for (size_t l = 0; l < a.size(); ++l) QCOMPARE(a[l], b[l]);
  }

  void q8WeightsStayCloseToTheStoredOnes_data() {
    QTest::addColumn<QString>("name");
    QTest::newRow("llama") << "llama-gqa-untied-f32";
    QTest::newRow("t5") << "t5-gated-untied-f32";
  }
  void q8WeightsStayCloseToTheStoredOnes() {
    QFETCH(QString, name);
    LoadOptions q8;
    q8.weights = WeightType::Q8;
    const Model exact = load_model(fixture(name.toStdString()));
    const Model quantised = load_model(fixture(name.toStdString()), q8);
    QCOMPARE(quantised.weights.decoder[0].ffn.up.type, WeightType::Q8);
    QVERIFY(quantised.weights.matrix_bytes() * 3 < exact.weights.matrix_bytes());  // about 1.1 of 4 bytes a weight
    const std::vector<Matrix> a = logits_of(exact), b = logits_of(quantised);
    for (size_t l = 0; l < a.size(); ++l) {
      // Relative RMS error of all logits: 8 bits with a scale per 32 weights
      // cost under 1% per product (test_kernels), compounding over the layers;
      // T5's unscaled attention scores (and 3 encoder layers first) amplify it
      // on these random fixtures to about 4.5%.
      const double error = double((b[l] - a[l]).norm() / a[l].norm());
      QVERIFY2(error < 0.08, qPrintable(QString("layer %1: relative error %2").arg(l + 1).arg(error)));
      QVERIFY(error > 0.0);
    }
  }

  void weightsOptionParses() {
    QVERIFY(!parse_weight_type("auto").has_value());
    QCOMPARE(*parse_weight_type("q8"), WeightType::Q8);
    QCOMPARE(*parse_weight_type("bf16"), WeightType::BF16);
    VERIFY_ERROR(parse_weight_type("int4"), "--weights", "int4", "q8");
  }

  void shardedCheckpointLoadsLikeOneFile() {
    const std::string dir = sharded_copy("llama-gqa-untied-f32", 3);
    QVERIFY(!fs::exists(dir + "/model.safetensors"));
    const Checkpoint checkpoint(dir);
    QCOMPARE(int(checkpoint.files().size()), 3);
    const Model sharded = load_model(dir);
    const Model single = load_model(fixture("llama-gqa-untied-f32"));
    const std::vector<Matrix> a = logits_of(sharded), b = logits_of(single);
    for (size_t l = 0; l < a.size(); ++l) QCOMPARE(a[l], b[l]);
  }

  // The progress of a sharded load: every file named as it is mapped (its
  // header: the first 5%), then every layer as it is copied (the rest), never
  // going back, ending at 1.
  void loadProgressNamesFilesAndLayers() {
    const std::string dir = sharded_copy("llama-bias", 3);  // (each test its own fixture: the copy's name)
    std::vector<LoadProgress> seen;
    const LoadedModel loaded = load_model_reporting(dir, {}, [&](const LoadProgress& p) {
      seen.push_back(p);
      return true;
    });
    QVERIFY(!seen.empty());
    for (size_t i = 1; i < seen.size(); ++i) QVERIFY(seen[i].fraction >= seen[i - 1].fraction);
    QCOMPARE(seen.back().fraction, 1.0);
    const auto stage_at = [&](const std::string& text) {
      for (const LoadProgress& p : seen)
        if (p.stage.find(text) != std::string::npos) return p.fraction;
      return -1.0;
    };
    // Three shards at 0, 0.05/3, 0.1/3; layer 3 of 3 is step 4 of 5 (embedding, 3 layers, head) after those.
    QCOMPARE(stage_at("Mapping model-00001-of-00003.safetensors (1 of 3)"), 0.0);
    QCOMPARE(stage_at("(3 of 3)"), 0.05 * 2 / 3);
    QCOMPARE(stage_at("Copying: Layer 3 of 3"), 0.05 + 0.95 * 3 / 5);
    QCOMPARE(loaded.model.config.decoder_layers, 3);
    // Converting says so.
    seen.clear();
    LoadOptions q8;
    q8.weights = WeightType::Q8;
    const LoadedModel converted = load_model_reporting(dir, q8, [&](const LoadProgress& p) {
      seen.push_back(p);
      return true;
    });
    QVERIFY(stage_at("Converting to q8: Layer 1 of 3") > 0.05);
    QCOMPARE(converted.info.weights_type, std::string("q8"));
    QCOMPARE(converted.info.stored_types, std::string("f32"));
    QCOMPARE(converted.model.weights.decoder[2].self_attn.k.type, WeightType::Q8);
  }

  // Answering false stops the load at the next step, whichever it is.
  void loadCancelsAtAnyStep() {
    const std::string dir = sharded_copy("qwen2-style", 2);
    int total = 0;
    (void)load_model_reporting(dir, {}, [&](const LoadProgress&) { return ++total > 0; });
    QVERIFY(total >= 2 + 2 + 3 + 2);  // config, tokenizer, 2 files, embedding, 3 layers, head
    for (int stop = 1; stop <= total; ++stop) {
      int calls = 0;
      try {
        (void)load_model_reporting(dir, {}, [&](const LoadProgress&) { return ++calls < stop; });
        QFAIL("the load went on after being cancelled");
      } catch (const LoadCancelled& e) {
        QCOMPARE(calls, stop);
        QVERIFY(std::string(e.what()).find("cancelled") != std::string::npos);
      }
    }
  }

  void shardedCheckpointErrorsNameTheFile() {
    const std::string dir = sharded_copy("llama-tied", 2);
    const std::string index = dir + "/model.safetensors.index.json";
    const std::string second = dir + "/model-00002-of-00002.safetensors";
    fs::rename(second, dir + "/moved");
    VERIFY_ERROR(load_model(dir), second, "shard missing", "index.json");
    fs::rename(dir + "/moved", second);

    nlohmann::json j = testing::read_json(index);
    const std::string tensor = j["weight_map"].begin().key();
    j["weight_map"][tensor] = "../elsewhere.safetensors";
    std::ofstream(index) << j.dump();
    VERIFY_ERROR(load_model(dir), index, tensor, "not a file of the model directory");

    std::ofstream(index) << "{\"weight_map\": 3}";
    VERIFY_ERROR(load_model(dir), index, "weight_map");
    std::ofstream(index) << "{\"weight_map\": {";
    VERIFY_ERROR(load_model(dir), index, "not valid JSON");
  }

  void pytorchCheckpointIsRefusedWithAWayOut() {
    const fs::path dir = fs::path(tmp_.path().toStdString()) / "torch-model";
    fs::create_directories(dir);
    for (const char* f : {"config.json", "tokenizer.model"}) fs::copy_file(fs::path(fixture("llama-tied")) / f, dir / f);
    std::ofstream((dir / "pytorch_model.bin").string()) << "pickle";
    VERIFY_ERROR(load_model(dir.string()), "pytorch_model.bin", "safetensors", "save_pretrained");
  }

  void kvCacheIsSizedByTheRunNotTheContext() {
    Model m = load_model(fixture("llama-tied"));
    m.config.max_positions = 1 << 20;  // a long-context config: the cache must not follow it
    RunState state(m.config);
    QVERIFY(state.capacity <= 64);
    QCOMPARE(int(state.key[0].rows()), state.capacity);
    state.key[0].row(5).setConstant(3.0f);
    state.reserve(100);
    QVERIFY(state.capacity >= 100 && state.capacity < 200);
    QCOMPARE(state.key[0](5, 0), 3.0f);  // kept across the growth
    VERIFY_ERROR(state.reserve((1 << 20) + 1), "context", "1048576");

    Decoder decoder(m);
    DecodeOptions o;
    o.max_new_tokens = 6;
    const DecodeResult r = decoder.generate("And God said", o);
    QVERIFY(!r.tokens.empty());
  }

  void ignoreEosDecodesEveryToken() {
    const Model m = load_model(fixture("llama-tied"));
    Decoder decoder(m);
    DecodeOptions o;
    o.max_new_tokens = 40;
    o.ignore_eos = true;
    const DecodeResult r = decoder.generate("light", o);
    QCOMPARE(int(r.tokens.size()), 40);
    QVERIFY(!r.stopped_at_eos);
  }

  void threadsGiveTheSameTokens() {
    // Rows split over threads are the same dot products: identical output.
    const Model m = load_model(fixture("t5-gated-untied-f32"));
    Decoder one(m), three(m, 3);
    DecodeOptions o;
    o.max_new_tokens = 12;
    o.lambda = 0.5f;
    const DecodeResult a = one.generate("And God said, Let there be light", o);
    const DecodeResult b = three.generate("And God said, Let there be light", o);
    QCOMPARE(a.tokens, b.tokens);
    QCOMPARE(a.exit_layers, b.exit_layers);
  }
};

QTEST_APPLESS_MAIN(TestWeightsStorage)
#include "test_weights_storage.moc"
