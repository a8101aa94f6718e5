#include "model/catalog.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "util/error.h"

namespace fs = std::filesystem;

namespace calm {
namespace {

bool is_model_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "config.json", ec);
}

std::vector<std::string> model_dirs_under(const fs::path& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return found;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (is_model_dir(entry.path())) found.push_back(entry.path().string());
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace

std::vector<std::string> resource_roots() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("CALM_DATA_DIR")) candidates.emplace_back(env);
#ifdef CALM_SOURCE_DIR
  candidates.emplace_back(std::string(CALM_SOURCE_DIR) + "/resources");
#endif
#ifdef CALM_INSTALL_DATADIR
  candidates.emplace_back(CALM_INSTALL_DATADIR);
#endif
  std::vector<std::string> roots;
  std::error_code ec;
  for (const auto& c : candidates)
    if (fs::is_directory(c, ec)) roots.push_back(c);
  return roots;
}

std::vector<std::string> bundled_model_dirs() {
  std::vector<std::string> dirs;
  for (const auto& root : resource_roots())
    for (const auto& d : model_dirs_under(fs::path(root) / "models"))
      if (std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
  return dirs;
}

std::string default_model_dir() {
  const auto dirs = bundled_model_dirs();
  if (dirs.empty())
    throw Error("no bundled model found (looked in $CALM_DATA_DIR/models and the installed resources); "
                "pass --model DIR");
#ifdef CALM_DEFAULT_MODEL  // the build's choice (CMake CALM_DEFAULT_MODEL)
  for (const auto& d : dirs)
    if (fs::path(d).filename() == CALM_DEFAULT_MODEL) return d;
#endif
  return dirs.front();
}

std::string resolve_model_dir(const std::string& name_or_path) {
  std::error_code ec;
  if (fs::is_directory(name_or_path, ec)) return name_or_path;
  for (const auto& d : bundled_model_dirs())
    if (fs::path(d).filename() == name_or_path) return d;
  throw Error("model '" + name_or_path + "': no such directory and no bundled model of that name");
}

std::string bundled_data_file(const std::string& model_name, const std::string& split) {
  std::error_code ec;
  for (const auto& root : resource_roots()) {
    const fs::path file = fs::path(root) / "data" / model_name / (split + ".jsonl");
    if (fs::is_regular_file(file, ec)) return file.string();
  }
  return "";
}

}  // namespace calm
