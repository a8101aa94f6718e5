// Resource limits: inputs that claim absurd sizes or nest absurdly deep are
// refused with a clear calm::Error, and memory stays bounded while refusing
// them. A model file with a 2^60-byte header or a shape whose product
// overflows, a 100 MB config.json or thresholds file, a JSONL file with a
// 100 MB line, JSON nested a million levels deep, a megabyte-long name in an
// error message, and a 1 MB prompt.
//
// (Raw strings that begin or end with a quote confuse moc: those are escaped.)
//
// The memory checks compare the process's peak resident set before and after,
// so they run first (Qt Test runs the slots in declaration order), before any
// test has raised the peak.
#include <sys/resource.h>

#include <QElapsedTimer>
#include <QTemporaryDir>
#include <QtTest>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "calibrate/jsonl.h"
#include "calibrate/thresholds.h"
#include "decode/decoder.h"
#include "error_assertions.h"
#include "fixture_models.h"
#include "model/config.h"
#include "util/error.h"
#include "model/model.h"
#include "model/safetensors.h"

namespace fs = std::filesystem;
using calm::testing::error_from;

namespace {

constexpr uint64_t kMiB = 1 << 20;

// Peak resident set of this process so far, in MiB.
double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

// The peak may grow by this much while a limit refuses a 100 MB input: the
// input must never be held whole.
constexpr double kMaxGrowthMiB = 48.0;

std::string repeat(const std::string& piece, size_t times) {
  std::string s;
  s.reserve(piece.size() * times);
  for (size_t i = 0; i < times; i++) s += piece;
  return s;
}

}  // namespace

