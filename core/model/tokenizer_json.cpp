// tokenizer.json as the Hugging Face tokenizers library applies it:
//   1. added tokens are cut out of the raw text (longest match, leftmost first;
//      lstrip/rstrip absorb neighbouring whitespace);
//   2. each remaining segment is normalized (Prepend, Replace, NFC/NFKC/NFD/NFKD),
//   3. pre-tokenized into words (Split by a regex or string, ByteLevel,
//      Metaspace, Digits), each word remembering whether it starts the text;
//   4. each word is byte-pair encoded (bpe.h);
// decoding runs the decoder chain (ByteLevel, Metaspace, Replace, ByteFallback,
// Fuse, Strip) over the token strings. The split regexes use Unicode classes
// (\p{L}, \p{N}), which PCRE2 provides; Unicode normalization comes from ICU.
#include "tokenizer_json.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "bpe.h"
#include "util/error.h"
#include "util/json_limits.h"
#include "utf8.h"

namespace calm {

namespace {

using json = nlohmann::json;

// Llama 3's tokenizer.json is 9 MB, Qwen2's 7 MB; 128 K merges and vocabulary
// entries are about 600 K JSON values.
constexpr std::size_t kMaxTokenizerBytes = 128u << 20;
constexpr std::size_t kMaxTokenizerValues = 32u << 20;
constexpr int kMaxTokenId = 1 << 24;

// The regex the ByteLevel pre-tokenizer splits with when use_regex is true (GPT-2's).
const char* const kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const std::string kSpaceMark = "\xE2\x96\x81";  // U+2581, SentencePiece's word start

[[noreturn]] void fail(const std::string& path, const std::string& key, const std::string& what) {
  throw Error(path + ": key '" + key + "' " + what);
}

// Looks up keys of one JSON object, naming `where` (its dotted path) in errors.
struct Node {
  const json& j;
  std::string where;
  const std::string& path;

