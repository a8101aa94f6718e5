// The calibration cache: one file per calibration, so a cancelled or crashed
// run resumes where it stopped.
//
//   line 1:  <checksum> {"calm_calibration_cache": 2, "model_hash", "data_hash", "examples", "settings"
//                        [, "shard": {"index", "count", "seed"}: one shard's cache (shard.h)]}
//   then:    <checksum> {"i": example index, "full", "full_s", "full_f", "early", "layers", "seconds", "flops"}
//
// The checksum (16 hex digits) is FNV-1a 64 of the line's JSON text, seeded
// with the header's hash, so a line edited by hand, damaged on disk or copied
// from another calibration's cache fails it. It detects accidents and edits,
// not a forger who recomputes it (who could as well edit the thresholds file).
//
// The file is locked (flock) for the whole run: a second calibration on the
// same cache is refused at once instead of interleaving lines. Each line is
// written with one write() on an O_APPEND descriptor. On loading, a damaged
// line (bad checksum, bad JSON, wrong sizes, torn by a crash) is skipped and
// its example run again; the valid lines around it are kept, and the file is
// rewritten without it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "calibrate/calibrator.h"

namespace calm {

class CalibrationCache {
 public:
  // The longest line read back: a line holds (grid points + 1) x max new
  // tokens ids, at most 1001 x 4096; a longer one is skipped unread.
  static constexpr std::size_t kMaxLineBytes = std::size_t(64) << 20;

  // Opens or creates `path` (a regular file or a new one: never a link or a
  // device node), locks it, and loads every valid finished example into
  // `run`. Throws calm::Error naming the file when it is locked by another
  // run, unreadable, or made for another model, data set or settings (the
  // message lists what differs).
  CalibrationCache(const std::string& path, CalibrationRun& run);
  ~CalibrationCache();
  CalibrationCache(const CalibrationCache&) = delete;
  CalibrationCache& operator=(const CalibrationCache&) = delete;

  std::size_t loaded() const { return loaded_; }
  // 1-based numbers of the damaged lines that were skipped.
  const std::vector<std::size_t>& bad_lines() const { return bad_lines_; }

  // Appends one finished example in one write. Throws calm::Error naming the
  // file when the write fails (a full disk), so finished work is never lost
  // without a word.
  void append(std::size_t index, const ExampleOutputs& outputs);

 private:
  void write_line(const std::string& json_text, uint64_t seed);

  std::string path_;
  int fd_ = -1;
  uint64_t seed_ = 0;  // the header's hash, seeding every line's checksum
  std::size_t loaded_ = 0;
  std::vector<std::size_t> bad_lines_;
};

// A finished cache read back for merging (merge.h): opened read-only and
// share-locked (a cache still locked by a running calibration is refused), and
// never changed. Unlike the resuming reader it skips nothing: a damaged line
// (checksum, JSON, values), a line torn by a crash or an example index out of
// range throws calm::Error naming "path:line". The header must be `run`'s
// (the whole run's, without a shard) apart from its "shard" key; the error
// lists what differs.
struct CacheLine {
  std::size_t line = 0;   // 1-based line in the file
  std::size_t index = 0;  // the example's index in the run
  ExampleOutputs outputs;
};
struct FinishedCache {
  std::optional<Shard> shard;  // from the header, when the cache is a shard's
  std::vector<CacheLine> lines;
};
FinishedCache read_finished_cache(const std::string& path, const CalibrationRun& run);

// The header line's JSON for `run`, and, for a cache made otherwise, what
// differs ("settings.tau: 4 in the cache, 2 now; data_hash: ..."), empty when
// nothing does.
nlohmann::json cache_header(const CalibrationRun& run);
std::string cache_header_differences(const nlohmann::json& cached, const nlohmann::json& now);

}  // namespace calm
