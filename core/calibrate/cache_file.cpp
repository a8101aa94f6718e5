#include "calibrate/cache_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>

#include "io/output_file.h"
#include "io/utf8.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/json_limits.h"

namespace calm {

namespace {

using json = nlohmann::json;

constexpr int kCacheVersion = 2;

std::string errno_text() { return std::strerror(errno); }

nlohmann::json outputs_to_json(size_t index, const ExampleOutputs& o) {
  return {{"i", index},         {"full", o.full},     {"full_s", o.full_seconds}, {"full_f", o.full_flops},
          {"early", o.early},   {"layers", o.layers}, {"seconds", o.seconds},     {"flops", o.flops}};
}

bool valid_number(double x) { return std::isfinite(x) && x >= 0.0; }

bool valid_tokens(const std::vector<int>& tokens) {
  for (int t : tokens)
    if (t < 0) return false;
  return true;
}

// Throws (any exception) when `j` is not a whole, plausible example.
ExampleOutputs outputs_from_json(const json& j, size_t grid) {
  ExampleOutputs o;
  o.full = j.at("full").get<std::vector<int>>();
  o.full_seconds = j.at("full_s").get<double>();
  o.full_flops = j.at("full_f").get<double>();
  o.early = j.at("early").get<std::vector<std::vector<int>>>();
  o.layers = j.at("layers").get<std::vector<double>>();
  o.seconds = j.at("seconds").get<std::vector<double>>();
  o.flops = j.at("flops").get<std::vector<double>>();
  if (o.early.size() != grid || o.layers.size() != grid || o.seconds.size() != grid || o.flops.size() != grid)
    throw Error("grid size differs");
  bool ok = valid_number(o.full_seconds) && valid_number(o.full_flops) && valid_tokens(o.full);
  for (size_t p = 0; p < grid; ++p)
    ok = ok && valid_tokens(o.early[p]) && valid_number(o.layers[p]) && valid_number(o.seconds[p]) &&
         valid_number(o.flops[p]);
  if (!ok) throw Error("a value out of range");
  return o;
}

std::string checksum(const std::string& json_text, uint64_t seed) { return hash_hex(fnv1a64(json_text, seed)); }

// "<16 hex> <json>" -> the JSON text when the checksum matches; empty otherwise.
std::string verified_json(const std::string& line, uint64_t seed) {
  if (line.size() < 18 || line[16] != ' ') return {};
  std::string text = line.substr(17);
  return line.compare(0, 16, checksum(text, seed)) == 0 ? text : std::string();
}

// Calls `on_line(text, number, whole)` for each line of the file behind `fd`;
// a line over `max_bytes` is passed empty and not whole, never held in memory.
// `whole` is false for a last line without its newline. Returns whether the
// file ends with a newline (or is empty).
bool for_each_line(int fd, const std::string& path, size_t max_bytes,
                   const std::function<void(const std::string&, size_t, bool)>& on_line) {
  std::string line;
  bool too_long = false, ends_with_newline = true;
  size_t number = 0;
  std::vector<char> chunk(1 << 16);
  for (off_t offset = 0;;) {
    const ssize_t n = ::pread(fd, chunk.data(), chunk.size(), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(path + ": cannot read the calibration cache: " + errno_text());
    }
    if (n == 0) break;
    offset += n;
    for (ssize_t i = 0; i < n; ++i) {
      const char c = chunk[static_cast<size_t>(i)];
      if (c == '\n') {
        on_line(too_long ? std::string() : line, ++number, !too_long);
        line.clear();
        too_long = false;
        ends_with_newline = true;
        continue;
      }
      ends_with_newline = false;
      if (too_long) continue;
      if (line.size() >= max_bytes) {
        too_long = true;
        line.clear();
        line.shrink_to_fit();
      } else {
        line.push_back(c);
      }
    }
  }
  if (!ends_with_newline) on_line(std::string(), ++number, false);  // torn by a crash mid-write
  return ends_with_newline;
}

std::string value_text(const json* v) { return v ? json_excerpt(*v, 40) : std::string("absent"); }

void collect_differences(const json& cached, const json& now, const std::string& prefix, std::string& out) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : cached.items()) keys.push_back(k);
  for (const auto& [k, v] : now.items())
    if (!cached.contains(k)) keys.push_back(k);
  for (const std::string& k : keys) {
    const json* a = cached.contains(k) ? &cached[k] : nullptr;
    const json* b = now.contains(k) ? &now[k] : nullptr;
    if (a && b && *a == *b) continue;
    if (a && b && a->is_object() && b->is_object()) {
      collect_differences(*a, *b, prefix + k + ".", out);
      continue;
    }
    out += (out.empty() ? "" : "; ") + prefix + k + ": " + value_text(a) + " in the cache, " + value_text(b) + " now";
  }
}

}  // namespace

