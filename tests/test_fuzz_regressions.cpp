// Inputs the fuzzers in fuzz/ found to crash a reader, each now refused with
// a calm::Error whose message names the file and says what is wrong.
//
// Found by scripts/fuzz-check.sh: a number too large for a double (1e400)
// made nlohmann::json throw out_of_range (406), not parse_error, and the
// readers caught only parse_error, so the exception escaped as "unexpected
// error" (calm) or terminated the program. The exact inputs the fuzzers wrote
// are replayed from tests/fixtures/fuzz/<reader>/; the minimal form of each
// is checked for every reader.
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <string>

#include "calibrate/jsonl.h"
#include "calibrate/thresholds.h"
#include "error_assertions.h"
#include "model/config.h"
#include "util/error.h"
#include "model/safetensors.h"
#include "model/tokenizer.h"

namespace fs = std::filesystem;

namespace {

// Feeds `path` to the reader that `reader` names, as the fuzz target of that
// name does (for jsonl the fuzz target's first byte picks the options, so a
// replayed jsonl input is cut there; see fuzz/fuzz_jsonl.cpp).
void read_with(const std::string& reader, const std::string& path) {
  if (reader == "safetensors") {
    const calm::SafeTensors file(path);
    for (const auto& entry : file.tensors()) file.read_f32(entry.first);
  } else if (reader == "config") {
    calm::load_config(path);
  } else if (reader == "jsonl") {
    calm::read_jsonl(path);
  } else if (reader == "thresholds") {
    calm::read_thresholds(path);
  } else if (reader == "tokenizer_model") {
    calm::Tokenizer t;
    t.load(path);
  } else {
    QFAIL(qPrintable(QString("no reader named %1").arg(reader.c_str())));
  }
}

}  // namespace

class TestFuzzRegressions : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir dir_;

  std::string write(const std::string& name, const std::string& bytes) const {
    const std::string p = dir_.filePath(QString::fromStdString(name)).toStdString();
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }

  static std::string safetensors_bytes(const std::string& header, const std::string& data) {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; i++) bytes[i] = char(uint64_t(header.size()) >> (8 * i));
    return bytes + header + data;
  }

 private slots:
  void initTestCase() { QVERIFY(dir_.isValid()); }

  void numberTooLargeForADouble_data() {
    QTest::addColumn<QString>("reader");
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("expected");
    QTest::newRow("safetensors") << "safetensors"
                                 << QByteArray::fromStdString(safetensors_bytes(
                                        R"({"w": {"dtype": "F32", "shape": [1e400], "data_offsets": [0, 4]}})",
                                        std::string(4, '\0')))
                                 << "header is not valid JSON";
    QTest::newRow("config") << "config" << QByteArray(R"({"model_type": "t5", "vocab_size": 1e400})")
                            << "not valid JSON";
    QTest::newRow("config, negative") << "config" << QByteArray(R"({"model_type": "llama", "rms_norm_eps": -1e999})")
                                      << "not valid JSON";
    QTest::newRow("jsonl") << "jsonl" << QByteArray("{\"input\": \"a\"}\n{\"input\": \"b\", \"score\": 1e400}\n")
                           << ":2: not valid JSON";
    QTest::newRow("thresholds") << "thresholds" << QByteArray(R"({"format": "calm-thresholds", "tau": 1e400})")
                                << "not valid JSON";
  }

  void numberTooLargeForADouble() {
    QFETCH(QString, reader);
    QFETCH(QByteArray, bytes);
    QFETCH(QString, expected);
    const std::string p = write(reader.toStdString() + "-overflow", bytes.toStdString());
    VERIFY_ERROR(read_with(reader.toStdString(), p), p, expected.toStdString(), "number overflow");
  }

  // Found by fuzz_tokenizer_model within seconds: a SentencePiece model with
  // an empty piece made darts-clone throw through a frame that cannot pass
  // exceptions on, so the process aborted. Each piece is now checked first.
  // The models here are hand-written protobuf: field 1 (tag 0x0a) of
  // ModelProto is a SentencePiece message, whose field 1 (tag 0x0a) is the
  // piece, field 2 (0x15) its float score.
  void emptyOrNulPieceRefused_data() {
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("expected");
    const QByteArray unk("\x0a\x09\x0a\x05<unk>\x18\x02", 11);  // piece "<unk>", type UNKNOWN
    QTest::newRow("empty piece") << unk + QByteArray("\x0a\x02\x0a\x00", 4) << "piece 1 is empty";
    QTest::newRow("no piece field") << unk + QByteArray("\x0a\x05\x15\x00\x00\x80\xbf", 7) << "piece 1 is empty";
    QTest::newRow("NUL in a piece") << unk + QByteArray("\x0a\x04\x0a\x02" "a\x00", 6) << "piece 1 holds a NUL byte";
    QTest::newRow("length past the end") << unk + QByteArray("\x0a\x7f\x0a\x01", 4) << "runs past the end";
    QTest::newRow("group wire type") << unk + QByteArray("\x0b", 1) << "wire type 3";
  }

  void emptyOrNulPieceRefused() {
    QFETCH(QByteArray, bytes);
    QFETCH(QString, expected);
    const std::string p = write("piece.model", bytes.toStdString());
    VERIFY_ERROR(read_with("tokenizer_model", p), p, "not a SentencePiece model", expected.toStdString());
  }

  void fixtureModelsStillLoad() {
    for (const char* name : {"llama-tied", "t5-relu-tied"}) {
      calm::Tokenizer t;
      t.load(std::string(CALM_FIXTURES_DIR) + "/models/" + name + "/tokenizer.model");
      QCOMPARE(t.size(), 128);
      QCOMPARE(t.decode(t.encode("the light")), std::string("the light"));
    }
  }

  // Every input a fuzzer saved, as it saved it.
  void savedCrashInputs_data() {
    QTest::addColumn<QString>("reader");
    QTest::addColumn<QString>("path");
    const fs::path root = fs::path(CALM_FIXTURES_DIR) / "fuzz";
    for (const auto& reader : fs::directory_iterator(root))
      for (const auto& input : fs::directory_iterator(reader.path()))
        QTest::newRow(qPrintable(QString::fromStdString(reader.path().filename().string() + "/" +
                                                        input.path().filename().string())))
            << QString::fromStdString(reader.path().filename().string())
            << QString::fromStdString(input.path().string());
  }

  void savedCrashInputs() {
    QFETCH(QString, reader);
    QFETCH(QString, path);
    std::string p = path.toStdString();
    if (reader == "jsonl") {  // drop the options byte the fuzz target reads first
      std::ifstream in(p, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      p = write("replay.jsonl", bytes.empty() ? bytes : bytes.substr(1));
    }
    const std::string msg = calm::testing::error_from([&] { read_with(reader.toStdString(), p); });
    QVERIFY2(!msg.empty(), "no calm::Error");
    QVERIFY2(msg.find(p) != std::string::npos, msg.c_str());
    QVERIFY2(msg.size() < 1000, msg.substr(0, 300).c_str());
  }
};

QTEST_APPLESS_MAIN(TestFuzzRegressions)
#include "test_fuzz_regressions.moc"
