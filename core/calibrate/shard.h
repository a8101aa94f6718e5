// One part of a calibration run split over several machines (a Slurm array
// job, or plain separate hosts). Each shard runs a seeded random share of the
// examples and writes an ordinary calibration cache (cache_file.h) whose header
// also names the shard; merge_caches (merge.h) joins the shards' caches into
// the complete run, which certifies exactly as a run on one machine would.
//
// The split is random, not by blocks of lines: the shipped sets (and most
// corpora) are in corpus order, so a block would give one machine all the long
// examples, and a single shard would not be a random sample of the set.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace calm {

struct Shard {
  std::size_t index = 1;  // 1-based, as typed: "2/4" is the second of four
  std::size_t count = 1;
  std::uint64_t seed = 0;  // of the split

  // "I/N" with 1 <= I <= N <= kMaxCount; throws calm::Error quoting the text otherwise.
  static Shard parse(const std::string& text, std::uint64_t seed = 0);
  static constexpr std::size_t kMaxCount = 100000;

  // The examples (of n) this shard runs, ascending: with the permutation
  // shuffled_indices(n, seed), example order[p] goes to shard p % count + 1,
  // so the shards' sizes differ by one at most and together hold every
  // example exactly once.
  std::vector<std::size_t> indices(std::size_t n) const;
  // (n) true where indices(n) holds the example.
  std::vector<bool> membership(std::size_t n) const;

  std::string name() const;  // "2/4"
  nlohmann::json to_json() const;  // {"index", "count", "seed"}
  // Throws calm::Error naming `source` when `j` is not such an object.
  static Shard from_json(const nlohmann::json& j, const std::string& source);
  bool operator==(const Shard&) const = default;
};

}  // namespace calm