json cache_header(const CalibrationRun& run) {
  json header = {{"calm_calibration_cache", kCacheVersion},
                 {"model_hash", run.model_hash},
                 {"data_hash", run.data_hash},
                 {"examples", run.examples.size()},
                 {"settings", run.settings.to_json()}};
  if (run.shard) header["shard"] = run.shard->to_json();  // absent otherwise, so older caches still match
  return header;
}

std::string cache_header_differences(const json& cached, const json& now) {
  std::string out;
  if (cached.is_object() && now.is_object()) collect_differences(cached, now, "", out);
  else if (cached != now) out = "the header";
  return out;
}

CalibrationCache::CalibrationCache(const std::string& path, CalibrationRun& run) : path_(path) {
  check_output_path(path, "the calibration cache");
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (fd_ < 0) throw Error(path + ": cannot open the calibration cache: " + errno_text());
  try {
    struct stat st;
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode))
      throw Error(path + ": the calibration cache is not a regular file");
    // Not blocking: a second run on the same cache is a mistake to report,
    // not a reason to hang.
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0)
      throw Error(path + (errno == EWOULDBLOCK
                              ? ": the calibration cache is in use by another calibration (locked); wait for it "
                                "to finish, or give this one another --cache"
                              : ": cannot lock the calibration cache: " + errno_text()));

    const json now = cache_header(run);
    const std::string header_text = dump_json(now);
    const std::vector<bool> in_shard = run.shard ? run.shard->membership(run.examples.size()) : std::vector<bool>();
    seed_ = fnv1a64(header_text);
    bool header_ok = false, fresh = false;
    const bool ends_with_newline = for_each_line(fd_, path, kMaxLineBytes, [&](const std::string& line, size_t number,
                                                                               bool whole) {
      if (number == 1) {
        if (!whole) {  // an empty file, or a header torn by a crash: start afresh
          fresh = true;
          return;
        }
        if (!line.empty() && line[0] == '{')
          throw Error(path + ": a calibration cache of an older format (no checksums); delete it to calibrate again");
        const std::string text = verified_json(line, fnv1a64(""));
        if (text.empty())
          throw Error(path + ":1: the header fails its checksum (edited or damaged); delete the cache to calibrate "
                             "again");
        json cached;
        try {
          cached = json::parse(text);
        } catch (const json::exception&) {
          throw Error(path + ":1: not a calibration cache header");
        }
        const std::string differences = cache_header_differences(cached, now);
        if (!differences.empty())
          throw Error(path + ": this calibration cache was made with other settings (" + differences +
                      "); delete it or choose another cache file");
        header_ok = true;
        return;
      }
      if (fresh) return;
      if (line.empty() && whole) return;  // a blank line
      try {
        const std::string text = whole ? verified_json(line, seed_) : std::string();
        if (text.empty()) throw Error("checksum");
        const JsonExtent extent = json_extent(text, kMaxJsonDepth, 1u << 24);
        if (extent.depth > kMaxJsonDepth) throw Error("nesting");
        const json j = json::parse(text);
        const size_t index = j.at("i").get<size_t>();
        if (index >= run.outputs.size()) throw Error("index out of range");
        if (!in_shard.empty() && !in_shard[index]) throw Error("not in the shard");
        ExampleOutputs o = outputs_from_json(j, run.settings.grid.size());
        if (!run.outputs[index]) {  // a repeated example: the first copy counts
          run.outputs[index] = std::move(o);
          ++loaded_;
        }
      } catch (const std::exception&) {
        bad_lines_.push_back(number);
      }
    });
    if (fresh || !header_ok) bad_lines_.clear();  // empty, or only a torn header: nothing in it to keep
    if (fresh || !header_ok || !bad_lines_.empty() || !ends_with_newline) {
      // Rewritten in place (the lock stays on this file): the header and the
      // valid lines, without the damaged ones, so appends start clean.
      if (::ftruncate(fd_, 0) != 0) throw Error(path + ": cannot rewrite the calibration cache: " + errno_text());
      write_line(header_text, fnv1a64(""));
      for (size_t i = 0; i < run.outputs.size(); ++i)
        if (run.outputs[i]) append(i, *run.outputs[i]);
      if (::fsync(fd_) != 0) throw Error(path + ": cannot rewrite the calibration cache: " + errno_text());
    }
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

