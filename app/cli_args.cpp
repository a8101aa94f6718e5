#include "cli_args.h"

#include <cmath>
#include <cstdio>

namespace calm::cli {

Args::Args(const std::vector<std::string>& argv, const std::set<std::string>& valued, const std::set<std::string>& flags) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + a + "'");
    std::string key = a.substr(2), value;
    const auto eq = key.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
    }
    if (flags.count(key)) {
      if (inline_value) throw UsageError("option --" + key + " takes no value");
      flags_.insert(key);
    } else if (valued.count(key)) {
      if (!inline_value) {
        if (i + 1 >= argv.size()) throw UsageError("option --" + key + " needs a value");
        value = argv[++i];
      }
      values_[key] = value;
    } else {
      throw UsageError("unknown option --" + key);
    }
  }
}

std::string Args::get(const std::string& key, const std::string& fallback) const {
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

int Args::get_int(const std::string& key, int fallback) const {
  if (!has(key)) return fallback;
  try {
    size_t used = 0;
    const int v = std::stoi(get(key), &used);
    if (used != get(key).size()) throw std::invalid_argument(key);
    return v;
  } catch (const std::exception&) {
    throw UsageError("option --" + key + " needs an integer, got '" + get(key) + "'");
  }
}

double Args::get_double(const std::string& key, double fallback) const {
  if (!has(key)) return fallback;
  try {
    size_t used = 0;
    const double v = std::stod(get(key), &used);
    if (used != get(key).size() || !std::isfinite(v)) throw std::invalid_argument(key);
    return v;
  } catch (const std::exception&) {
    throw UsageError("option --" + key + " needs a number, got '" + get(key) + "'");
  }
}

int Args::get_int(const std::string& key, int fallback, int lo, int hi) const {
  const int v = get_int(key, fallback);
  if (v < lo || v > hi)
    throw UsageError("option --" + key + " must be from " + std::to_string(lo) + " to " + std::to_string(hi) +
                     ", got " + get(key));
  return v;
}

double Args::get_double(const std::string& key, double fallback, double lo, double hi) const {
  const double v = get_double(key, fallback);
  if (v < lo || v > hi) {
    char text[96];
    std::snprintf(text, sizeof text, " must be from %g to %g, got ", lo, hi);
    throw UsageError("option --" + key + text + get(key));
  }
  return v;
}

}  // namespace calm::cli
