#include "calibrate/jsonl.h"

#include <filesystem>
#include <fstream>
#include <streambuf>

#include "util/error.h"
#include "util/json_limits.h"

namespace calm {

namespace {

enum class LineStatus { Ok, TooLong, End };

// Reads one line into `out` (without the newline or a trailing '\r'). Past
// `limit` bytes the rest of the line is consumed but not stored, so memory
// stays bounded by the limit whatever the file holds.
LineStatus read_line(std::streambuf& in, std::string& out, std::size_t limit) {
  out.clear();
  bool any = false, too_long = false;
  for (;;) {
    const auto c = in.sbumpc();
    if (c == std::char_traits<char>::eof()) break;
    any = true;
    if (c == '\n') break;
    if (out.size() < limit + 1) {  // keep one byte more to tell "\r\n" from a long line
      out.push_back(static_cast<char>(c));
    } else {
      too_long = true;
    }
  }
  if (!any) return LineStatus::End;
  if (!out.empty() && out.back() == '\r') out.pop_back();
  if (too_long || out.size() > limit) return LineStatus::TooLong;
  return LineStatus::Ok;
}

bool is_blank(const std::string& line) {
  return line.find_first_not_of(" \t\r\f\v") == std::string::npos;
}

// Turns one non-blank line into an Example, or throws a plain message (without
// the location, which the caller adds).
Example parse_example(const std::string& line) {
  // An example is one flat object; a deeply nested line is kept out so that
  // nothing downstream recurses through it (printing a value recurses).
  if (json_nesting_depth(line) > kMaxJsonDepth)
    throw std::runtime_error("JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e400
    throw std::runtime_error("not valid JSON: " + excerpt(e.what(), 300));
  }
  if (!value.is_object())
    throw std::runtime_error(std::string("expected a JSON object, found ") + value.type_name());
  Example example;
  auto input = value.find("input");
  if (input == value.end()) throw std::runtime_error("missing \"input\"");
  if (!input->is_string())
    throw std::runtime_error(std::string("\"input\" must be a string, found ") +
                             input->type_name());
  example.input = input->get<std::string>();
  // The decoder refuses an empty prompt; found here, it is a bad line that
  // --skip-bad-lines skips, not an error in the middle of a calibration.
  if (example.input.find_first_not_of(" \t\r\n") == std::string::npos)
    throw std::runtime_error("\"input\" is empty");
  value.erase(input);
  auto reference = value.find("reference");
  if (reference != value.end()) {
    if (!reference->is_string())
      throw std::runtime_error(std::string("\"reference\" must be a string, found ") +
                               reference->type_name());
    example.reference = reference->get<std::string>();
    value.erase(reference);
  }
  example.extra = std::move(value);
  return example;
}

}  // namespace

JsonlResult read_jsonl(const std::string& path, const JsonlOptions& options) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) throw Error(path + ": is a directory");
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(path + ": cannot open for reading");

  JsonlResult result;
  auto report = [&](std::size_t line_number, const std::string& what) {
    const std::string message = path + ":" + std::to_string(line_number) + ": " + what;
    if (options.policy == BadLinePolicy::Stop) throw Error(message);
    result.problems.push_back({line_number, message});
  };

  std::string line;
  for (std::size_t line_number = 1;; ++line_number) {
    const LineStatus status = read_line(*file.rdbuf(), line, options.max_line_bytes);
    if (status == LineStatus::End) break;
    if (status == LineStatus::TooLong) {
      report(line_number, "line longer than the limit of " +
                              std::to_string(options.max_line_bytes) +
                              " bytes; is this a JSONL file with one example per line?");
      continue;
    }
    // A UTF-8 byte order mark is not JSON; editors on Windows add one.
    if (line_number == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (is_blank(line)) continue;
    try {
      Example example = parse_example(line);
      example.line = line_number;
      result.examples.push_back(std::move(example));
    } catch (const std::runtime_error& e) {
      report(line_number, e.what());
    }
  }
  return result;
}

}  // namespace calm
