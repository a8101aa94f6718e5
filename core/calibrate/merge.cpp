#include "calibrate/merge.h"

#include <filesystem>
#include <optional>
#include <set>

#include "calibrate/cache_file.h"
#include "calibrate/sampling.h"
#include "util/error.h"

namespace calm {

namespace {

std::string example_text(const CalibrationRun& run, size_t index) {
  return "example " + std::to_string(index) + " (line " + std::to_string(run.examples[index].line) + " of " +
         run.data_path + ")";
}

}  // namespace

void merge_caches(const std::vector<std::string>& paths, CalibrationRun& run) {
  if (run.shard) throw Error("merging needs the whole run, not shard " + run.shard->name());
  if (paths.empty()) throw Error("merging needs at least one calibration cache");
  for (size_t a = 0; a < paths.size(); ++a)
    for (size_t b = 0; b < a; ++b) {
      std::error_code ec;
      if (std::filesystem::equivalent(paths[a], paths[b], ec))
        throw Error(paths[a] + ": the same cache is given twice (as " + paths[b] + ")");
    }

  const size_t n = run.examples.size();
  std::vector<std::optional<ExampleOutputs>> merged(n);
  std::vector<size_t> from(n, 0);  // which cache (index into paths) holds each example
  std::optional<Shard> split;      // the split shared by every shard cache, when they share one
  std::set<size_t> shards_given;
  bool all_shards = true;
  for (size_t k = 0; k < paths.size(); ++k) {
    const std::string& path = paths[k];
    FinishedCache cache = read_finished_cache(path, run);
    std::vector<bool> in_shard;
    if (cache.shard) {
      const Shard& s = *cache.shard;
      if (split && (split->count != s.count || split->seed != s.seed))
        throw Error(path + ": shard " + s.name() + " of a split with seed " + std::to_string(s.seed) +
                    ", but an earlier cache is shard " + split->name() + " with seed " +
                    std::to_string(split->seed) + ": shards of different splits");
      if (!split) split = s;
      if (!shards_given.insert(s.index).second)
        throw Error(path + ": a second cache of shard " + s.name() + " (seed " + std::to_string(s.seed) + ")");
      in_shard = s.membership(n);
    } else {
      all_shards = false;
    }
    for (CacheLine& line : cache.lines) {
      const std::string where = path + ":" + std::to_string(line.line) + ": ";
      if (!in_shard.empty() && !in_shard[line.index])
        throw Error(where + example_text(run, line.index) + " is not in shard " + cache.shard->name() +
                    " (seed " + std::to_string(cache.shard->seed) + ")");
      if (merged[line.index])
        throw Error(where + example_text(run, line.index) + " is already in " + paths[from[line.index]] +
                    ": a duplicated example");
      merged[line.index] = std::move(line.outputs);
      from[line.index] = k;
    }
  }

  size_t missing = 0, first_missing = n;
  for (size_t i = 0; i < n; ++i)
    if (!merged[i]) {
      ++missing;
      if (first_missing == n) first_missing = i;
    }
  if (missing) {
    std::string message = example_text(run, first_missing) + " is in none of the caches (" + std::to_string(missing) +
                          " of " + std::to_string(n) + " examples missing)";
    if (split && all_shards) {
      std::string absent;
      for (size_t s = 1; s <= split->count; ++s)
        if (!shards_given.count(s))
          absent += (absent.empty() ? "" : ", ") + std::to_string(s) + "/" + std::to_string(split->count);
      if (absent.empty()) {
        const std::vector<size_t> order = shuffled_indices(n, split->seed);
        size_t p = 0;
        while (order[p] != first_missing) ++p;
        message += "; shard " + std::to_string(p % split->count + 1) + "/" + std::to_string(split->count) +
                   " is unfinished: run it again to finish it";
      } else {
        message += "; shards not given: " + absent;
      }
    }
    throw Error(message);
  }
  run.outputs = std::move(merged);
}

}  // namespace calm
