// Decoding follows the well-formed byte sequences table of the Unicode
// standard (chapter 3, table 3-7): overlong forms, surrogates and code points
// past U+10FFFF are invalid, and a truncated sequence ends where the next byte
// does not fit, so replacement covers maximal subparts.
#include "utf8.h"

namespace calm::utf8 {

namespace {

// How many bytes of a well-formed sequence start at `pos` (0 when none), and
// how many leading bytes form a prefix of one (the maximal subpart to replace).
struct Scan {
  std::size_t length = 0;      // complete, valid sequence
  std::size_t subpart = 1;     // bytes to replace when invalid (at least 1)
  char32_t code_point = 0;
};

Scan scan(std::string_view s, std::size_t pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(pos);
  Scan r;
  if (b0 < 0x80) {
    r.length = 1;
    r.code_point = b0;
    return r;
  }
  std::size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  char32_t cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) { need = 1; cp = b0 & 0x1F; }
  else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2; cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3; cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    return r;  // a continuation byte or an impossible lead byte
  }
  for (std::size_t k = 1; k <= need; k++) {
    if (pos + k >= s.size()) return r;
    const unsigned char b = byte(pos + k);
    const unsigned char low = k == 1 ? lo : 0x80, high = k == 1 ? hi : 0xBF;
    if (b < low || b > high) return r;
    cp = (cp << 6) | (b & 0x3F);
    r.subpart = k + 1;
  }
  r.length = need + 1;
  r.code_point = cp;
  return r;
}

}  // namespace

Step next(std::string_view text, std::size_t pos) {
  const Scan s = scan(text, pos);
  return {s.code_point, s.length};
}

void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (std::size_t pos = 0; pos < bytes.size();) {
    const Scan s = scan(bytes, pos);
    if (s.length > 0) {
      out.append(bytes.substr(pos, s.length));
      pos += s.length;
    } else {
      out += "\xEF\xBF\xBD";
      pos += s.subpart;
    }
  }
  return out;
}

bool valid(std::string_view bytes) {
  for (std::size_t pos = 0; pos < bytes.size();) {
    const Scan s = scan(bytes, pos);
    if (s.length == 0) return false;
    pos += s.length;
  }
  return true;
}

}  // namespace calm::utf8
