// A finished calibration: the model's outputs on every example at every lambda
// of the grid (calm::CalibrationRun), and the model that scores them. Losses
// for any consistency and metric are computed from the stored outputs, and
// choosing lambda for a new (delta, epsilon) only reads those losses: after a
// calibration, none of the guarantee's controls runs the model again.
// Or losses imported from a file computed by any engine
// (calm::ImportedLosses, docs/losses-format.md): then `run` is empty and the
// tables come from the file.
#pragma once

#include <map>
#include <memory>
#include <utility>

#include <QString>

#include "session/DecodeControls.h"
#include "calibrate/calibrator.h"
#include "calibrate/losses_file.h"
#include "calibrate/ltt.h"
#include "model/model.h"

namespace calm::ui {

struct CalibrationData {
  calm::CalibrationRun run;                   // complete: every example has its outputs (empty when imported)
  std::shared_ptr<const calm::Model> model;   // its tokenizer scores risk against references
  std::shared_ptr<const calm::ImportedLosses> imported;  // set instead of `run` for a losses file
  QString modelDir;
  QString dataset;     // the JSONL file (the losses file when imported)
  double seconds = 0.0;  // how long the run took
  // The controls when the run started: the guarantee asked for before any
  // loss was seen. A result for another delta, epsilon, consistency, metric
  // or p-value method is chosen after seeing the losses: exploratory.
  DecodeControls askedFor;

  bool certifies(const DecodeControls& controls) const;

  // Losses computed elsewhere, for the model in `modelDir` (loaded as `model`):
  // read_losses_file's checks, and the file's model hash, when it has one,
  // must be that of modelDir/model.safetensors. The guarantee asked for is
  // `controls` as they are when the file is opened, with the file's own
  // consistency and metric for a file of losses. Throws calm::Error naming
  // the file and the line.
  static std::shared_ptr<CalibrationData> fromLossesFile(const QString& path, std::shared_ptr<const calm::Model> model,
                                                         const QString& modelDir, DecodeControls controls);
  // The run settings the losses were computed under (the run's, or the file's).
  const calm::RunSettings& settings() const;
  std::size_t examples() const;
  // The guarantee `controls` ask of these losses (for a file of losses, in its unit).
  calm::Guarantee guarantee(const DecodeControls& controls) const;

  // Whether the outputs answer for `controls` on the model in `dir`: the run
  // settings (measure, tau, max new tokens, K/V mode, exit checks, gate) must be the same.
  bool matches(const QString& dir, const DecodeControls& controls) const;
  // What differs, for the user ("it used the state measure"); empty when it matches.
  QString mismatch(const QString& dir, const DecodeControls& controls) const;
  // The per-example losses for (consistency, metric), computed once. Throws
  // calm::Error for risk consistency when an example has no reference.
  std::shared_ptr<const calm::LossTable> table(calm::Consistency consistency, calm::Metric metric) const;
  double gridStep() const;

 private:
  mutable std::map<std::pair<int, int>, std::shared_ptr<const calm::LossTable>> tables_;
};

}  // namespace calm::ui