  bool has(const char* key) const { return j.is_object() && j.contains(key) && !j[key].is_null(); }
  std::string name(const char* key) const { return where.empty() ? key : where + "." + key; }
  Node at(const char* key) const {
    if (!has(key)) fail(path, name(key), "missing");
    return {j[key], name(key), path};
  }
  std::string string(const char* key) const {
    const Node n = at(key);
    if (!n.j.is_string()) fail(path, n.where, "must be a string, got " + json_excerpt(n.j));
    return n.j.get<std::string>();
  }
  std::string string(const char* key, const std::string& fallback) const { return has(key) ? string(key) : fallback; }
  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const Node n = at(key);
    if (!n.j.is_boolean()) fail(path, n.where, "must be true or false, got " + json_excerpt(n.j));
    return n.j.get<bool>();
  }
  int integer(const char* key, int fallback) const {
    if (!has(key)) return fallback;
    const Node n = at(key);
    if (!n.j.is_number_integer() || n.j.get<int64_t>() < 0 || n.j.get<int64_t>() > kMaxTokenId)
      fail(path, n.where, "must be an integer in [0, " + std::to_string(kMaxTokenId) + "], got " + json_excerpt(n.j));
    return n.j.get<int>();
  }
  // The elements of a Sequence's list (`key`), each as a Node.
  std::vector<Node> list(const char* key) const {
    const Node n = at(key);
    if (!n.j.is_array()) fail(path, n.where, "must be a list, got " + json_excerpt(n.j));
    std::vector<Node> out;
    for (std::size_t i = 0; i < n.j.size(); i++) out.push_back({n.j[i], n.where + "[" + std::to_string(i) + "]", path});
    return out;
  }
  [[noreturn]] void unsupported(const char* key, const std::string& value, const std::string& supported) const {
    fail(path, name(key), "is '" + excerpt(value) + "'; supported: " + supported);
  }
};

// A compiled PCRE2 pattern (UTF, Unicode properties for \s \w and \p{..}).
class Regex {
 public:
  Regex(const std::string& pattern, const std::string& path, const std::string& key) : where_(path + ": key '" + key + "'") {
    int code = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                          &code, &offset, nullptr);
    if (!code_) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(code, message, sizeof message);
      fail(path, key, "is a regular expression PCRE2 cannot compile (" + std::string(reinterpret_cast<char*>(message)) +
                          " at offset " + std::to_string(offset) + "): '" + excerpt(pattern) + "'");
    }
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);  // optional: falls back to the interpreter
  }
  ~Regex() { pcre2_code_free(code_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-empty matches of the pattern in `text` (valid UTF-8), left to right.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const {
    std::vector<std::pair<std::size_t, std::size_t>> spans;
    pcre2_match_data* data = pcre2_match_data_create_from_pattern(code_, nullptr);
    std::size_t start = 0;
    while (start <= text.size()) {
      const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start,
                                 PCRE2_NO_UTF_CHECK, data, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {  // a resource limit (a pathological pattern): refuse rather than split differently
        pcre2_match_data_free(data);
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(rc, message, sizeof message);
        throw Error(where_ + ": the regular expression failed on the text (" +
                    std::string(reinterpret_cast<char*>(message)) + ")");
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data);
      if (ov[1] > ov[0]) {
        spans.emplace_back(ov[0], ov[1]);
        start = ov[1];
      } else {  // an empty match: step over one character
        if (ov[0] >= text.size()) break;
        start = ov[0] + std::max<std::size_t>(1, utf8::next(text, ov[0]).length);
      }
    }
    pcre2_match_data_free(data);
    return spans;
  }

 private:
  std::string where_;  // file and key, for errors
  pcre2_code* code_ = nullptr;
};

// A Split or Replace pattern: {"String": "..."} or {"Regex": "..."}.
struct Pattern {
  std::string literal;
  std::shared_ptr<Regex> regex;

  static Pattern read(const Node& n) {
    Pattern p;
    if (n.has("String")) {
      p.literal = n.string("String");
      if (p.literal.empty()) fail(n.path, n.name("String"), "is empty");
    } else if (n.has("Regex")) {
      p.regex = std::make_shared<Regex>(n.string("Regex"), n.path, n.name("Regex"));
    } else {
      fail(n.path, n.where, "must hold 'String' or 'Regex', got " + json_excerpt(n.j));
    }
    return p;
  }

  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const {
    if (regex) return regex->find_all(text);
    std::vector<std::pair<std::size_t, std::size_t>> spans;
    for (std::size_t at = text.find(literal); at != std::string_view::npos; at = text.find(literal, at + literal.size()))
      spans.emplace_back(at, at + literal.size());
    return spans;
  }
};

std::string replace_all(std::string_view text, const Pattern& pattern, const std::string& content) {
  std::string out;
  std::size_t last = 0;
  for (const auto& [b, e] : pattern.find_all(text)) {
    out.append(text.substr(last, b - last));
    out += content;
    last = e;
  }
  out.append(text.substr(last));
  return out;
}

// ---- Normalizers ----------------------------------------------------------

std::string unicode_normalize(const UNormalizer2* form, const std::string& text) {
  UErrorCode err = U_ZERO_ERROR;
  int32_t n16 = 0;
  u_strFromUTF8(nullptr, 0, &n16, text.data(), int32_t(text.size()), &err);
  std::u16string in(std::size_t(n16), u'\0');
  err = U_ZERO_ERROR;
  u_strFromUTF8(in.data(), n16, nullptr, text.data(), int32_t(text.size()), &err);
  err = U_ZERO_ERROR;
  const int32_t n_out = unorm2_normalize(form, in.data(), n16, nullptr, 0, &err);
  std::u16string out(std::size_t(n_out), u'\0');
  err = U_ZERO_ERROR;
  unorm2_normalize(form, in.data(), n16, out.data(), n_out, &err);
  if (U_FAILURE(err)) return text;
  int32_t n8 = 0;
  err = U_ZERO_ERROR;
  u_strToUTF8(nullptr, 0, &n8, out.data(), n_out, &err);
  std::string result(std::size_t(n8), '\0');
  err = U_ZERO_ERROR;
  u_strToUTF8(result.data(), n8, nullptr, out.data(), n_out, &err);
  return U_FAILURE(err) ? text : result;
}

struct Normalizer {
  enum class Kind { Prepend, Replace, Unicode } kind;
  std::string text;  // Prepend: the prefix; Replace: the content
  Pattern pattern;
  const UNormalizer2* form = nullptr;

  std::string apply(const std::string& s) const {
    switch (kind) {
      case Kind::Prepend: return s.empty() ? s : text + s;
      case Kind::Replace: return replace_all(s, pattern, text);
      case Kind::Unicode: return unicode_normalize(form, s);
    }
    return s;
  }
};

void read_normalizers(const Node& n, std::vector<Normalizer>& out) {
  const std::string type = n.string("type");
  if (type == "Sequence") {
    for (const Node& step : n.list("normalizers")) read_normalizers(step, out);
  } else if (type == "Prepend") {
    out.push_back({Normalizer::Kind::Prepend, n.string("prepend"), {}, nullptr});
  } else if (type == "Replace") {
    out.push_back({Normalizer::Kind::Replace, n.string("content"), Pattern::read(n.at("pattern")), nullptr});
  } else if (type == "NFC" || type == "NFKC" || type == "NFD" || type == "NFKD") {
    UErrorCode err = U_ZERO_ERROR;
    const UNormalizer2* form = type == "NFC"    ? unorm2_getNFCInstance(&err)
                               : type == "NFKC" ? unorm2_getNFKCInstance(&err)
                               : type == "NFD"  ? unorm2_getNFDInstance(&err)
                                                : unorm2_getNFKDInstance(&err);
    if (U_FAILURE(err) || !form) fail(n.path, n.name("type"), "is '" + type + "', which ICU could not provide");
    out.push_back({Normalizer::Kind::Unicode, {}, {}, form});
  } else {
    n.unsupported("type", type, "'Sequence', 'Prepend', 'Replace', 'NFC', 'NFKC', 'NFD', 'NFKD'");
  }
}

// ---- Pre-tokenizers -------------------------------------------------------

// A piece of text on its way to the BPE model; `at_start` when it begins the
// original input (Metaspace's prepend_scheme "first" depends on it).
struct Word {
  std::string text;
  bool at_start;
};

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// Cuts `w` at the matches of a pattern, as SplitDelimiterBehavior says what
// becomes of the matches.
void split_word(const Word& w, const std::vector<std::pair<std::size_t, std::size_t>>& matches, Behavior behavior,
                std::vector<Word>& out) {
  struct Span {
    std::size_t begin, end;
    bool match;
  };
  std::vector<Span> spans;
  std::size_t last = 0;
  for (const auto& [b, e] : matches) {
    if (b > last) spans.push_back({last, b, false});
    spans.push_back({b, e, true});
    last = e;
  }
  if (last < w.text.size()) spans.push_back({last, w.text.size(), false});

  std::vector<Span> kept;
  switch (behavior) {
    case Behavior::Isolated: kept = spans; break;
    case Behavior::Removed:
      for (const Span& s : spans)
        if (!s.match) kept.push_back(s);
      break;
    case Behavior::Contiguous:
      for (const Span& s : spans) {
        if (s.match && !kept.empty() && kept.back().match) kept.back().end = s.end;
        else kept.push_back(s);
      }
      break;
    case Behavior::MergedWithPrevious: {
      bool previous_match = false;
      for (const Span& s : spans) {
        if (s.match && !previous_match && !kept.empty()) kept.back().end = s.end;
        else kept.push_back(s);
        previous_match = s.match;
      }
      break;
    }
    case Behavior::MergedWithNext: {
      bool next_match = false;  // walking backwards: whether the span after this one matched
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->match && !next_match && !kept.empty()) kept.back().begin = it->begin;
        else kept.push_back(*it);
        next_match = it->match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    }
  }
  for (const Span& s : kept)
    if (s.end > s.begin) out.push_back({w.text.substr(s.begin, s.end - s.begin), w.at_start && s.begin == 0});
}

