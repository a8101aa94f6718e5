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
};

}  // namespace calm::ui