FinishedCache read_finished_cache(const std::string& path, const CalibrationRun& run) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) throw Error(path + ": cannot open the calibration cache: " + errno_text());
  FinishedCache out;
  try {
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
      throw Error(path + ": the calibration cache is not a regular file");
    if (::flock(fd, LOCK_SH | LOCK_NB) != 0)
      throw Error(path + (errno == EWOULDBLOCK ? ": the calibration cache is in use by a running calibration "
                                                 "(locked): wait for that shard to finish"
                                               : ": cannot lock the calibration cache: " + errno_text()));
    const json whole_run = cache_header(run);
    uint64_t seed = 0;
    bool header_seen = false;
    size_t unwhole = 0, last = 0;  // the first line not read whole (too long, or torn at the end); the last line
    const size_t grid = run.settings.grid.size();
    const std::string at = path + ":";
    const bool ends_with_newline = for_each_line(fd, path, CalibrationCache::kMaxLineBytes, [&](const std::string& line, size_t number,
                                                                              bool whole) {
      const std::string where = at + std::to_string(number);
      last = number;
      if (!whole) {
        if (!unwhole) unwhole = number;
        return;
      }
      if (unwhole) return;
      if (number == 1) {
        const std::string text = verified_json(line, fnv1a64(""));
        if (text.empty()) throw Error(where + ": not a calibration cache header, or one that fails its checksum");
        json cached;
        try {
          cached = json::parse(text);
        } catch (const json::exception&) {
          throw Error(where + ": not a calibration cache header");
        }
        if (cached.is_object() && cached.contains("shard")) {
          out.shard = Shard::from_json(cached["shard"], path);
          cached.erase("shard");
        }
        const std::string differences = cache_header_differences(cached, whole_run);
        if (!differences.empty())
          throw Error(path + ": this cache was made with other settings, another model or other data (" +
                      differences + ")");
        seed = fnv1a64(text);
        header_seen = true;
        return;
      }
      if (line.empty()) return;  // a blank line
      const std::string text = verified_json(line, seed);
      if (text.empty()) throw Error(where + ": the line fails its checksum (edited or damaged)");
      CacheLine c;
      c.line = number;
      try {
        const JsonExtent extent = json_extent(text, kMaxJsonDepth, 1u << 24);
        if (extent.depth > kMaxJsonDepth) throw Error("nested too deeply");
        const json j = json::parse(text);
        c.index = j.at("i").get<size_t>();
        c.outputs = outputs_from_json(j, grid);
      } catch (const std::exception& e) {
        throw Error(where + ": not a finished example (" + e.what() + ")");
      }
      if (c.index >= run.examples.size())
        throw Error(where + ": example " + std::to_string(c.index) + " is out of range (the data has " +
                    std::to_string(run.examples.size()) + " examples)");
      out.lines.push_back(std::move(c));
    });
    if (unwhole && unwhole == last && !ends_with_newline)
      throw Error(at + std::to_string(unwhole) +
                  ": the last line is torn (a crash or a kill mid-write): run that calibration again to finish it");
    if (unwhole)
      throw Error(at + std::to_string(unwhole) + ": a line over " + std::to_string(CalibrationCache::kMaxLineBytes >> 20) + " MiB");
    if (!header_seen) throw Error(path + ": an empty calibration cache");
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return out;
}

CalibrationCache::~CalibrationCache() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

void CalibrationCache::append(size_t index, const ExampleOutputs& outputs) {
  write_line(dump_json(outputs_to_json(index, outputs)), seed_);
}

void CalibrationCache::write_line(const std::string& json_text, uint64_t seed) {
  // One buffer, one write: with O_APPEND and the lock held, no other line can
  // land inside it.
  const std::string line = checksum(json_text, seed) + " " + json_text + "\n";
  size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + written, line.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(path_ + ": cannot write the calibration cache: " + errno_text());
    }
    written += static_cast<size_t>(n);
  }
}

}  // namespace calm