// GPT-2's printable stand-ins for the 256 byte values.
struct ByteAlphabet {
  std::string of_byte[256];
  std::unordered_map<char32_t, unsigned char> to_byte;

  ByteAlphabet() {
    int extra = 0;
    for (int b = 0; b < 256; b++) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t cp = printable ? char32_t(b) : char32_t(256 + extra++);
      utf8::append(of_byte[b], cp);
      to_byte[cp] = static_cast<unsigned char>(b);
    }
  }
};
const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet;
  return alphabet;
}

enum class Prepend { Always, First, Never };

struct PreTokenizer {
  enum class Kind { Split, ByteLevel, Metaspace, Digits } kind;
  Pattern pattern;                         // Split; ByteLevel with use_regex
  Behavior behavior = Behavior::Isolated;  // Split
  bool add_prefix_space = false;           // ByteLevel
  bool use_regex = false;                  // ByteLevel
  std::string replacement;                 // Metaspace
  Prepend prepend = Prepend::Always;       // Metaspace
  bool split = true;                       // Metaspace
  bool individual_digits = false;          // Digits

  void apply(std::vector<Word>& words) const {
    std::vector<Word> out;
    for (Word& w : words) {
      switch (kind) {
        case Kind::Split: split_word(w, pattern.find_all(w.text), behavior, out); break;
        case Kind::Digits: split_digits(w, out); break;
        case Kind::ByteLevel: {
          if (add_prefix_space && w.text.rfind(' ', 0) != 0) w.text.insert(0, " ");
          std::vector<Word> parts;
          if (use_regex) split_word(w, pattern.find_all(w.text), Behavior::Isolated, parts);
          else parts.push_back(w);
          for (Word& p : parts) {
            std::string mapped;
            for (char c : p.text) mapped += byte_alphabet().of_byte[static_cast<unsigned char>(c)];
            out.push_back({std::move(mapped), p.at_start});
          }
          break;
        }
        case Kind::Metaspace: {
          Word m{replace_all(w.text, Pattern{" ", nullptr}, replacement), w.at_start};
          const bool prepend_here = prepend == Prepend::Always || (prepend == Prepend::First && w.at_start);
          if (prepend_here && m.text.rfind(replacement, 0) != 0) m.text.insert(0, replacement);
          if (split) split_word(m, Pattern{replacement, nullptr}.find_all(m.text), Behavior::MergedWithNext, out);
          else out.push_back(std::move(m));
          break;
        }
      }
    }
    words = std::move(out);
  }

