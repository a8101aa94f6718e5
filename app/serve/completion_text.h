// The text of a completion as its tokens arrive: what may be sent so far
// (streaming) and where a stop sequence ends it. Detokenizing a prefix of the
// ids can end in part of a UTF-8 character (byte-fallback pieces) or in the
// start of a stop sequence; such a tail is held back until the next token
// settles it, so the pieces sent always join up to the final text.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "model/tokenizer.h"

namespace calm::serve {

class CompletionText {
 public:
  CompletionText(const Tokenizer& tokenizer, std::vector<std::string> stop);

  // After each generated token (`ids`: the text tokens so far, end of
  // sequence excluded). Returns true when a stop sequence has appeared: the
  // text ends before it and decoding should stop.
  bool update(const std::vector<int>& ids);
  // Text that can be sent now and was not sent before (empty when nothing is
  // settled yet); call after update().
  std::string take_settled();
  // At the end: the rest of the text.
  std::string take_rest();

  const std::string& text() const { return text_; }  // cut before a stop sequence
  bool stopped() const { return stopped_; }

 private:
  const Tokenizer& tokenizer_;
  std::vector<std::string> stop_;
  std::size_t hold_ = 0;  // longest stop sequence - 1: a tail that may yet become one
  std::string text_;
  std::size_t sent_ = 0;  // bytes of text_ already handed out
  bool stopped_ = false;
  bool diverged_ = false;  // a later token changed text already handed out
};

// The length of the longest prefix of `text` that does not end inside a UTF-8
// character (an incomplete lead sequence at the end is left out).
std::size_t complete_utf8_prefix(const std::string& text);

}  // namespace calm::serve
