#include "calibrate/words.h"

#include <clocale>
#include <cwctype>
#include <locale.h>
#include <string>

#include "util/error.h"

namespace calm {

namespace {

// The C.UTF-8 locale's character classes and case mapping, taken through
// newlocale so that nothing depends on (or changes) the process's locale.
locale_t utf8_locale() {
  static const locale_t locale = [] {
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    if (!l) l = newlocale(LC_CTYPE_MASK, "C.utf8", static_cast<locale_t>(nullptr));
    return l;
  }();
  if (!locale) throw Error("word tokenization needs the C.UTF-8 locale, which this system does not have");
  return locale;
}

// Decodes one UTF-8 sequence at text[i]; advances i. Returns -1 for an invalid
// or truncated sequence (i then moves past one byte), an overlong form or a
// surrogate.
long next_code_point(std::string_view text, std::size_t& i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  int length = 0;
  long cp = 0;
  if (lead < 0x80) {
    ++i;
    return lead;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2, cp = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, cp = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, cp = lead & 0x07;
  } else {
    ++i;
    return -1;
  }
  if (i + static_cast<std::size_t>(length) > text.size()) {
    ++i;
    return -1;
  }
  for (int k = 1; k < length; ++k) {
    const unsigned char c = byte(i + static_cast<std::size_t>(k));
    if ((c & 0xC0) != 0x80) {
      ++i;
      return -1;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  static constexpr long kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kSmallest[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return -1;
  }
  i += static_cast<std::size_t>(length);
  return cp;
}

void append_utf8(std::string& out, long cp) {
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

}  // namespace

TextUnit parse_text_unit(std::string_view name) {
  if (name == "words") return TextUnit::Words;
  if (name == "pieces") return TextUnit::Pieces;
  throw Error("unknown text unit \"" + std::string(name) + "\" (expected words or pieces)");
}

const char* text_unit_name(TextUnit unit) { return unit == TextUnit::Words ? "words" : "pieces"; }

std::vector<std::string> words_of(std::string_view text) {
  const locale_t locale = utf8_locale();
  std::vector<std::string> words;
  std::string word;
  for (std::size_t i = 0; i < text.size();) {
    const long cp = next_code_point(text, i);
    if (cp >= 0 && iswalnum_l(static_cast<wint_t>(cp), locale)) {
      append_utf8(word, static_cast<long>(towlower_l(static_cast<wint_t>(cp), locale)));
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

TokenIds WordIds::operator()(std::string_view text) {
  TokenIds out;
  for (auto& word : words_of(text)) {
    auto [it, inserted] = ids_.try_emplace(std::move(word), static_cast<int>(ids_.size()));
    out.push_back(it->second);
  }
  return out;
}

}  // namespace calm
