// Limits for JSON read from untrusted files (safetensors headers, config.json,
// JSONL lines, thresholds files). The parser itself is iterative, but printing
// a value (for an error message, or metadata kept as text) recurses once per
// nesting level, so a file of a million '[' would overflow the stack; and a
// value printed whole into a message could be megabytes long.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace calm {

// Deeper than any real file of ours (a safetensors header is 3 levels, a
// Hugging Face config.json 4 or 5).
constexpr std::size_t kMaxJsonDepth = 64;

// How deep `text` nests and how many values it holds at most, from one pass
// over its bytes: brackets and commas outside strings. Exact for the
// depth of valid JSON, an upper bound on the values (1 + brackets + commas),
// which bounds the memory the parsed document takes; invalid JSON fails to
// parse anyway. Stops early once past either limit.
struct JsonExtent {
  std::size_t depth = 0;
  std::size_t values = 0;
};

inline JsonExtent json_extent(std::string_view text, std::size_t max_depth = kMaxJsonDepth,
                              std::size_t max_values = static_cast<std::size_t>(-1) - 1) {
  JsonExtent e;
  e.values = 1;
  std::size_t depth = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      ++e.values;
      if (++depth > e.depth && (e.depth = depth) > max_depth) break;
    } else if (c == ']' || c == '}') {
      if (depth > 0) --depth;
    } else if (c == ',') {
      ++e.values;
    } else {
      continue;
    }
    if (e.values > max_values) break;
  }
  return e;
}

// The deepest nesting of arrays and objects in `text` (limit + 1 once past `limit`).
inline std::size_t json_nesting_depth(std::string_view text, std::size_t limit = kMaxJsonDepth) {
  return json_extent(text, limit).depth;
}

// `text` cut to `max_chars` with "... (N bytes)" appended when longer: for
// names and values quoted in error messages.
inline std::string excerpt(std::string_view text, std::size_t max_chars = 120) {
  if (text.size() <= max_chars) return std::string(text);
  return std::string(text.substr(0, max_chars)) + "... (" + std::to_string(text.size()) + " bytes)";
}

// A JSON value as text for an error message, cut like excerpt().
inline std::string json_excerpt(const nlohmann::json& value, std::size_t max_chars = 120) {
  return excerpt(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), max_chars);
}

}  // namespace calm