  void split_digits(const Word& w, std::vector<Word>& out) const {
    std::vector<std::pair<std::size_t, std::size_t>> matches;
    for (std::size_t i = 0; i < w.text.size(); i++)
      if (w.text[i] >= '0' && w.text[i] <= '9') matches.emplace_back(i, i + 1);
    split_word(w, matches, individual_digits ? Behavior::Isolated : Behavior::Contiguous, out);
  }
};

Prepend read_prepend_scheme(const Node& n) {
  if (!n.has("prepend_scheme")) return n.boolean("add_prefix_space", true) ? Prepend::Always : Prepend::Never;
  const std::string s = n.string("prepend_scheme");
  if (s == "always") return Prepend::Always;
  if (s == "first") return Prepend::First;
  if (s == "never") return Prepend::Never;
  n.unsupported("prepend_scheme", s, "'always', 'first', 'never'");
}

void read_pre_tokenizers(const Node& n, std::vector<PreTokenizer>& out) {
  const std::string type = n.string("type");
  PreTokenizer p{};
  if (type == "Sequence") {
    for (const Node& step : n.list("pretokenizers")) read_pre_tokenizers(step, out);
    return;
  } else if (type == "Split") {
    p.kind = PreTokenizer::Kind::Split;
    p.pattern = Pattern::read(n.at("pattern"));
    if (n.boolean("invert", false)) n.unsupported("invert", "true", "false");
    const std::string b = n.string("behavior", "Isolated");
    if (b == "Removed") p.behavior = Behavior::Removed;
    else if (b == "Isolated") p.behavior = Behavior::Isolated;
    else if (b == "MergedWithPrevious") p.behavior = Behavior::MergedWithPrevious;
    else if (b == "MergedWithNext") p.behavior = Behavior::MergedWithNext;
    else if (b == "Contiguous") p.behavior = Behavior::Contiguous;
    else n.unsupported("behavior", b, "'Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'");
  } else if (type == "ByteLevel") {
    p.kind = PreTokenizer::Kind::ByteLevel;
    p.add_prefix_space = n.boolean("add_prefix_space", true);
    p.use_regex = n.boolean("use_regex", true);
    if (p.use_regex) p.pattern.regex = std::make_shared<Regex>(kGpt2Regex, n.path, n.name("use_regex"));
  } else if (type == "Metaspace") {
    p.kind = PreTokenizer::Kind::Metaspace;
    p.replacement = n.string("replacement", kSpaceMark);
    if (p.replacement.empty()) fail(n.path, n.name("replacement"), "is empty");
    p.prepend = read_prepend_scheme(n);
    p.split = n.boolean("split", true);
  } else if (type == "Digits") {
    p.kind = PreTokenizer::Kind::Digits;
    p.individual_digits = n.boolean("individual_digits", false);
  } else {
    n.unsupported("type", type, "'Sequence', 'Split', 'ByteLevel', 'Metaspace', 'Digits'");
  }
  out.push_back(std::move(p));
}