class TestLimits : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir dir_;

  std::string path(const char* name) const { return dir_.filePath(name).toStdString(); }

  std::string write(const char* name, const std::string& bytes) const {
    const std::string p = path(name);
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }

  // A file of `bytes` zero bytes that takes no disk space (sparse).
  std::string sparse(const char* name, uint64_t bytes) const {
    const std::string p = path(name);
    std::ofstream(p, std::ios::binary).close();
    fs::resize_file(p, bytes);
    return p;
  }

  // A safetensors file: the 8-byte little-endian length `length`, then `rest`.
  std::string safetensors(const char* name, uint64_t length, const std::string& rest) const {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; i++) bytes[i] = char(length >> (8 * i));
    return write(name, bytes + rest);
  }
  std::string safetensors(const char* name, const std::string& header, const std::string& data = {}) const {
    return safetensors(name, header.size(), header + data);
  }

 private slots:
  void initTestCase() { QVERIFY(dir_.isValid()); }

  // ---- bounded memory (first, while the peak is low) ------------------------

  void jsonlHundredMegabyteLineIsSkippedInBoundedMemory() {
    const std::string p = path("huge-line.jsonl");
    {
      std::ofstream out(p, std::ios::binary);
      out << R"({"input": "first"})" << "\n" << "{\"input\": \"";
      const std::string chunk(kMiB, 'x');
      for (int i = 0; i < 100; i++) out << chunk;
      out << "\"}\n" << R"({"input": "last"})" << "\n";
      QVERIFY(out.good());
    }
    QVERIFY(fs::file_size(p) > 100 * kMiB);
    const double before = peak_rss_mib();
    calm::JsonlOptions skip;
    skip.policy = calm::BadLinePolicy::Skip;
    const calm::JsonlResult r = calm::read_jsonl(p, skip);
    const double growth = peak_rss_mib() - before;
    QCOMPARE(r.examples.size(), size_t(2));
    QCOMPARE(r.examples[0].input, std::string("first"));
    QCOMPARE(r.examples[1].input, std::string("last"));
    QCOMPARE(r.examples[1].line, size_t(3));
    QCOMPARE(r.problems.size(), size_t(1));
    QVERIFY(r.problems[0].message.find(p + ":2: line longer than the limit of 1048576 bytes") != std::string::npos);
    QVERIFY2(growth < kMaxGrowthMiB, qPrintable(QString("peak memory grew by %1 MiB").arg(growth)));
    VERIFY_ERROR(calm::read_jsonl(p), p + ":2:", "line longer than the limit");
  }

  void configOfHundredMegabytesIsRefusedInBoundedMemory() {
    const std::string p = sparse("config.json", 100 * kMiB);
    const double before = peak_rss_mib();
    VERIFY_ERROR(calm::load_config(p), p, "larger than 16 MiB");
    const double growth = peak_rss_mib() - before;
    QVERIFY2(growth < kMaxGrowthMiB, qPrintable(QString("peak memory grew by %1 MiB").arg(growth)));
  }

  void configThatNeverEndsIsRefused() {
    if (!fs::exists("/dev/zero")) QSKIP("no /dev/zero");
    VERIFY_ERROR(calm::load_config("/dev/zero"), "/dev/zero", "larger than 16 MiB");
  }

  void thresholdsOfHundredMegabytesIsRefusedInBoundedMemory() {
    const std::string p = sparse("thresholds.json", 100 * kMiB);
    const double before = peak_rss_mib();
    VERIFY_ERROR(calm::read_thresholds(p), p, "too large for a thresholds file");
    const double growth = peak_rss_mib() - before;
    QVERIFY2(growth < kMaxGrowthMiB, qPrintable(QString("peak memory grew by %1 MiB").arg(growth)));
  }

  void safetensorsAbsurdHeaderLengthIsRefusedBeforeAllocating() {
    const std::string p = safetensors("absurd.safetensors", uint64_t(1) << 60, "{}");
    const double before = peak_rss_mib();
    VERIFY_ERROR(calm::SafeTensors{p}, p, "header length 1152921504606846976", "absurd");
    QVERIFY(peak_rss_mib() - before < kMaxGrowthMiB);
  }

  void safetensorsHeaderOfMillionsOfValuesIsRefusedBeforeParsing() {
    // 13 MB of "[]," would parse into ~4.5 million values, hundreds of MB.
    const std::string header = R"({"__metadata__": {"x": [)" + repeat("[],", 4500000) + "[]]}}";
    const std::string p = safetensors("many-values.safetensors", header);
    const double before = peak_rss_mib();
    VERIFY_ERROR(calm::SafeTensors{p}, p, "more than 4194304 JSON values", "corrupt");
    const double growth = peak_rss_mib() - before;  // the header itself is read: 13 MB, twice at most
    QVERIFY2(growth < 2 * 13 + kMaxGrowthMiB, qPrintable(QString("peak memory grew by %1 MiB").arg(growth)));
  }

  void configOfMillionsOfValuesIsRefusedBeforeParsing() {
    const std::string p = write("many-values.json", R"({"model_type": "t5", "x": [)" + repeat("0,", 1100000) + "0]}");
    VERIFY_ERROR(calm::load_config(p), p, "more than 1048576 JSON values");
  }

  // ---- absurd sizes in a model file -----------------------------------------

  void safetensorsHeaderPastTheEndIsTruncation() {
    // Under the header limit, but longer than the file.
    const std::string p = safetensors("short.safetensors", 50 * kMiB, "{}");
    VERIFY_ERROR(calm::SafeTensors{p}, p, "runs past the end of the file", "truncated");
  }

  void safetensorsShapeProductOverflows() {
    const std::string data(16, '\0');
    // 2^32 * 2^32 overflows 64 bits.
    std::string p = safetensors("overflow64.safetensors",
                                R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 16]}})", data);
    VERIFY_ERROR(calm::SafeTensors{p}, p, "'w'", "overflows");
    // 2^31 * 2^31 = 2^62 elements fits, but not as bytes (x 4).
    p = safetensors("overflow-bytes.safetensors",
                    R"({"w": {"dtype": "F32", "shape": [2147483648, 2147483648], "data_offsets": [0, 16]}})", data);
    VERIFY_ERROR(calm::SafeTensors{p}, p, "'w'", "overflows");
    // Many modest dimensions whose product overflows.
    p = safetensors("overflow-many.safetensors",
                    R"({"w": {"dtype": "BF16", "shape": [65536, 65536, 65536, 65536, 65536], "data_offsets": [0, 16]}})", data);
    VERIFY_ERROR(calm::SafeTensors{p}, p, "'w'", "overflows");
  }

  void safetensorsHugeShapeIsCheckedAgainstTheFile() {
    // A billion elements, no overflow: refused by the offsets, nothing allocated.
    const std::string p = safetensors("huge.safetensors",
                                      R"({"w": {"dtype": "F32", "shape": [1000000000], "data_offsets": [0, 16]}})",
                                      std::string(16, '\0'));
    const double before = peak_rss_mib();
    VERIFY_ERROR(calm::SafeTensors{p}, p, "'w'", "needs 4000000000");
    QVERIFY(peak_rss_mib() - before < kMaxGrowthMiB);
  }

  void modelWithAbsurdSafetensorsIsRefusedByName() {
    // A whole model directory: a fixture's config and tokenizer, a broken weights file.
    const fs::path src = fs::path(calm::testing::fixture_models_dir()) / "t5-relu-tied";
    const fs::path model = path("absurd-model");
    fs::create_directories(model);
    fs::copy_file(src / "config.json", model / "config.json");
    fs::copy_file(src / "tokenizer.model", model / "tokenizer.model");
    std::string bytes(8, '\xff');  // header length 2^64 - 1
    std::ofstream((model / "model.safetensors").string(), std::ios::binary) << bytes << "{}";
    VERIFY_ERROR(calm::load_model(model.string()), (model / "model.safetensors").string(), "absurd");
  }

  // ---- nesting and message length -------------------------------------------

  void deeplyNestedJsonIsRefused() {
    // A million levels: printing such a value would overflow the stack.
    const std::string deep = repeat("[", 1000000) + repeat("]", 1000000);
    std::string p = safetensors("deep.safetensors", R"({"__metadata__": {"x": )" + deep + "}}");
    VERIFY_ERROR(calm::SafeTensors{p}, p, "deeper than 64 levels");
    p = safetensors("deep-shape.safetensors",
                    R"({"w": {"dtype": "F32", "shape": [1, )" + deep + R"(], "data_offsets": [0, 4]}})",
                    std::string(4, '\0'));
    VERIFY_ERROR(calm::SafeTensors{p}, p, "deeper than 64 levels");
    p = write("deep-config.json", R"({"model_type": "t5", "vocab_size": )" + deep + "}");
    VERIFY_ERROR(calm::load_config(p), p, "deeper than 64 levels");
    // (Under the thresholds file's 1 MiB limit.)
    p = write("deep-thresholds.json", R"({"format": )" + repeat("[", 400000) + repeat("]", 400000) + "}");
    VERIFY_ERROR(calm::read_thresholds(p), p, "deeper than 64 levels");
    p = write("deep.jsonl", R"({"input": "a", "extra": )" + repeat("[", 500000) + repeat("]", 500000) + "}\n" +
                                R"({"input": "b"})" + "\n");
    calm::JsonlOptions skip;
    skip.policy = calm::BadLinePolicy::Skip;
    const calm::JsonlResult r = calm::read_jsonl(p, skip);
    QCOMPARE(r.examples.size(), size_t(1));
    QCOMPARE(r.problems.size(), size_t(1));
    QVERIFY(r.problems[0].message.find(p + ":1: JSON nested deeper than 64 levels") != std::string::npos);
    // Nesting within the limit still reads.
    p = write("nested-ok.jsonl", R"({"input": "a", "extra": )" + repeat("[", 60) + repeat("]", 60) + "}\n");
    QCOMPARE(calm::read_jsonl(p).examples.size(), size_t(1));
  }

  void messagesQuoteHugeValuesInPart() {
    const std::string name(kMiB, 'n');
    std::string p = safetensors("long-name.safetensors",
                                "{\"" + name + "\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [0, 8]}}",
                                std::string(8, '\0'));
    std::string msg = error_from([&] { calm::SafeTensors{p}; });
    QVERIFY2(msg.find("unsupported dtype") != std::string::npos, msg.substr(0, 300).c_str());
    QVERIFY2(msg.find("(1048576 bytes)") != std::string::npos, msg.substr(0, 300).c_str());
    QVERIFY2(msg.size() < 1000, qPrintable(QString("message of %1 bytes").arg(msg.size())));

    const std::string many = "[" + repeat("1.5, ", 200000) + "1.5]";
    p = safetensors("long-shape.safetensors", R"({"w": {"dtype": "F32", "shape": )" + many + R"(, "data_offsets": [0, 4]}})",
                    std::string(4, '\0'));
    msg = error_from([&] { calm::SafeTensors{p}; });
    QVERIFY2(msg.find("holds a non-integer") != std::string::npos, msg.substr(0, 300).c_str());
    QVERIFY2(msg.size() < 1000, qPrintable(QString("message of %1 bytes").arg(msg.size())));

    p = write("long-value.json", R"({"model_type": "t5", "vocab_size": )" + many + "}");
    msg = error_from([&] { calm::load_config(p); });
    QVERIFY2(msg.find("'vocab_size' must be an integer, got [1.5,1.5") != std::string::npos, msg.substr(0, 300).c_str());
    QVERIFY2(msg.size() < 1000, qPrintable(QString("message of %1 bytes").arg(msg.size())));

    p = write("long-type.json", "{\"model_type\": \"" + name + "\"}");
    msg = error_from([&] { calm::load_config(p); });
    QVERIFY2(msg.find("'model_type' is 'nnn") != std::string::npos, msg.substr(0, 300).c_str());
    QVERIFY2(msg.size() < 1000, qPrintable(QString("message of %1 bytes").arg(msg.size())));

    // An unterminated megabyte string: the parser's message quotes what it read.
    p = write("long-token.json", "{\"model_type\": \"" + name);
    msg = error_from([&] { calm::load_config(p); });
    QVERIFY2(msg.find("not valid JSON") != std::string::npos, msg.substr(0, 300).c_str());
    QVERIFY2(msg.size() < 1000, qPrintable(QString("message of %1 bytes").arg(msg.size())));

    p = write("long-line.jsonl", "{\"input\": \"" + std::string(kMiB - 20, 'i') + "\n");
    msg = error_from([&] { calm::read_jsonl(p); });
    QVERIFY2(msg.find(":1: not valid JSON") != std::string::npos, msg.substr(0, 300).c_str());
    QVERIFY2(msg.size() < 1000, qPrintable(QString("message of %1 bytes").arg(msg.size())));

    p = write("long-format.json", "{\"format\": \"" + std::string(500000, 'f') + "\"}");
    msg = error_from([&] { calm::read_thresholds(p); });
    QVERIFY2(msg.find("key 'format'") != std::string::npos, msg.substr(0, 300).c_str());
    QVERIFY2(msg.size() < 1000, qPrintable(QString("message of %1 bytes").arg(msg.size())));
  }

  // ---- a 1 MB prompt ----------------------------------------------------------
  // Observed behaviour of the decoder (core/decode is not changed here): the
  // whole prompt is tokenized; generate() refuses it with a message naming
  // the sizes, and with truncate_prompt cuts it to the context.

  void megabytePrompt_data() {
    QTest::addColumn<QString>("fixture");
    QTest::newRow("t5") << "t5-gated-untied-f32";
    QTest::newRow("llama") << "llama-gqa-untied-f32";
  }

  void megabytePrompt() {
    QFETCH(QString, fixture);
    const calm::Model model = calm::load_model(calm::testing::fixture_models_dir() + "/" + fixture.toStdString());
    calm::Decoder decoder(model);
    const std::string prompt = repeat("And God said, Let there be light: and there was light. ", 20000);
    QVERIFY(prompt.size() > kMiB);
    const int context = model.config.max_positions;

    QElapsedTimer timer;
    timer.start();
    const std::vector<int> ids = decoder.prompt_ids(prompt);
    qInfo("%zu-byte prompt: %zu tokens in %lld ms (context %d)", prompt.size(), ids.size(),
          static_cast<long long>(timer.elapsed()), context);
    QVERIFY(ids.size() > size_t(context));

    calm::DecodeOptions options;
    options.max_new_tokens = 4;
    VERIFY_ERROR(decoder.generate(prompt, options), "the prompt has " + std::to_string(ids.size()) + " tokens",
                 "context of " + std::to_string(context) + " positions", "allow truncation");

    options.truncate_prompt = true;
    const calm::DecodeResult r = decoder.generate(prompt, options);
    QVERIFY(r.prompt_truncated);
    const bool t5 = model.config.arch == calm::Arch::EncoderDecoder;
    QCOMPARE(r.prompt_ids.size(), size_t(t5 ? context : context - options.max_new_tokens));
    QVERIFY(!r.tokens.empty() && r.tokens.size() <= size_t(options.max_new_tokens));
  }
};

QTEST_APPLESS_MAIN(TestLimits)
#include "test_limits.moc"
