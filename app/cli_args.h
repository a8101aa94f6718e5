// A small command-line parser: `calm COMMAND --key value --flag`. Unknown or
// malformed options are usage errors, reported with the option's name.
#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace calm::cli {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  // `valued` options take a value, `flags` do not.
  Args(const std::vector<std::string>& argv, const std::set<std::string>& valued, const std::set<std::string>& flags);

  bool has(const std::string& key) const { return values_.count(key) != 0; }
  bool flag(const std::string& key) const { return flags_.count(key) != 0; }
  std::string get(const std::string& key, const std::string& fallback = "") const;
  int get_int(const std::string& key, int fallback) const;
  // A finite number ("nan" and "inf" are usage errors).
  double get_double(const std::string& key, double fallback) const;
  // The same, within [lo, hi]: a usage error naming the option and the bounds otherwise.
  int get_int(const std::string& key, int fallback, int lo, int hi) const;
  double get_double(const std::string& key, double fallback, double lo, double hi) const;

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
};

}  // namespace calm::cli
