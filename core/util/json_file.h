// Reading the project's JSON files (config.json, thresholds files, calibration
// settings): one bounded read and one reader of fields, so every file is
// refused the same way and every message names the file and the key.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/json_limits.h"

namespace calm {

// What a kind of file may hold, and what it is called in messages.
struct JsonFileKind {
  std::string name;       // "a config.json", "a thresholds file"
  std::size_t max_bytes;  // larger files are refused unread
  std::size_t max_values = static_cast<std::size_t>(-1) - 1;  // bounds the memory parsing takes
};

// Reads and parses `path` as one JSON object. Reads in chunks and stops past
// kind.max_bytes, so neither a huge file nor a device that never ends can
// exhaust memory; refuses deeper nesting than kMaxJsonDepth (printing such a
// value would overflow the stack). Throws calm::Error naming the file.
nlohmann::json read_json_file(const std::string& path, const JsonFileKind& kind);
// The same checks and parse for text already in memory (an HTTP request's
// body); messages start with `source`.
nlohmann::json parse_json_object(std::string_view text, const JsonFileKind& kind, const std::string& source);

// The fields of one JSON object. Every problem becomes a calm::Error
// "<source>: key '<key>' <what is wrong>", the key dotted from the top
// ("model.hash").
class JsonReader {
 public:
  JsonReader(const nlohmann::json& object, std::string source, std::string prefix = "");

  const std::string& source() const { return source_; }
  [[noreturn]] void fail(const std::string& name, const std::string& what) const;
  // A value as quoted in a message.
  static std::string quoted(const std::string& value) { return "'" + excerpt(value) + "'"; }

  // Present and not null: JSON null counts as absent (Hugging Face writes
  // "num_decoder_layers": null).
  bool has(const std::string& name) const;
  const nlohmann::json& get(const std::string& name) const;  // "missing" when absent

  JsonReader object(const std::string& name) const;
  std::string string(const std::string& name, bool allow_empty = false) const;
  // A finite number in [low, high].
  double number(const std::string& name, double low, double high) const;
  // A whole number in [low, high]; `value` may be an element of the key's value.
  long long integer(const std::string& name, long long low, long long high) const;
  long long integer(const std::string& name, const nlohmann::json& value, long long low, long long high) const;
  bool boolean(const std::string& name) const;

  // A name one of the core's parse functions accepts; its message says which.
  template <typename Parse>
  auto name(const std::string& key_name, Parse parse) const {
    const std::string s = string(key_name);
    try {
      return parse(s);
    } catch (const Error& e) {
      fail(key_name, excerpt(e.what(), 300));
    }
  }

 private:
  std::string key(const std::string& name) const { return prefix_.empty() ? name : prefix_ + "." + name; }

  const nlohmann::json& object_;
  std::string source_;
  std::string prefix_;
};

}  // namespace calm
