// JSON text must be UTF-8, and nlohmann::json throws when it dumps a string
// that is not. Paths and prompts come from the user and may hold any bytes, so
// the programs check them up front (valid_utf8) and every JSON writer dumps
// with kJsonReplaceInvalid, so that nothing can throw after a long run.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace calm {

// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view text);

// Throws calm::Error "<label> <text>: not valid UTF-8 ..." unless valid_utf8(text).
void require_utf8(std::string_view text, const std::string& label);

// The dump of `j` (indented by `indent`, -1 for one line) with any invalid
// UTF-8 replaced by U+FFFD instead of throwing.
template <typename Json>
std::string dump_json(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace calm
