#include "serve/completion_text.h"

#include <algorithm>

namespace calm::serve {

std::size_t complete_utf8_prefix(const std::string& text) {
  // Walk back over at most 3 continuation bytes to the last lead byte; keep
  // it only when all the bytes it announces are there.
  const std::size_t n = text.size();
  std::size_t i = n;
  int continuation = 0;
  while (i > 0 && continuation < 4 && (static_cast<unsigned char>(text[i - 1]) & 0xC0) == 0x80) {
    --i;
    ++continuation;
  }
  if (i == 0) return n;
  const unsigned char lead = static_cast<unsigned char>(text[i - 1]);
  const int length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 1;
  return continuation + 1 < length ? i - 1 : n;
}

CompletionText::CompletionText(const Tokenizer& tokenizer, std::vector<std::string> stop)
    : tokenizer_(tokenizer), stop_(std::move(stop)) {
  for (const std::string& s : stop_) hold_ = std::max(hold_, s.size() - 1);
}

bool CompletionText::update(const std::vector<int>& ids) {
  if (stopped_) return true;
  std::string text = tokenizer_.decode(ids);
  // Only the new end can complete a stop sequence.
  const std::size_t from = std::min(text_.size(), text.size()) > hold_ ? std::min(text_.size(), text.size()) - hold_ : 0;
  std::size_t cut = std::string::npos;
  for (const std::string& s : stop_) cut = std::min(cut, text.find(s, from));
  if (cut != std::string::npos) {
    text.resize(cut);
    stopped_ = true;
  }
  if (text.compare(0, sent_, text_, 0, sent_) != 0 || text.size() < sent_) diverged_ = true;
  text_ = std::move(text);
  return stopped_;
}

std::string CompletionText::take_settled() {
  if (diverged_) return {};
  std::size_t end = complete_utf8_prefix(text_);
  if (!stopped_) end = end > hold_ ? end - hold_ : 0;
  end = complete_utf8_prefix(text_.substr(0, end));
  if (end <= sent_) return {};
  std::string out = text_.substr(sent_, end - sent_);
  sent_ = end;
  return out;
}

std::string CompletionText::take_rest() {
  if (diverged_ || sent_ >= text_.size()) return {};
  std::string out = text_.substr(sent_);
  sent_ = text_.size();
  return out;
}

}  // namespace calm::serve