// ---- Decoders -------------------------------------------------------------

struct Decoder {
  enum class Kind { ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip } kind;
  Pattern pattern;          // Replace
  std::string text;         // Replace: content; Metaspace: replacement; Strip: content
  Prepend prepend = Prepend::Always;  // Metaspace
  int strip_start = 0, strip_stop = 0;

  // `display`: one token shown alone, keeping the leading space a word start
  // stands for and the <0xXX> form of a byte that is not text by itself.
  void apply(std::vector<std::string>& tokens, bool display) const {
    switch (kind) {
      case Kind::ByteLevel: {
        std::string bytes;
        for (const std::string& t : tokens) {
          std::string mine;
          bool all = true;
          for (std::size_t pos = 0; pos < t.size() && all;) {
            const utf8::Step s = utf8::next(t, pos);
            const auto it = byte_alphabet().to_byte.find(s.code_point);
            all = s.length > 0 && it != byte_alphabet().to_byte.end();
            if (all) mine += static_cast<char>(it->second);
            pos += std::max<std::size_t>(1, s.length);
          }
          bytes += all ? mine : t;  // a token outside the alphabet (an added token) stays as it is
        }
        tokens = {utf8::lossy(bytes)};
        break;
      }
      case Kind::Metaspace:
        for (std::size_t i = 0; i < tokens.size(); i++) {
          tokens[i] = replace_all(tokens[i], Pattern{text, nullptr}, " ");
          if (i == 0 && !display && prepend != Prepend::Never && tokens[i].rfind(' ', 0) == 0) tokens[i].erase(0, 1);
        }
        break;
      case Kind::Replace:
        for (std::string& t : tokens) t = replace_all(t, pattern, text);
        break;
      case Kind::ByteFallback: byte_fallback(tokens, display); break;
      case Kind::Fuse: {
        std::string all;
        for (const std::string& t : tokens) all += t;
        tokens = {all};
        break;
      }
      case Kind::Strip:
        for (std::size_t i = 0; i < tokens.size(); i++) {
          std::string& t = tokens[i];
          if (!display)
            for (int k = 0; k < strip_start && t.rfind(text, 0) == 0; k++) t.erase(0, text.size());
          for (int k = 0; k < strip_stop && t.size() >= text.size() && t.compare(t.size() - text.size(), text.size(), text) == 0; k++)
            t.erase(t.size() - text.size());
        }
        break;
    }
  }

  // Runs of <0xXX> tokens become their bytes when those are valid UTF-8, else
  // one U+FFFD per byte (as the library does).
  static void byte_fallback(std::vector<std::string>& tokens, bool display) {
    std::vector<std::string> out;
    std::string run;
    std::vector<std::string> run_tokens;
    const auto flush = [&] {
      if (run_tokens.empty()) return;
      if (utf8::valid(run)) out.push_back(run);
      else if (display) out.insert(out.end(), run_tokens.begin(), run_tokens.end());
      else
        for (std::size_t i = 0; i < run_tokens.size(); i++) out.push_back("\xEF\xBF\xBD");
      run.clear();
      run_tokens.clear();
    };
    for (const std::string& t : tokens) {
      unsigned value = 0;
      const bool is_byte = t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' &&
                           std::isxdigit(static_cast<unsigned char>(t[3])) &&
                           std::isxdigit(static_cast<unsigned char>(t[4])) &&
                           std::sscanf(t.c_str() + 3, "%2x", &value) == 1;
      if (is_byte) {
        run += static_cast<char>(value);
        run_tokens.push_back(t);
      } else {
        flush();
        out.push_back(t);
      }
    }
    flush();
    tokens = std::move(out);
  }
};

