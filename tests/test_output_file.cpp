// write_output_file and check_distinct_files (core/io/output_file.h): every
// writer's guard against replacing what a path happens to point at. All files,
// links and FIFOs live in a QTemporaryDir; no device node is touched (a FIFO
// stands for "not a regular file").
#include <sys/stat.h>
#include <unistd.h>

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "error_assertions.h"
#include "io/output_file.h"
#include "io/utf8.h"

using namespace calm;
namespace fs = std::filesystem;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_plain(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// Everything in `dir`, hidden temporary files included.
QStringList entries(const QTemporaryDir& dir) {
  return QDir(dir.path()).entryList(QDir::AllEntries | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot,
                                    QDir::Name);
}

mode_t mode_of(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 ? st.st_mode : 0;
}

}  // namespace

class TestOutputFile : public QObject {
  Q_OBJECT
 private slots:
  void writes_new_and_replaces_regular_files();
  void refuses_links_fifos_and_directories();
  void refuses_a_missing_directory();
  void distinct_outputs_and_inputs();
  void model_files_are_inputs();
  void utf8();
};

void TestOutputFile::writes_new_and_replaces_regular_files() {
  QTemporaryDir dir;
  const std::string path = dir.filePath("out.json").toStdString();
  write_output_file(path, "first", "--out");
  QCOMPARE(read_all(path), std::string("first"));
  QVERIFY(S_ISREG(mode_of(path)));

  // Replacing keeps the file's permission bits (a rename would otherwise
  // leave the temporary file's).
  QCOMPARE(::chmod(path.c_str(), 0640), 0);
  write_output_file(path, std::string(100000, 'x'), "--out");
  QCOMPARE(read_all(path), std::string(100000, 'x'));
  QCOMPARE(mode_of(path) & 07777, mode_t(0640));
  write_output_file(path, "", "--out");  // an empty file is a file too
  QCOMPARE(read_all(path), std::string());
  // No temporary file is left behind.
  QCOMPARE(entries(dir), QStringList{"out.json"});
}

void TestOutputFile::refuses_links_fifos_and_directories() {
  QTemporaryDir dir;
  const std::string target = dir.filePath("target.json").toStdString();
  const std::string link = dir.filePath("link.json").toStdString();
  write_plain(target, "precious");
  fs::create_symlink(target, link);
  VERIFY_ERROR(write_output_file(link, "new", "--out"), "--out", link, "symbolic link");
  QVERIFY(fs::is_symlink(link));
  QCOMPARE(read_all(target), std::string("precious"));

  // A dangling link is refused too: writing would create a file elsewhere.
  const std::string dangling = dir.filePath("dangling.json").toStdString();
  fs::create_symlink(dir.filePath("nowhere.json").toStdString(), dangling);
  VERIFY_ERROR(write_output_file(dangling, "new", "--report"), "--report", "symbolic link");
  QVERIFY(!fs::exists(dir.filePath("nowhere.json").toStdString()));

  // A FIFO stands for any special file (a device node gets the same check).
  // It is never opened, so nothing blocks.
  const std::string fifo = dir.filePath("fifo").toStdString();
  QCOMPARE(::mkfifo(fifo.c_str(), 0600), 0);
  VERIFY_ERROR(write_output_file(fifo, "new", "--out"), "--out", fifo, "a FIFO", "regular files or new");
  VERIFY_ERROR(check_output_path(fifo, "--cache"), "--cache", "a FIFO");
  QVERIFY(S_ISFIFO(mode_of(fifo)));

  const std::string sub = dir.filePath("sub").toStdString();
  fs::create_directory(sub);
  VERIFY_ERROR(write_output_file(sub, "new"), sub, "a directory");
  QVERIFY(fs::is_directory(sub));
  VERIFY_ERROR(write_output_file("", "new", "--out"), "--out", "empty");

  QCOMPARE(entries(dir), (QStringList{"dangling.json", "fifo", "link.json", "sub", "target.json"}));
}

