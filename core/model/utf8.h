// UTF-8 helpers for the tokenizers: stepping over code points, and turning
// arbitrary bytes into valid text the way Hugging Face's decoders do.
#pragma once

#include <string>
#include <string_view>

namespace calm::utf8 {

// The code point at `pos` and its length in bytes; an invalid sequence gives
// length 0 (the caller decides how to replace it).
struct Step {
  char32_t code_point = 0;
  std::size_t length = 0;
};
Step next(std::string_view text, std::size_t pos);

void append(std::string& out, char32_t code_point);

// Valid UTF-8, with each maximal invalid subsequence replaced by U+FFFD (the
// W3C/Unicode "substitution of maximal subparts", as Rust's from_utf8_lossy).
std::string lossy(std::string_view bytes);

bool valid(std::string_view bytes);

}  // namespace calm::utf8
