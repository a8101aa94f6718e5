// How a token piece is written on screen: a chip shows the piece without its
// word-start space (the gap before the chip shows it), newlines and tabs as
// visible marks, and an empty piece as a small placeholder.
#pragma once

#include <QString>

namespace calm::ui {

class TokenText {
 public:
  // The label of a chip for `piece` (as Tokenizer::piece gives it).
  static QString chipLabel(const QString& piece);
  // Whether the piece begins a new word (SentencePiece's leading space).
  static bool startsWord(const QString& piece);
  // The piece quoted for a tooltip or a plot label, without its word-start
  // space: ‘the’; ‘␣’ for a bare space.
  static QString quoted(const QString& piece);
  static QString htmlEscaped(const QString& text);
};

}  // namespace calm::ui
