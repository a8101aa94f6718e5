// Scoring text, not tokenizer pieces. CALM's consistency losses are defined on
// the text the model writes (the paper scored ROUGE-L, BLEU and F1 on words);
// comparing SentencePiece ids instead gives other numbers (on kjv2web the
// word-level loss is 12-18% higher), so the metrics are computed on words by
// default: detokenize the ids, then split into words as below. Piece-level
// scoring stays available, by name, for comparison with earlier results.
//
// Word tokenization (the defaults of the ROUGE and sacreBLEU "intl"
// tokenizers, made Unicode-aware): lowercase every character, then a word is a
// maximal run of letters and digits (Unicode categories L and N, as the
// C.UTF-8 locale classifies them); everything else separates words and is
// dropped. "Don't stop, Ægir!" gives ["don", "t", "stop", "ægir"]. Invalid
// UTF-8 bytes separate words (never a crash, never a word of their own).
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "calibrate/metrics.h"

namespace calm {

enum class TextUnit {
  Words,   // detokenized text split into lowercase words (the default)
  Pieces,  // the tokenizer's piece ids as they are (before this project scored words)
};

// "words", "pieces"; parse throws calm::Error on anything else.
TextUnit parse_text_unit(std::string_view name);
const char* text_unit_name(TextUnit unit);

// The words of `text`, lowercase UTF-8, as described above.
std::vector<std::string> words_of(std::string_view text);

// Gives each distinct word an id, shared by every text passed to it, so that
// texts compare word by word with the id-based metrics of metrics.h.
class WordIds {
 public:
  TokenIds operator()(std::string_view text);

 private:
  std::unordered_map<std::string, int> ids_;
};

}  // namespace calm
