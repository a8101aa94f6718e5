// safetensors reader: round trip, half-precision decoding against values known
// by construction, and one test per kind of broken file. Every error test
// checks that a calm::Error is thrown and that its message names the file and
// the tensor or field at fault.
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>

#include "util/error.h"
#include "error_assertions.h"
#include "model/safetensors.h"

namespace {

}  // namespace


class TestSafeTensors : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir dir_;

  std::string path(const char* name) const { return dir_.filePath(name).toStdString(); }

  // A file with the given bytes, for headers no writer would produce.
  std::string write_bytes(const char* name, const std::string& bytes) const {
    const std::string p = path(name);
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }

  // A safetensors file from a header text and a data section.
  std::string write_raw(const char* name, const std::string& header, const std::string& data = {}) const {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; i++) bytes[i] = char(uint64_t(header.size()) >> (8 * i));
    return write_bytes(name, bytes + header + data);
  }

  // A file of one tensor "w" whose header entry is `entry` and whose data
  // section holds `data_bytes` zero bytes.
  std::string write_entry(const char* name, const std::string& entry, size_t data_bytes = 16) const {
    return write_raw(name, "{\"w\": " + entry + "}", std::string(data_bytes, '\0'));
  }

  static std::string halves(std::initializer_list<uint16_t> values) {
    std::string s;
    for (uint16_t v : values) s += {char(v & 0xff), char(v >> 8)};  // little-endian
    return s;
  }

 private slots:
  void initTestCase() { QVERIFY(dir_.isValid()); }

  void roundTripF32() {
    const std::string p = path("round.safetensors");
    const std::vector<float> matrix = {1.0f, -2.5f, 3.25f, 0.0f, 1e-30f, -1e30f};
    calm::write_safetensors_f32(p, {{"m", {{2, 3}, matrix}},
                                    {"v", {{4}, {0.5f, 0.25f, 0.125f, -0.0f}}},
                                    {"empty", {{0, 3}, {}}}});
    const calm::SafeTensors st(p);
    QCOMPARE(st.tensors().size(), size_t(3));
    QVERIFY(st.contains("m") && st.contains("v") && st.contains("empty"));
    QCOMPARE(st.tensors().at("m").shape, (std::vector<int64_t>{2, 3}));
    QCOMPARE(st.tensors().at("m").dtype, calm::DType::F32);
    QCOMPARE(st.read_f32("m"), matrix);  // bit-exact: the bytes are copied
    QCOMPARE(st.read_f32("m", {2, 3}), matrix);
    QCOMPARE(st.read_f32("v"), (std::vector<float>{0.5f, 0.25f, 0.125f, -0.0f}));
    QVERIFY(st.read_f32("empty", {0, 3}).empty());
  }

  void metadataIsRead() {
    const std::string p = write_raw("meta.safetensors",
                                    R"({"__metadata__": {"format": "pt"}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
                                    std::string(4, '\0'));
    const calm::SafeTensors st(p);
    QCOMPARE(st.metadata().at("format"), std::string("pt"));
    QCOMPARE(st.tensors().size(), size_t(1));  // __metadata__ is not a tensor
  }

  void halfToFloat() {
    // binary16: sign | 5-bit exponent (bias 15) | 10-bit mantissa.
    QCOMPARE(calm::half_to_float(0x3C00), 1.0f);      // exponent 15 -> 2^0, mantissa 0
    QCOMPARE(calm::half_to_float(0xC000), -2.0f);     // sign set, exponent 16 -> 2^1
    QCOMPARE(calm::half_to_float(0x3800), 0.5f);      // exponent 14 -> 2^-1
    QCOMPARE(calm::half_to_float(0x7BFF), 65504.0f);  // largest finite: 2^15 * (1 + 1023/1024)
    QCOMPARE(calm::half_to_float(0x3555), 1365.0f / 4096.0f);  // 2^-2 * (1 + 341/1024), nearest to 1/3
    QCOMPARE(calm::half_to_float(0x0400), std::ldexp(1.0f, -14));  // smallest normal: exponent 1 -> 2^-14
    QCOMPARE(calm::half_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal: 1 * 2^-24
    QCOMPARE(calm::half_to_float(0x03FF), std::ldexp(1023.0f, -24));  // largest subnormal: 1023 * 2^-24
    QCOMPARE(calm::half_to_float(0x8001), -std::ldexp(1.0f, -24));
    QCOMPARE(calm::half_to_float(0x0000), 0.0f);
    QVERIFY(std::signbit(calm::half_to_float(0x8000)));  // -0 keeps its sign
    QCOMPARE(calm::half_to_float(0x7C00), std::numeric_limits<float>::infinity());  // exponent 31, mantissa 0
    QCOMPARE(calm::half_to_float(0xFC00), -std::numeric_limits<float>::infinity());
    QVERIFY(std::isnan(calm::half_to_float(0x7E00)));  // exponent 31, mantissa != 0
    QVERIFY(std::isnan(calm::half_to_float(0x7C01)));  // the smallest NaN payload stays NaN
  }

  void bfloat16ToFloat() {
    // bfloat16 is the upper 16 bits of a float32.
    QCOMPARE(calm::bfloat16_to_float(0x3F80), 1.0f);      // 0x3F800000 = 1.0f
    QCOMPARE(calm::bfloat16_to_float(0xC0A0), -5.0f);     // 0xC0A00000: -(2^2 * 1.25)
    QCOMPARE(calm::bfloat16_to_float(0x4049), 3.140625f); // 2^1 * (1 + 73/128): pi rounded to 8 bits
    QCOMPARE(calm::bfloat16_to_float(0x0001), std::ldexp(1.0f, -133));  // float32 subnormal 2^16 * 2^-149
    QCOMPARE(calm::bfloat16_to_float(0x7F80), std::numeric_limits<float>::infinity());
    QVERIFY(std::isnan(calm::bfloat16_to_float(0x7FC0)));
  }

  void readF16Tensor() {
    const std::string p = write_raw("f16.safetensors",
                                    R"({"h": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]}})",
                                    halves({0x3C00, 0xC000, 0x7BFF, 0x0001}));
    const calm::SafeTensors st(p);
    QCOMPARE(st.tensors().at("h").dtype, calm::DType::F16);
    // Same values as halfToFloat: 1, -2, 65504 and 2^-24, now through the file.
    QCOMPARE(st.read_f32("h", {2, 2}), (std::vector<float>{1.0f, -2.0f, 65504.0f, std::ldexp(1.0f, -24)}));
  }

  void readBF16Tensor() {
    // Offsets 2..8 of an 8-byte section: the tensor need not start at 0 and
    // its data need not be 4-byte aligned.
    const std::string p = write_raw("bf16.safetensors",
                                    R"({"b": {"dtype": "BF16", "shape": [3], "data_offsets": [2, 8]}})",
                                    halves({0xFFFF, 0x3F80, 0xC0A0, 0x4049}));
    const calm::SafeTensors st(p);
    QCOMPARE(st.read_f32("b"), (std::vector<float>{1.0f, -5.0f, 3.140625f}));
  }

  // --- broken files: the constructor refuses them --------------------------

  void missingFile() {
    VERIFY_ERROR(calm::SafeTensors(path("nowhere.safetensors")), "nowhere.safetensors", "missing");
  }

  void unreadableDirectory() {
    // A directory opens on Linux but cannot be read as a file.
    VERIFY_ERROR(calm::SafeTensors(dir_.path().toStdString()), dir_.path().toStdString());
  }

  void shorterThanEightBytes() {
    const std::string p = write_bytes("short.safetensors", "abc");
    VERIFY_ERROR(calm::SafeTensors{p}, "short.safetensors", "shorter than");
  }

  void headerLengthPastEnd() {
    // Claims a 64-byte header; the file holds 10 bytes after the length.
    std::string bytes(8, '\0');
    bytes[0] = 64;
    const std::string p = write_bytes("pastend.safetensors", bytes + "{\"a\": {}}  ");
    VERIFY_ERROR(calm::SafeTensors{p}, "pastend.safetensors", "header length 64", "past the end");
  }

  void headerLengthAbsurd() {
    // 2^40 bytes: a corrupt length; refused before any allocation.
    std::string bytes(8, '\0');
    bytes[5] = 1;
    const std::string p = write_bytes("absurd.safetensors", bytes + "{}");
    VERIFY_ERROR(calm::SafeTensors{p}, "absurd.safetensors", "absurd");
  }

  void malformedJson() {
    const std::string p = write_raw("badjson.safetensors", R"({"w": {"dtype": "F32", )");
    VERIFY_ERROR(calm::SafeTensors{p}, "badjson.safetensors", "JSON");
  }

  void headerNotAnObject() {
    const std::string p = write_raw("array.safetensors", "[1, 2]");
    VERIFY_ERROR(calm::SafeTensors{p}, "array.safetensors", "not a JSON object");
  }

  void entryNotAnObject() {
    const std::string p = write_entry("entry.safetensors", "[1, 2, 3]");
    VERIFY_ERROR(calm::SafeTensors{p}, "entry.safetensors", "'w'", "not an object");
  }

  void metadataNotAnObject() {
    const std::string p = write_raw("badmeta.safetensors", R"({"__metadata__": "pt"})");
    VERIFY_ERROR(calm::SafeTensors{p}, "badmeta.safetensors", "__metadata__");
  }

  void unknownDtype() {
    const std::string p = write_entry("dtype.safetensors", R"({"dtype": "I64", "shape": [2], "data_offsets": [0, 16]})");
    VERIFY_ERROR(calm::SafeTensors{p}, "dtype.safetensors", "'w'", "I64");
  }

  void missingDtype() {
    const std::string p = write_entry("nodtype.safetensors", R"({"shape": [4], "data_offsets": [0, 16]})");
    VERIFY_ERROR(calm::SafeTensors{p}, "nodtype.safetensors", "'w'", "dtype");
  }

  void negativeShape() {
    const std::string p = write_entry("negshape.safetensors", R"({"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]})");
    VERIFY_ERROR(calm::SafeTensors{p}, "negshape.safetensors", "'w'", "shape");
  }

  void overflowingShape() {
    // 2^32 * 2^32 elements do not fit in 64 bits.
    const std::string p = write_entry("bigshape.safetensors",
                                      R"({"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 16]})");
    VERIFY_ERROR(calm::SafeTensors{p}, "bigshape.safetensors", "'w'", "overflows");
  }

  void shapeNotIntegers() {
    const std::string p = write_entry("floatshape.safetensors", R"({"dtype": "F32", "shape": [4.0], "data_offsets": [0, 16]})");
    VERIFY_ERROR(calm::SafeTensors{p}, "floatshape.safetensors", "'w'", "shape");
  }

  void offsetsNotTwoInts_data() {
    QTest::addColumn<QString>("offsets");
    QTest::newRow("missing") << "";
    QTest::newRow("one") << R"(, "data_offsets": [16])";
    QTest::newRow("three") << R"(, "data_offsets": [0, 8, 16])";
    QTest::newRow("strings") << R"(, "data_offsets": ["0", "16"])";
    QTest::newRow("negative") << R"(, "data_offsets": [-4, 12])";
    QTest::newRow("object") << R"(, "data_offsets": {"begin": 0})";
  }
  void offsetsNotTwoInts() {
    QFETCH(QString, offsets);
    const std::string p = write_entry("offsets.safetensors",
                                      R"({"dtype": "F32", "shape": [4])" + offsets.toStdString() + "}");
    VERIFY_ERROR(calm::SafeTensors{p}, "offsets.safetensors", "'w'", "data_offsets");
  }

  void beginAfterEnd() {
    const std::string p = write_entry("order.safetensors", R"({"dtype": "F32", "shape": [0], "data_offsets": [16, 0]})");
    VERIFY_ERROR(calm::SafeTensors{p}, "order.safetensors", "'w'", "begin 16 > end 0");
  }

  void endPastData() {
    // Four floats need 16 bytes; the data section has 12.
    const std::string p = write_entry("truncated.safetensors", R"({"dtype": "F32", "shape": [4], "data_offsets": [0, 16]})", 12);
    VERIFY_ERROR(calm::SafeTensors{p}, "truncated.safetensors", "'w'", "past the data section");
  }

  void sizeDisagreesWithShape() {
    // [2, 3] F16 needs 12 bytes; the offsets span 16.
    const std::string p = write_entry("size.safetensors", R"({"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 16]})");
    VERIFY_ERROR(calm::SafeTensors{p}, "size.safetensors", "'w'", "[2, 3]", "needs 12");
  }

  // --- read_f32 refuses what the caller did not ask for -------------------

  void readMissingTensor() {
    const std::string p = path("small.safetensors");
    calm::write_safetensors_f32(p, {{"present", {{1}, {1.0f}}}});
    const calm::SafeTensors st(p);
    VERIFY_ERROR(st.read_f32("absent"), "small.safetensors", "'absent'", "missing");
  }

  void readShapeMismatch() {
    const std::string p = path("shape.safetensors");
    calm::write_safetensors_f32(p, {{"m", {{2, 3}, std::vector<float>(6, 1.0f)}}});
    const calm::SafeTensors st(p);
    VERIFY_ERROR(st.read_f32("m", {3, 2}), "shape.safetensors", "'m'", "[2, 3]", "expected [3, 2]");
  }

  void readNaN() {
    const std::string p = path("nan.safetensors");
    std::vector<float> values(6, 0.5f);
    values[4] = std::numeric_limits<float>::quiet_NaN();
    calm::write_safetensors_f32(p, {{"bad", {{2, 3}, values}}});
    const calm::SafeTensors st(p);
    VERIFY_ERROR(st.read_f32("bad"), "nan.safetensors", "'bad'", "NaN", "flat index 4");
  }

  void readInfFromF16() {
    // 0x7C00 is +Inf in binary16: caught after conversion, at its index.
    const std::string p = write_raw("inf.safetensors",
                                    R"({"h": {"dtype": "F16", "shape": [3], "data_offsets": [0, 6]}})",
                                    halves({0x3C00, 0x3C00, 0x7C00}));
    const calm::SafeTensors st(p);
    VERIFY_ERROR(st.read_f32("h"), "inf.safetensors", "'h'", "Inf", "flat index 2");
  }

  void writerRefusesWrongCount() {
    VERIFY_ERROR(calm::write_safetensors_f32(path("w.safetensors"), {{"t", {{2, 2}, {1.0f}}}}), "w.safetensors", "'t'");
  }
};

QTEST_APPLESS_MAIN(TestSafeTensors)
#include "test_safetensors.moc"

