// Calibration and test sets as JSONL: one JSON object per line,
//   {"input": "...", "reference": "..."}
// with "reference" optional (textual consistency needs none). Other fields are
// kept in `extra`. Blank lines are skipped. The file is read line by line and a
// line over the size limit is never held whole, so a wrong file (a binary, a
// JSON array on one line) cannot exhaust memory.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace calm {

struct Example {
  std::string input;
  std::optional<std::string> reference;
  nlohmann::json extra = nlohmann::json::object();  // every other field of the line
  std::size_t line = 0;                               // 1-based line in the file
};

// What to do with a malformed line: bad JSON, not an object, "input" missing or
// not a string, "reference" present but not a string, or a line over the limit.
enum class BadLinePolicy {
  Stop,  // throw calm::Error at the first one
  Skip,  // leave it out and report it in JsonlResult::problems
};

struct JsonlOptions {
  BadLinePolicy policy = BadLinePolicy::Stop;
  std::size_t max_line_bytes = 1 << 20;  // 1 MiB, newline not counted
};

struct JsonlProblem {
  std::size_t line = 0;  // 1-based
  std::string message;   // "path:line: what is wrong", ready to show
};

struct JsonlResult {
  std::vector<Example> examples;
  std::vector<JsonlProblem> problems;  // empty under BadLinePolicy::Stop
};

// Throws calm::Error when the file cannot be opened or read, and under
// BadLinePolicy::Stop at the first malformed line; messages name the path and
// the 1-based line number.
JsonlResult read_jsonl(const std::string& path, const JsonlOptions& options = {});

}  // namespace calm
