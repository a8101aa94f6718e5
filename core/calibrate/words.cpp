#include "calibrate/words.h"

#include <clocale>
#include <cwctype>
#include <locale.h>
#include <string>

#include "model/utf8.h"
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
    // An invalid byte separates words, like any other non-alphanumeric.
    const utf8::Step step = utf8::next(text, i);
    i += step.length ? step.length : 1;
    if (step.length && iswalnum_l(static_cast<wint_t>(step.code_point), locale)) {
      utf8::append(word, static_cast<char32_t>(towlower_l(static_cast<wint_t>(step.code_point), locale)));
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
