// Writing output files safely: every file the CLI and the app write (thresholds,
// reports, screenshots, test fixtures) goes through write_output_file, so no
// writer can destroy what a path happens to point at.
//
// An output must be a regular file or new. A symbolic link is refused (writing
// would replace the link, or through it a file the user did not name), as is a
// device node, FIFO, socket or directory (as root, `--out /dev/null` would
// otherwise replace the node with a regular file). The contents go to a new
// temporary file in the same directory, are fsynced and renamed over the path,
// and the directory is fsynced: a crash or a full disk leaves the old file (or
// none), never half a new one.
//
// A program also checks up front, before any long run, that its outputs are
// distinct from each other and from its inputs (check_distinct_files).
#pragma once

#include <string>
#include <vector>

namespace calm {

// A path with the option or role it came from ("--out", "--data", "the cache").
struct LabelledPath {
  std::string label;
  std::string path;
};

// Throws calm::Error unless `path` may be written as an output: it exists as a
// regular file, or does not exist and its directory does. The message names
// `label` (when given) and the path.
void check_output_path(const std::string& path, const std::string& label = "");

// check_output_path, then writes `contents` to a temporary file next to `path`,
// fsyncs it and renames it over `path`. An existing file keeps its permission
// bits. Throws calm::Error naming `label` and the path (a full disk included).
void write_output_file(const std::string& path, const std::string& contents, const std::string& label = "");

// Throws calm::Error when two outputs, or an output and an input, are the same
// file: the same inode for existing files (hard links and symbolic links to it
// included), the same absolute normalised path otherwise. Each output is also
// checked with check_output_path. The message names both labels and the path.
void check_distinct_files(const std::vector<LabelledPath>& outputs, const std::vector<LabelledPath>& inputs);

// The regular files directly inside a model directory (config, weights,
// shards, tokenizer), labelled "the model's NAME", as inputs for
// check_distinct_files.
std::vector<LabelledPath> model_input_files(const std::string& dir);

}  // namespace calm