void read_decoders(const Node& n, std::vector<Decoder>& out) {
  const std::string type = n.string("type");
  Decoder d{};
  if (type == "Sequence") {
    for (const Node& step : n.list("decoders")) read_decoders(step, out);
    return;
  } else if (type == "ByteLevel") {
    d.kind = Decoder::Kind::ByteLevel;
  } else if (type == "Metaspace") {
    d.kind = Decoder::Kind::Metaspace;
    d.text = n.string("replacement", kSpaceMark);
    if (d.text.empty()) fail(n.path, n.name("replacement"), "is empty");
    d.prepend = read_prepend_scheme(n);
  } else if (type == "Replace") {
    d.kind = Decoder::Kind::Replace;
    d.pattern = Pattern::read(n.at("pattern"));
    d.text = n.string("content");
  } else if (type == "ByteFallback") {
    d.kind = Decoder::Kind::ByteFallback;
  } else if (type == "Fuse") {
    d.kind = Decoder::Kind::Fuse;
  } else if (type == "Strip") {
    d.kind = Decoder::Kind::Strip;
    d.text = n.string("content");
    if (d.text.empty()) fail(n.path, n.name("content"), "is empty");
    d.strip_start = n.integer("start", 0);
    d.strip_stop = n.integer("stop", 0);
  } else {
    n.unsupported("type", type, "'Sequence', 'ByteLevel', 'Metaspace', 'Replace', 'ByteFallback', 'Fuse', 'Strip'");
  }
  out.push_back(std::move(d));
}

// ---- Added tokens ---------------------------------------------------------

struct AddedToken {
  std::string content;
  int id;
  bool special, lstrip, rstrip, single_word;
};

bool is_space(char32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
bool is_word_byte(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

// A piece of the input: either text for the pipeline or an added token's id.
struct Segment {
  std::string text;
  int id = -1;
  bool at_start = false;
};

}  // namespace

struct JsonTokenizer::Impl {
  std::string path;
  std::vector<Normalizer> normalizers;
  std::vector<PreTokenizer> pre_tokenizers;
  std::vector<Decoder> decoders;
  bool has_decoder = false;
  Bpe bpe;
  std::vector<AddedToken> added;
  std::vector<std::vector<int>> added_by_first_byte = std::vector<std::vector<int>>(256);  // longest first
  std::vector<std::string> tokens;   // id -> stored token string
  std::vector<char> special;         // id -> special added token
  bool byte_level = false;

  std::vector<Segment> split_added(const std::string& text) const;
  void encode_segment(const Segment& s, std::vector<int>& out) const;
  std::string decode_tokens(std::vector<std::string> toks, bool display) const {
    if (!has_decoder) {
      std::string joined;
      for (std::size_t i = 0; i < toks.size(); i++) joined += (i ? " " : "") + toks[i];
      return joined;
    }
    for (const Decoder& d : decoders) d.apply(toks, display);
    std::string joined;
    for (const std::string& t : toks) joined += t;
    return joined;
  }
};

std::vector<Segment> JsonTokenizer::Impl::split_added(const std::string& text) const {
  std::vector<Segment> out;
  std::size_t seg_start = 0;
  for (std::size_t i = 0; i < text.size();) {
    int found = -1;
    for (int index : added_by_first_byte[static_cast<unsigned char>(text[i])]) {
      const AddedToken& t = added[index];
      if (text.compare(i, t.content.size(), t.content) != 0) continue;
      if (t.single_word) {
        const std::size_t end = i + t.content.size();
        if ((i > 0 && is_word_byte(text[i - 1])) || (end < text.size() && is_word_byte(text[end]))) continue;
      }
      found = index;
      break;  // the list is longest first
    }
    if (found < 0) {
      i++;
      continue;
    }
    const AddedToken& t = added[found];
    std::size_t begin = i, end = i + t.content.size();
    if (t.lstrip) {
      while (begin > seg_start) {
        std::size_t prev = begin - 1;
        while (prev > seg_start && (static_cast<unsigned char>(text[prev]) & 0xC0) == 0x80) prev--;
        const utf8::Step s = utf8::next(text, prev);
        if (s.length == 0 || prev + s.length != begin || !is_space(s.code_point)) break;
        begin = prev;
      }
    }
    if (t.rstrip) {
      while (end < text.size()) {
        const utf8::Step s = utf8::next(text, end);
        if (s.length == 0 || !is_space(s.code_point)) break;
        end += s.length;
      }
    }
    if (begin > seg_start) out.push_back({text.substr(seg_start, begin - seg_start), -1, seg_start == 0});
    out.push_back({{}, t.id, false});
    seg_start = i = end;
  }
  if (seg_start < text.size()) out.push_back({text.substr(seg_start), -1, seg_start == 0});
  return out;
}

void JsonTokenizer::Impl::encode_segment(const Segment& s, std::vector<int>& out) const {
  std::string text = s.text;
  for (const Normalizer& n : normalizers) text = n.apply(text);
  std::vector<Word> words{{std::move(text), s.at_start}};
  for (const PreTokenizer& p : pre_tokenizers) p.apply(words);
  for (const Word& w : words) bpe.encode(w.text, out);
}

namespace {

json read_json(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(path + ": tokenizer file missing or not a regular file");
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxTokenizerBytes)
    throw Error(path + ": larger than " + std::to_string(kMaxTokenizerBytes >> 20) + " MiB; not a tokenizer.json");
  std::ifstream in(path, std::ios::binary);
  std::string text(static_cast<std::size_t>(size), '\0');
  if (!in.read(text.data(), std::streamsize(size))) throw Error(path + ": read failed");
  const JsonExtent extent = json_extent(text, kMaxJsonDepth, kMaxTokenizerValues);
  if (extent.depth > kMaxJsonDepth || extent.values > kMaxTokenizerValues)
    throw Error(path + ": JSON nested too deep or with too many values for a tokenizer.json");
  try {
    json j = json::parse(text);
    if (!j.is_object()) throw Error(path + ": top level is not a JSON object");
    return j;
  } catch (const json::exception& e) {
    throw Error(path + ": not valid JSON (" + excerpt(e.what(), 300) + ")");
  }
}

std::vector<std::pair<std::string, std::string>> read_merges(const Node& model) {
  std::vector<std::pair<std::string, std::string>> merges;
  if (!model.has("merges")) return merges;
  const Node list = model.at("merges");
  if (!list.j.is_array()) fail(list.path, list.where, "must be a list");
  merges.reserve(list.j.size());
  for (std::size_t i = 0; i < list.j.size(); i++) {
    const json& m = list.j[i];
    const std::string key = list.where + "[" + std::to_string(i) + "]";
    if (m.is_string()) {  // "left right" (older files)
      const std::string s = m.get<std::string>();
      const std::size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        fail(list.path, key, "must be two tokens separated by one space, got " + json_excerpt(m));
      merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      fail(list.path, key, "must be \"left right\" or [\"left\", \"right\"], got " + json_excerpt(m));
    }
  }
  return merges;
}

}  // namespace

