// File > Run a JSONL file: every prompt of a JSONL set decoded with the
// current controls, written as JSON lines (the same lines as `calm generate
// --data`). A plain function for a worker thread; StudioSession runs it.
#pragma once

#include <atomic>
#include <functional>

#include <QString>

#include "decode/decoder.h"
#include "model/model.h"

namespace calm::ui {

struct BatchOutcome {
  int total = 0;      // examples in the file
  int written = 0;    // lines written (finished examples)
  int failed = 0;     // of them, examples whose decode failed (an "error" line)
  bool cancelled = false;
  QString summary;    // one paragraph for the user
};

// Reads `input` (a malformed line stops it: the error names the file and
// line), decodes on every core, writes `output` (never the input); throws
// calm::Error with the file named. `progress(done, total)` comes from workers.
BatchOutcome runBatchFile(const calm::Model& model, const QString& input, const QString& output,
                          const calm::DecodeOptions& options, const std::atomic<bool>& cancel,
                          const std::function<void(int, int)>& progress);

}  // namespace calm::ui
