// The hover text of a token: where it left the decoder, its confidence against
// the threshold in force, and the exit layer's three most likely tokens.
#pragma once

#include <QString>

#include "decode/decoder.h"

namespace calm::ui {

class TokenTooltip {
 public:
  // Rich text for `token` of a run on `model` with `layers` decoder layers.
  static QString html(const calm::Model& model, const calm::TokenTrace& token, const QString& piece, int layers,
                      calm::Measure measure);
  // A token of a verify-mode run: an accepted draft, or the full model's correction.
  static QString verifyHtml(const calm::Model& model, const calm::TokenTrace& token, const QString& piece, int layers);
  // The drafts a correction replaced ("drafted ‘X’ …, rejected: the full model predicts ‘Y’").
  static QString rejectedHtml(const calm::Model& model, const calm::TokenTrace& token, const QString& piece);
  // The rejected drafts as one faint label, and whether it starts a word.
  static QString rejectedLabel(const calm::Model& model, const calm::TokenTrace& token, bool* wordStart = nullptr);
};

}  // namespace calm::ui