JsonTokenizer::JsonTokenizer(const std::string& path) : impl_(std::make_unique<Impl>()) {
  Impl& t = *impl_;
  t.path = path;
  const json j = read_json(path);
  const Node root{j, "", path};

  const Node model = root.at("model");
  const std::string type = model.string("type", "BPE");
  if (type != "BPE")
    throw UnsupportedTokenizerModel(path + ": key 'model.type' is '" + excerpt(type) +
                                    "'; supported: 'BPE' (WordPiece, Unigram and WordLevel models are not)");
  if (model.has("dropout") && !(model.at("dropout").j.is_number() && model.at("dropout").j.get<double>() == 0.0))
    fail(path, "model.dropout", "is " + json_excerpt(model.at("dropout").j) + "; only null (no dropout) is supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (model.has(key) && !model.string(key).empty())
      fail(path, std::string("model.") + key, "is '" + excerpt(model.string(key)) + "'; only null is supported");

  const Node vocab_node = model.at("vocab");
  if (!vocab_node.j.is_object()) fail(path, "model.vocab", "must be an object of token: id");
  std::unordered_map<std::string, int> vocab;
  vocab.reserve(vocab_node.j.size());
  int max_id = -1;
  for (const auto& [token, id] : vocab_node.j.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= kMaxTokenId)
      fail(path, "model.vocab", "gives '" + excerpt(token) + "' the id " + json_excerpt(id) + "; ids are integers in [0, " +
                                    std::to_string(kMaxTokenId) + ")");
    vocab.emplace(token, id.get<int>());
    max_id = std::max(max_id, id.get<int>());
  }

  if (root.has("added_tokens")) {
    for (const Node& a : root.list("added_tokens")) {
      AddedToken token{a.string("content"), a.integer("id", -1), a.boolean("special", false),
                       a.boolean("lstrip", false), a.boolean("rstrip", false), a.boolean("single_word", false)};
      if (token.id < 0) fail(path, a.name("id"), "missing");
      if (token.content.empty()) fail(path, a.name("content"), "is empty");
      max_id = std::max(max_id, token.id);
      t.added.push_back(std::move(token));
    }
  }
  t.tokens.assign(std::size_t(max_id + 1), std::string());
  t.special.assign(std::size_t(max_id + 1), 0);
  for (const auto& [token, id] : vocab) t.tokens[id] = token;
  for (std::size_t i = 0; i < t.added.size(); i++) {
    const AddedToken& a = t.added[i];
    t.tokens[a.id] = a.content;
    t.special[a.id] = a.special;
    t.added_by_first_byte[static_cast<unsigned char>(a.content[0])].push_back(int(i));
  }
  for (auto& bucket : t.added_by_first_byte)
    std::stable_sort(bucket.begin(), bucket.end(),
                     [&](int a, int b) { return t.added[a].content.size() > t.added[b].content.size(); });

  BpeOptions options;
  options.byte_fallback = model.boolean("byte_fallback", false);
  options.fuse_unk = model.boolean("fuse_unk", false);
  options.ignore_merges = model.boolean("ignore_merges", false);
  if (model.has("unk_token")) {
    const std::string unk = model.string("unk_token");
    const auto it = vocab.find(unk);
    if (it == vocab.end()) fail(path, "model.unk_token", "is '" + excerpt(unk) + "', which model.vocab lacks");
    options.unk_id = it->second;
  }
  t.bpe = Bpe(std::move(vocab), read_merges(model), options, path);

  if (root.has("normalizer")) read_normalizers(root.at("normalizer"), t.normalizers);
  if (root.has("pre_tokenizer")) read_pre_tokenizers(root.at("pre_tokenizer"), t.pre_tokenizers);
  if (root.has("decoder")) {
    read_decoders(root.at("decoder"), t.decoders);
    t.has_decoder = true;
  }
  t.byte_level = std::any_of(t.pre_tokenizers.begin(), t.pre_tokenizers.end(),
                             [](const PreTokenizer& p) { return p.kind == PreTokenizer::Kind::ByteLevel; });
}

