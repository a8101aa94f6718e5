// `calm calibrate`, `calm eval` and `calm validate`: Learn-then-Test
// calibration, its evaluation on a test set, and the random-split check that
// the guarantee holds. Each returns the exit code (0 ok, 3 cancelled) and
// throws cli::UsageError (exit 2) or calm::Error (exit 1) for main to report.
#pragma once

#include <string>
#include <vector>

namespace calm::cli {

extern const char* const kCalibrateUsage;  // the usage lines of the three commands

int cmd_calibrate(const std::vector<std::string>& argv);
int cmd_eval(const std::vector<std::string>& argv);
int cmd_validate(const std::vector<std::string>& argv);

}  // namespace calm::cli
