#include "calibrate/bundled.h"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <sstream>

#include "calibrate/method.h"
#include "decode/measure.h"

namespace calm {
namespace fs = std::filesystem;

namespace {
std::string general(double x) {
  std::ostringstream s;
  s << x;
  return s.str();
}
}  // namespace

std::vector<BundledThresholds> bundled_thresholds(const std::string& model_dir, const std::string& model_hash,
                                                  std::vector<std::string>* problems) {
  std::vector<BundledThresholds> found;
  const auto note = [&](const std::string& file, const std::string& why) {
    if (problems) problems->push_back(file + ": " + why);
  };
  std::error_code ec;
  const fs::path dir = fs::path(model_dir) / "thresholds";
  if (!fs::is_directory(dir, ec)) return found;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".json" && it->is_regular_file(ec)) files.push_back(it->path());
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    try {
      Thresholds t = read_thresholds(file.string());
      if (t.exploratory)
        note(file.string(), "exploratory (delta and epsilon chosen after the losses were seen): not used");
      else if (t.model_hash != model_hash)
        note(file.string(), "made for other weights (hash " + t.model_hash + ", this model's " + model_hash + ")");
      else
        found.push_back({file.string(), std::move(t)});
    } catch (const std::exception& e) {
      note(file.string(), e.what());
    }
  }
  return found;
}

std::vector<std::string> settings_differences(const RunSettings& s, const ExitRule& c) {
  std::vector<std::string> why;
  if (c.measure != s.measure) why.push_back("the " + std::string(measure_name(s.measure)) + " measure");
  if (c.tau != s.tau) why.push_back("tau = " + general(s.tau));
  if (c.max_new_tokens != s.max_new_tokens) why.push_back("max new tokens = " + std::to_string(s.max_new_tokens));
  if (c.kv_mode != s.kv_mode) why.push_back("the " + std::string(kv_mode_name(s.kv_mode)) + " K/V mode");
  if (c.first_exit_layer != s.first_exit_layer || c.check_interval != s.check_interval)
    why.push_back("exit checks from layer " + std::to_string(s.first_exit_layer) + " every " +
                  std::to_string(s.check_interval));
  if (measure_needs_logits(s.measure) &&
      (c.gate != s.gate || (s.gate != Gate::None && c.gate_threshold != s.gate_threshold)))
    why.push_back("the " + std::string(gate_name(s.gate)) + " gate" +
                  (s.gate == Gate::None ? std::string() : " at " + general(s.gate_threshold)));
  if (c.repetition_penalty != s.repetition_penalty)
    why.push_back(s.repetition_penalty == 1.0 ? "no repetition penalty"
                                              : "repetition penalty " + general(s.repetition_penalty));
  if (c.no_repeat_ngram != s.no_repeat_ngram)
    why.push_back(s.no_repeat_ngram == 0 ? "no n-gram ban"
                                         : "no repeated " + std::to_string(s.no_repeat_ngram) + "-grams");
  return why;
}

bool certifies(const Thresholds& t, const Guarantee& g) {
  const bool same_epsilon = !is_learn_then_test(g.method) || t.epsilon == g.epsilon;
  return t.consistency == g.consistency && t.metric == g.metric && t.metric_unit == g.unit &&
         t.delta == g.delta && same_epsilon && t.method == g.method;
}

const BundledThresholds* find_thresholds(const std::vector<BundledThresholds>& files, const ExitRule& rule,
                                         const Guarantee& g) {
  for (const BundledThresholds& f : files)
    if (certifies(f.thresholds, g) && settings_differences(f.thresholds.run_settings(), rule).empty()) return &f;
  return nullptr;
}

}  // namespace calm