JsonTokenizer::~JsonTokenizer() = default;
JsonTokenizer::JsonTokenizer(JsonTokenizer&&) noexcept = default;
JsonTokenizer& JsonTokenizer::operator=(JsonTokenizer&&) noexcept = default;

std::vector<int> JsonTokenizer::encode(const std::string& text) const {
  const std::string valid = utf8::valid(text) ? text : utf8::lossy(text);
  std::vector<int> ids;
  for (const Segment& s : impl_->split_added(valid)) {
    if (s.id >= 0) ids.push_back(s.id);
    else impl_->encode_segment(s, ids);
  }
  return ids;
}

std::string JsonTokenizer::decode(const std::vector<int>& ids) const {
  std::vector<std::string> toks;
  toks.reserve(ids.size());
  for (int id : ids)
    if (id >= 0 && id < size() && !impl_->special[id] && !impl_->tokens[id].empty()) toks.push_back(impl_->tokens[id]);
  return impl_->decode_tokens(std::move(toks), false);
}

std::string JsonTokenizer::piece(int id) const {
  if (id < 0 || id >= size() || impl_->tokens[id].empty()) return {};
  if (impl_->special[id]) return impl_->tokens[id];
  return impl_->decode_tokens({impl_->tokens[id]}, true);
}

const std::string& JsonTokenizer::token(int id) const {
  static const std::string none;
  return id >= 0 && id < size() ? impl_->tokens[id] : none;
}

bool JsonTokenizer::is_special(int id) const { return id >= 0 && id < size() && impl_->special[id]; }

int JsonTokenizer::size() const { return int(impl_->tokens.size()); }

std::string JsonTokenizer::kind() const {
  return impl_->byte_level ? "byte-level BPE (tokenizer.json)" : "SentencePiece-style BPE (tokenizer.json)";
}

}  // namespace calm