void TestOutputFile::refuses_a_missing_directory() {
  QTemporaryDir dir;
  const std::string path = dir.filePath("missing/out.json").toStdString();
  VERIFY_ERROR(write_output_file(path, "x", "--out"), "--out", path, "does not exist");
  QVERIFY(entries(dir).isEmpty());
}

void TestOutputFile::distinct_outputs_and_inputs() {
  QTemporaryDir dir;
  const std::string data = dir.filePath("data.jsonl").toStdString();
  write_plain(data, "{\"input\": \"x\"}\n");
  const std::string out = dir.filePath("out.json").toStdString();

  // The same path, spelled differently.
  const std::string data_again = dir.filePath("./sub/../data.jsonl").toStdString();
  fs::create_directory(dir.filePath("sub").toStdString());
  VERIFY_ERROR(check_distinct_files({{"--out", data_again}}, {{"--data", data}}), "--out", "the input --data",
               "destroy");
  // A hard link and a symbolic link to an input are the same file.
  const std::string hard = dir.filePath("hard.jsonl").toStdString();
  fs::create_hard_link(data, hard);
  VERIFY_ERROR(check_distinct_files({{"--report", hard}}, {{"--data", data}}), "--report", "--data");
  const std::string soft = dir.filePath("soft.jsonl").toStdString();
  fs::create_symlink(data, soft);
  VERIFY_ERROR(check_distinct_files({{"--out", data}}, {{"--data", soft}}), "--out", "--data");
  // Two outputs that do not exist yet, the same file all the same.
  VERIFY_ERROR(check_distinct_files({{"--out", out}, {"--report", dir.filePath("sub/../out.json").toStdString()}}, {}),
               "--report", "the same file as --out", "its own file");
  // Each output is checked as an output too.
  VERIFY_ERROR(check_distinct_files({{"--cache", soft}}, {}), "--cache", "symbolic link");

  // Distinct files pass, and nothing was written or removed.
  check_distinct_files({{"--out", out}, {"--cache", dir.filePath("out.cache.jsonl").toStdString()}},
                       {{"--data", data}, {"--data", soft}});
  QCOMPARE(read_all(data), std::string("{\"input\": \"x\"}\n"));
  QCOMPARE(entries(dir), (QStringList{"data.jsonl", "hard.jsonl", "soft.jsonl", "sub"}));
}

void TestOutputFile::model_files_are_inputs() {
  QTemporaryDir dir;
  fs::create_directory(dir.filePath("model").toStdString());
  for (const char* name : {"config.json", "model.safetensors", "tokenizer.model"})
    write_plain(dir.filePath(QString("model/") + name).toStdString(), "x");
  const auto files = model_input_files(dir.filePath("model").toStdString());
  QCOMPARE(files.size(), size_t(3));
  VERIFY_ERROR(check_distinct_files({{"--out", dir.filePath("model/config.json").toStdString()}}, files), "--out",
               "the model's config.json");
  QVERIFY(model_input_files(dir.filePath("none").toStdString()).empty());
}

// The validator against hand-picked sequences (RFC 3629, table 3-7 of the
// Unicode standard), and the JSON dump that replaces instead of throwing.
void TestOutputFile::utf8() {
  for (const char* good : {"", "plain", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
                           "\xed\x9f\xbf"})
    QVERIFY2(valid_utf8(good), good);
  for (const char* bad : {"\xff", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                          "\xf0\x9f\x98", "a\x80" "b", "\xf8\x88\x80\x80\x80"})
    QVERIFY2(!valid_utf8(bad), bad);
  VERIFY_ERROR(require_utf8("data\xff.jsonl", "--data"), "--data", "not valid UTF-8");
  const nlohmann::json j = {{"path", "data\xff.jsonl"}};
  QVERIFY_THROWS_EXCEPTION(nlohmann::json::exception, j.dump());
  QCOMPARE(dump_json(j), std::string("{\"path\":\"data\xef\xbf\xbd.jsonl\"}"));
}

QTEST_GUILESS_MAIN(TestOutputFile)
#include "test_output_file.moc"
