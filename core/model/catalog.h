// Where the bundled models and data sets live: $CALM_DATA_DIR, the installed
// share directory, or the source tree's resources/ for a development build.
#pragma once

#include <string>
#include <vector>

namespace calm {

// Directories that hold models/ and data/, most preferred first, existing only.
std::vector<std::string> resource_roots();
// Every model directory (one holding config.json) under the roots' models/.
std::vector<std::string> bundled_model_dirs();
// The model the programs use when none is named (the build's CALM_DEFAULT_MODEL
// when bundled, else the first by name); throws calm::Error when none exists.
std::string default_model_dir();
// A bundled model by name (its directory's name) or a path; throws calm::Error when neither exists.
std::string resolve_model_dir(const std::string& name_or_path);
// resources/data/<model name>/<split>.jsonl for a bundled model, or "" when absent.
std::string bundled_data_file(const std::string& model_name, const std::string& split);

}  // namespace calm
