// JSONL calibration sets: good files, each kind of malformed line under both
// policies, the line-size limit, and files that cannot be read. Every file is
// written to a QTemporaryDir.
#include <QtTest>

#include <fstream>
#include <string>

#include "calibrate/jsonl.h"
#include "util/error.h"

using namespace calm;

namespace {

std::string write_file(const QTemporaryDir& dir, const char* name, const std::string& text) {
  const std::string path = dir.filePath(name).toStdString();
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// The message read_jsonl throws under BadLinePolicy::Stop, or "" if none.
std::string stop_message(const std::string& path, const JsonlOptions& options = {}) {
  try {
    read_jsonl(path, options);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

class TestJsonl : public QObject {
  Q_OBJECT

 private slots:
  void init() { QVERIFY(dir_.isValid()); }
  void reads_examples();
  void skips_blank_lines_and_handles_line_ends();
  void empty_file();
  void malformed_line_stops_data();
  void malformed_line_stops();
  void skip_policy_collects_problems();
  void long_lines_are_refused();
  void huge_line_is_refused_and_reading_goes_on();
  void unreadable_paths_throw();

 private:
  QTemporaryDir dir_;
};

void TestJsonl::reads_examples() {
  const auto path = write_file(dir_, "good.jsonl",
                               R"({"input": "translate: hello", "reference": "bonjour"})" "\n"
                               R"({"input": "no reference here", "id": 7, "tags": ["a"]})" "\n"
                               R"({"input": "caf\u00e9 \"quoted\"", "reference": ""})" "\n");
  const auto result = read_jsonl(path);
  QCOMPARE(result.examples.size(), std::size_t{3});
  QVERIFY(result.problems.empty());
  QCOMPARE(result.examples[0].input, std::string("translate: hello"));
  QCOMPARE(result.examples[0].reference, std::optional<std::string>("bonjour"));
  QCOMPARE(result.examples[0].line, std::size_t{1});
  QVERIFY(result.examples[0].extra.empty());
  // No reference is fine (textual consistency needs none); other fields are kept.
  QVERIFY(!result.examples[1].reference.has_value());
  QCOMPARE(result.examples[1].extra.at("id").get<int>(), 7);
  QCOMPARE(result.examples[1].extra.at("tags").size(), std::size_t{1});
  QVERIFY(!result.examples[1].extra.contains("input"));
  // JSON escapes are decoded; UTF-8 comes out as UTF-8. An empty reference is a reference.
  QCOMPARE(result.examples[2].input, std::string("caf\xC3\xA9 \"quoted\""));
  QCOMPARE(result.examples[2].reference, std::optional<std::string>(""));
}

void TestJsonl::skips_blank_lines_and_handles_line_ends() {
  // A byte order mark, CRLF ends, blank and whitespace-only lines, and a last
  // line without a newline. Line numbers count every physical line.
  const auto path = write_file(dir_, "blank.jsonl",
                               "\xEF\xBB\xBF" R"({"input": "one"})" "\r\n"
                               "\r\n"
                               "   \t \n"
                               "\n"
                               R"({"input": "two"})");
  const auto result = read_jsonl(path);
  QCOMPARE(result.examples.size(), std::size_t{2});
  QCOMPARE(result.examples[0].input, std::string("one"));
  QCOMPARE(result.examples[0].line, std::size_t{1});
  QCOMPARE(result.examples[1].input, std::string("two"));
  QCOMPARE(result.examples[1].line, std::size_t{5});
}

void TestJsonl::empty_file() {
  const auto result = read_jsonl(write_file(dir_, "empty.jsonl", ""));
  QVERIFY(result.examples.empty());
  QVERIFY(result.problems.empty());
}

void TestJsonl::malformed_line_stops_data() {
  QTest::addColumn<QByteArray>("bad_line");
  QTest::addColumn<QByteArray>("why");
  QTest::newRow("bad json") << QByteArray(R"({"input": "a")") << QByteArray("not valid JSON");
  QTest::newRow("trailing garbage") << QByteArray(R"({"input": "a"} x)")
                                    << QByteArray("not valid JSON");
  QTest::newRow("invalid utf-8") << QByteArray("{\"input\": \"\xFF\"}")
                                 << QByteArray("not valid JSON");
  QTest::newRow("array") << QByteArray(R"(["input", "a"])") << QByteArray("expected a JSON object");
  QTest::newRow("string") << QByteArray(R"("input")") << QByteArray("expected a JSON object");
  QTest::newRow("no input") << QByteArray(R"({"reference": "a"})")
                            << QByteArray("missing \"input\"");
  QTest::newRow("number input") << QByteArray(R"({"input": 3})")
                                << QByteArray("\"input\" must be a string");
  QTest::newRow("null reference") << QByteArray(R"({"input": "a", "reference": null})")
                                  << QByteArray("\"reference\" must be a string");
  QTest::newRow("list reference") << QByteArray(R"({"input": "a", "reference": ["b"]})")
                                  << QByteArray("\"reference\" must be a string");
}

void TestJsonl::malformed_line_stops() {
  QFETCH(QByteArray, bad_line);
  QFETCH(QByteArray, why);
  // The bad line is line 3, after a good line and a blank one.
  const auto path = write_file(dir_, "bad.jsonl",
                               std::string(R"({"input": "fine"})") + "\n\n" +
                                   bad_line.toStdString() + "\n" + R"({"input": "after"})" + "\n");
  const std::string message = stop_message(path);
  QVERIFY2(contains(message, path + ":3: "), message.c_str());
  QVERIFY2(contains(message, why.toStdString()), message.c_str());
}

void TestJsonl::skip_policy_collects_problems() {
  const auto path = write_file(dir_, "mixed.jsonl",
                               R"({"input": "a"})" "\n"
                               R"({"input": 1})" "\n"
                               "not json\n"
                               R"({"input": "b", "reference": "B"})" "\n"
                               R"({"reference": "c"})" "\n"
                               R"({"input": ""})" "\n"
                               R"({"input": " \t "})" "\n");
  const auto result = read_jsonl(path, {.policy = BadLinePolicy::Skip});
  QCOMPARE(result.examples.size(), std::size_t{2});
  QCOMPARE(result.examples[1].input, std::string("b"));
  QCOMPARE(result.examples[1].line, std::size_t{4});
  QCOMPARE(result.problems.size(), std::size_t{5});
  QCOMPARE(result.problems[0].line, std::size_t{2});
  QCOMPARE(result.problems[1].line, std::size_t{3});
  QCOMPARE(result.problems[2].line, std::size_t{5});
  // An empty input is a bad line (the decoder would refuse it mid-run).
  QCOMPARE(result.problems[3].line, std::size_t{6});
  QVERIFY(contains(result.problems[3].message, "\"input\" is empty"));
  QCOMPARE(result.problems[4].line, std::size_t{7});
  for (const auto& problem : result.problems)
    QVERIFY(contains(problem.message, path + ":" + std::to_string(problem.line) + ": "));
  // The same file under Stop ends at line 2.
  QVERIFY(contains(stop_message(path), path + ":2: "));
}

void TestJsonl::long_lines_are_refused() {
  // {"input":"abcd"} is exactly 16 bytes: at a limit of 16 it is read (a CRLF
  // end does not count), one byte more is refused.
  const auto path = write_file(dir_, "limit.jsonl",
                               R"({"input":"abcd"})" "\r\n"
                               R"({"input":"abcde"})" "\n"
                               R"({"input":"abc"})" "\n");
  const JsonlOptions options{.policy = BadLinePolicy::Skip, .max_line_bytes = 16};
  const auto result = read_jsonl(path, options);
  QCOMPARE(result.examples.size(), std::size_t{2});
  QCOMPARE(result.examples[0].input, std::string("abcd"));
  QCOMPARE(result.examples[1].input, std::string("abc"));
  QCOMPARE(result.examples[1].line, std::size_t{3});
  QCOMPARE(result.problems.size(), std::size_t{1});
  QCOMPARE(result.problems[0].line, std::size_t{2});
  QVERIFY2(contains(result.problems[0].message, "longer than the limit of 16 bytes"),
           result.problems[0].message.c_str());
  const std::string message = stop_message(path, {.max_line_bytes = 16});
  QVERIFY2(contains(message, path + ":2: line longer than the limit"), message.c_str());
}

void TestJsonl::huge_line_is_refused_and_reading_goes_on() {
  // A 3 MB line (a whole data set written as one JSON array, say) against the
  // default 1 MiB limit: refused, and the next line is still read in step.
  std::string huge = R"({"input": ")" + std::string(3 << 20, 'x') + "\"}";
  const auto path = write_file(dir_, "huge.jsonl",
                               huge + "\n" + R"({"input": "small"})" + "\n");
  const auto result = read_jsonl(path, {.policy = BadLinePolicy::Skip});
  QCOMPARE(result.problems.size(), std::size_t{1});
  QCOMPARE(result.problems[0].line, std::size_t{1});
  QVERIFY(contains(result.problems[0].message, "limit of 1048576 bytes"));
  QCOMPARE(result.examples.size(), std::size_t{1});
  QCOMPARE(result.examples[0].line, std::size_t{2});
  QVERIFY(contains(stop_message(path), path + ":1: line longer than the limit"));
}

void TestJsonl::unreadable_paths_throw() {
  const std::string missing = dir_.filePath("missing.jsonl").toStdString();
  const std::string message = stop_message(missing);
  QVERIFY2(contains(message, missing + ": cannot open"), message.c_str());
  // Even under Skip: a file that cannot be opened is not a bad line.
  QVERIFY_THROWS_EXCEPTION(Error, read_jsonl(missing, {.policy = BadLinePolicy::Skip}));
  QVERIFY(contains(stop_message(dir_.path().toStdString()), "is a directory"));
}

QTEST_APPLESS_MAIN(TestJsonl)
#include "test_jsonl.moc"
