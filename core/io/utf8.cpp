#include "io/utf8.h"

#include "util/error.h"
#include "util/json_limits.h"

namespace calm {

bool valid_utf8(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int length;
    unsigned char lo = 0x80, hi = 0xbf;  // bounds of the second byte
    if (c >= 0xc2 && c <= 0xdf) length = 2;
    else if (c == 0xe0) length = 3, lo = 0xa0;                 // no overlong forms
    else if (c == 0xed) length = 3, hi = 0x9f;                 // no surrogates
    else if (c >= 0xe1 && c <= 0xef) length = 3;
    else if (c == 0xf0) length = 4, lo = 0x90;                 // no overlong forms
    else if (c == 0xf4) length = 4, hi = 0x8f;                 // at most U+10FFFF
    else if (c >= 0xf1 && c <= 0xf3) length = 4;
    else return false;
    if (i + static_cast<size_t>(length) > n) return false;
    const unsigned char second = static_cast<unsigned char>(text[i + 1]);
    if (second < lo || second > hi) return false;
    for (int k = 2; k < length; ++k) {
      const unsigned char b = static_cast<unsigned char>(text[i + static_cast<size_t>(k)]);
      if (b < 0x80 || b > 0xbf) return false;
    }
    i += static_cast<size_t>(length);
  }
  return true;
}

void require_utf8(std::string_view text, const std::string& label) {
  if (valid_utf8(text)) return;
  throw Error(label + " " + excerpt(text) +
              ": not valid UTF-8, so the JSON files this run writes cannot record it; rename it (or pass text "
              "in UTF-8)");
}

}  // namespace calm
