// Joining the caches of a calibration run computed in shards (shard.h) on
// several machines. The merged run holds the very outputs a run on one
// machine would have produced (decoding is deterministic for a given build,
// model and settings), so it certifies exactly as that run would.
#pragma once

#include <string>
#include <vector>

#include "calibrate/calibrator.h"

namespace calm {

// Fills every output of `run` (prepared for the whole data set with the same
// model and settings as the shards, no shard of its own) from the caches at
// `paths`. Throws calm::Error, before changing `run`, naming the file, and the
// line, the example (its index and its line in the data file) where there is
// one, when:
// - a cache was made with other settings, another model or other data
//   (the message lists what differs), or is damaged, torn or still locked
//   by a running calibration (read_finished_cache);
// - a line holds an example that is not in its cache's shard;
// - an example is in two caches (or twice in one), or in none; when the
//   caches are shards of one split, the message names the shards missing;
// - the caches are shards of different splits (another count or seed), or
//   the same file is given twice.
void merge_caches(const std::vector<std::string>& paths, CalibrationRun& run);

}  // namespace calm
