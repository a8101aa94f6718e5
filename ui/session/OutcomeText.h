// The line under the prompt after a run: tokens, layers on average, the
// measured speedup and λ (or, in verify mode, the drafts accepted and tokens
// per verification pass), and how far the text is from the full model's.
// Rich text, for the prompt panel's status label.
#pragma once

#include <QString>

#include "session/GenerationOutcome.h"

namespace calm::ui {

QString outcomeSummary(const GenerationOutcome& outcome);

}  // namespace calm::ui
