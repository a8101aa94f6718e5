#include "calibrate/shard.h"

#include "calibrate/sampling.h"
#include "util/error.h"

namespace calm {

Shard Shard::parse(const std::string& text, std::uint64_t seed) {
  const auto bad = [&] {
    return Error("shard '" + text + "' is not I/N with 1 <= I <= N <= " + std::to_string(kMaxCount) +
                 " (e.g. 2/4: the second of four)");
  };
  const auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size()) throw bad();
  const auto number = [&](const std::string& digits) {
    if (digits.size() > 6 || digits.find_first_not_of("0123456789") != std::string::npos) throw bad();
    return static_cast<std::size_t>(std::stoul(digits));
  };
  Shard s;
  s.index = number(text.substr(0, slash));
  s.count = number(text.substr(slash + 1));
  s.seed = seed;
  if (s.index < 1 || s.count < 1 || s.index > s.count || s.count > kMaxCount) throw bad();
  return s;
}

std::vector<bool> Shard::membership(std::size_t n) const {
  std::vector<bool> in(n, false);
  const std::vector<std::size_t> order = shuffled_indices(n, seed);
  for (std::size_t p = index - 1; p < n; p += count) in[order[p]] = true;
  return in;
}

std::vector<std::size_t> Shard::indices(std::size_t n) const {
  const std::vector<bool> in = membership(n);
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < n; ++i)
    if (in[i]) out.push_back(i);
  return out;
}

std::string Shard::name() const { return std::to_string(index) + "/" + std::to_string(count); }

nlohmann::json Shard::to_json() const { return {{"index", index}, {"count", count}, {"seed", seed}}; }

Shard Shard::from_json(const nlohmann::json& j, const std::string& source) {
  const auto field = [&](const char* key) -> const nlohmann::json& {
    if (!j.is_object() || !j.contains(key) || !j[key].is_number_integer() ||
        (!j[key].is_number_unsigned() && j[key].get<std::int64_t>() < 0))
      throw Error(source + ": key \"shard." + key + "\" must be a non-negative integer");
    return j[key];
  };
  Shard s;
  s.index = field("index").get<std::size_t>();
  s.count = field("count").get<std::size_t>();
  s.seed = field("seed").get<std::uint64_t>();
  if (s.index < 1 || s.count < 1 || s.index > s.count || s.count > kMaxCount)
    throw Error(source + ": key \"shard\": " + std::to_string(s.index) + "/" + std::to_string(s.count) +
                " is not a shard (1 <= index <= count <= " + std::to_string(kMaxCount) + ")");
  return s;
}

}  // namespace calm
