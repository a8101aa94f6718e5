// The token table of a run as CSV, for spreadsheets and papers: one row per
// generated token with its id, piece, exit layer, the threshold in force and
// the confidence at exit, then (traced runs) the confidence at every layer.
#pragma once

#include <QString>

#include "session/GenerationOutcome.h"

namespace calm::ui {

QString tokenTableCsv(const GenerationOutcome& outcome);

}  // namespace calm::ui
