// Runs a model over a calibration set for every lambda of a grid and keeps the
// outputs, so that any consistency loss, metric, delta or epsilon can be asked
// afterwards without touching the model again (CALM's calibration, Schuster
// et al. 2022, by Learn then Test).
//
// One full-model run per example is shared by all grid points; each grid point
// below 1 needs one early-exit run. Examples run on a pool of threads, each
// with its own Decoder. Every finished example is appended to a cache file at
// once (calibrate/cache_file.h), so a cancelled or crashed calibration
// resumes where it stopped.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "calibrate/jsonl.h"
#include "calibrate/ltt.h"
#include "calibrate/metrics.h"
#include "calibrate/shard.h"
#include "calibrate/words.h"
#include "decode/decoder.h"

namespace calm {

enum class Consistency { Textual, Risk };
Consistency parse_consistency(const std::string& name);  // "textual", "risk"
const char* consistency_name(Consistency consistency);

// The textual consistency loss 1 - m(early, full) of one pair of outputs
// (generated ids, end of sequence excluded), scored in `unit` as the loss
// table scores it: what `calm serve`'s guarantee monitor records.
double textual_consistency_loss(const Tokenizer& tokenizer, Metric metric, TextUnit unit,
                                const std::vector<int>& early, const std::vector<int>& full);

// Risk consistency compares with references: throws calm::Error naming
// "data_path:line" of the first example without one. Call it before a run so
// that a long calibration is not spent on a set that cannot be scored.
void require_references(const std::vector<Example>& examples, const std::string& data_path);

// What the model is run with; everything that changes the outputs: the calm
// exit rule (its lambda unused: each run takes one of the grid) and the grid.
struct RunSettings : ExitRule {
  std::vector<double> grid = lambda_grid();  // strictly descending, from 1
  // How the examples were drawn from the data file: `limit` of them at random
  // with `limit_seed` (random_examples), or all when limit is 0. Recorded, not
  // applied here; the data hash covers the examples themselves.
  std::size_t limit = 0;
  std::uint64_t limit_seed = 0;

  // The rule at `lambda` (the full model's at 1), prompts cut to fit.
  DecodeOptions decode_options(double lambda) const;
  // The calm rule of decoding options (the inverse of decode_options): lambda
  // 1, no verify mode; the grid stays the default.
  static RunSettings from(const ExitRule& rule);
  // The rule's JSON form without lambda, and the grid (the calibration cache's header).
  nlohmann::json to_json() const;
  bool operator==(const RunSettings&) const = default;
};

// What one example produced.
struct ExampleOutputs {
  std::vector<int> full;                  // full model's tokens, eos dropped
  double full_seconds = 0.0;
  double full_flops = 0.0;
  std::vector<std::vector<int>> early;    // (grid) tokens, eos dropped
  std::vector<double> layers;             // (grid) average layers per token
  std::vector<double> seconds;            // (grid)
  std::vector<double> flops;              // (grid)
};

struct CalibrationRun {
  std::string model_name;
  std::string model_hash;    // of model.safetensors
  std::string data_path;
  std::string data_hash;
  RunSettings settings;
  std::vector<Example> examples;
  std::vector<std::optional<ExampleOutputs>> outputs;  // (examples); empty until run
  // Set for one shard of a run split over machines (shard.h): Calibrator::run
  // runs only its examples, and its cache's header names it.
  std::optional<Shard> shard;

  size_t finished() const;
  bool complete() const { return finished() == examples.size(); }
  // The examples this run is to compute: the shard's, or all of them.
  std::vector<size_t> assigned() const;

  // The per-example losses at every grid point, over `subset` (indices of
  // finished examples; all finished ones when empty), scored on the
  // detokenized text's words (words.h) or on the piece ids. Risk consistency
  // needs references; throws calm::Error naming the first example without one.
  LossTable loss_table(const Tokenizer& tokenizer, Consistency consistency, Metric metric,
                       const std::vector<size_t>& subset = {}, TextUnit unit = TextUnit::Words) const;
  // Measured speedup of grid point `point`: summed full-model time over summed
  // early-exit time, over the same examples.
  double measured_speedup(size_t point, const std::vector<size_t>& subset = {}) const;
  // Ideal speedup from the FLOPs actually spent.
  double flops_speedup(size_t point, const std::vector<size_t>& subset = {}) const;
};

struct CalibrationProgress {
  size_t done = 0;
  size_t total = 0;
  size_t resumed = 0;  // examples taken from the cache
  std::vector<size_t> cache_bad_lines;  // damaged cache lines skipped (1-based); their examples run again
};

class Calibrator {
 public:
  using ProgressCallback = std::function<void(const CalibrationProgress&)>;

  // Prepares a run over `examples` (typically read_jsonl of `data_path`).
  static CalibrationRun prepare(const Model& model, const std::string& data_path, std::vector<Example> examples,
                                const RunSettings& settings);

  // Fills every missing output of `run`, using `threads` threads. With a
  // `cache_path`, finished examples of an earlier run with the same model,
  // data and settings are loaded first, and each newly finished example is
  // appended to it; the cache is locked for the run. A cache made with other
  // settings, or locked by another run, is refused (the error names the file
  // and what differs) rather than overwritten; damaged lines in it are
  // skipped and reported in the progress. With `run.shard`, only the
  // shard's examples run. Returns false when cancelled (finished work is
  // kept in `run` and in the cache), true when every assigned example is done.
  static bool run(const Model& model, CalibrationRun& run, const std::string& cache_path = "", int threads = 0,
                  const ProgressCallback& progress = {}, const std::atomic<bool>* cancel = nullptr);
};

}  // namespace calm
