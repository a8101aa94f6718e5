// Losses computed by another engine (transformers, vLLM, a LayerSkip fork, or
// calm itself on another machine), certified here: a JSONL table of per-example
// results at every lambda of a grid. docs/losses-format.md describes the
// format and has a Python example that writes it.
//
//   line 1: {"calm_losses": 1, "kind": "losses" | "outputs", "lambdas": [1, ..., 0],
//            ["loss": {"consistency", "metric", "metric_unit"}: kind "losses" only, required],
//            ["model": {"name", "hash", "dir", "num_layers"}], ["data": {"path", "hash"}],
//            "settings": the exit rule the lambdas belong to, in the thresholds file's form}
//   then one object per example:
//     kind "losses":  {["id"], "losses": [one per lambda, in [0, 1]], ...}
//     kind "outputs": {["id"], "full": text, "early": [one text per lambda], ["reference": text], ...}
//     either kind, optional and then on every line: "layers", "seconds", "flops" (one per lambda;
//     the lambda-1 column is the full model's)
//
// From "outputs" our own metrics compute the losses, on words (words.h), for
// any consistency and metric; "losses" serve only the consistency, metric and
// unit their header declares.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "calibrate/report.h"

namespace calm {

struct ImportedLosses {
  enum class Kind { Losses, Outputs };
  static constexpr std::size_t kMaxLineBytes = std::size_t(16) << 20;
  static constexpr std::size_t kMaxExamples = 10000000;

  std::string path;
  Kind kind = Kind::Losses;
  CalibrationReport about;  // model, data and settings (grid = the lambdas), as the header says
  std::string model_dir;    // the header's model.dir, or ""
  // Kind::Losses: what the losses are.
  Consistency consistency = Consistency::Textual;
  Metric metric = Metric::RougeL;
  TextUnit unit = TextUnit::Words;
  std::vector<std::vector<double>> losses;  // (examples, grid)    Kind::Losses
  std::vector<std::string> full;            // (examples)          Kind::Outputs
  std::vector<std::vector<std::string>> early;  // (examples, grid) Kind::Outputs
  std::vector<std::optional<std::string>> references;  // (examples) Kind::Outputs
  // Optional; empty when the file has none, else (examples, grid).
  std::vector<std::vector<double>> layers, seconds, flops;
  std::vector<std::size_t> lines;  // (examples) 1-based line of each example in the file

  std::size_t examples() const { return lines.size(); }
  // The losses `guarantee` asks for: the stored ones when they are what it
  // asks (else calm::Error saying what the file holds), or computed from the
  // outputs (risk consistency needs every reference: the error names the line).
  LossTable loss_table(const Guarantee& guarantee) const;
  // Each grid point's layers and speedups from the optional columns (0 layers
  // and speedups of 1 where the file has none).
  std::vector<GridPointStats> grid_stats() const;
};

// Reads and checks the whole file; throws calm::Error naming "path:line" (and
// the key, the lambda) of the first problem: bad JSON, a missing or unknown
// key, a value list of the wrong length, a loss outside [0, 1], a lambda grid
// that does not descend strictly from 1.
ImportedLosses read_losses_file(const std::string& path);

// The report for `guarantees` from imported losses (build_report's twin).
CalibrationReport build_report(const ImportedLosses& imported, const std::vector<Guarantee>& guarantees);

// The losses of a finished run for `guarantee`, in this format (kind "losses",
// with layers, seconds and flops), so that `calm calibrate --losses` on it
// certifies as the run did.
std::string losses_file_text(const CalibrationRun& run, const LossTable& table, const Guarantee& guarantee,
                             const std::string& model_dir, int num_layers);

}  // namespace calm
