// Certified thresholds shipped with a model: DIR/thresholds/*.json, made by
// `calm calibrate` on the model's calibration set (scripts/
// make-bundled-thresholds.sh for the bundled models). They let the app and
// `calm generate` start from a certified lambda instead of a hand-set one,
// when a file certifies exactly the settings in use.
#pragma once

#include <string>
#include <vector>

#include "calibrate/calibrator.h"
#include "calibrate/report.h"
#include "calibrate/thresholds.h"
#include "decode/exit_rule.h"

namespace calm {

struct BundledThresholds {
  std::string path;
  Thresholds thresholds;
};

// The certified files in model_dir/thresholds/ made for the weights whose
// file_hash is `model_hash`, sorted by file name. Never throws: a file that
// cannot be read, is exploratory, or was made for other weights is left out
// and described in `problems` (file name and why) when given.
std::vector<BundledThresholds> bundled_thresholds(const std::string& model_dir, const std::string& model_hash,
                                                  std::vector<std::string>* problems = nullptr);

// How the decoding settings of `rule` differ from those a calibration ran
// with (lambda and the grid aside), one phrase each ("the state measure",
// "tau = 4", "no repetition penalty"); empty when they are the same. The gate counts only for the
// softmax measures, which are the only ones that use it.
std::vector<std::string> settings_differences(const RunSettings& calibrated, const ExitRule& rule);

// Whether `t` guarantees `g` (epsilon aside for conformal risk control).
bool certifies(const Thresholds& t, const Guarantee& g);

// The first file that certifies `g` for the settings of `rule`; null when none.
const BundledThresholds* find_thresholds(const std::vector<BundledThresholds>& files, const ExitRule& rule,
                                         const Guarantee& g);

}  // namespace calm
