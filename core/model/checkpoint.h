// The tensors of a model directory: model.safetensors, or the shards that
// model.safetensors.index.json lists (Hugging Face's layout for checkpoints
// over a few GB). Every shard is validated as a single file is; a tensor is
// looked up in the shard the index names.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/safetensors.h"

namespace calm {

class Checkpoint {
 public:
  // Throws calm::Error naming the file at fault: no weights at all (a PyTorch
  // .bin gets a note on converting it), a malformed index, a missing shard.
  // `opening`, when given, is told before each file is mapped (which reads it
  // from disk: the slow part of a large load); it may throw to stop.
  using OpeningCallback = std::function<void(const std::string& path, int index, int count)>;
  explicit Checkpoint(const std::string& dir, const OpeningCallback& opening = {});

  bool contains(const std::string& name) const { return file_of_.count(name) != 0; }
  // The file holding `name`; throws calm::Error naming the index (or the single
  // file) when no file holds it.
  const SafeTensors& file(const std::string& name) const;
  const std::vector<std::unique_ptr<SafeTensors>>& files() const { return files_; }

 private:
  std::string source_;  // model.safetensors or the index: where a missing tensor is reported
  std::vector<std::unique_ptr<SafeTensors>> files_;
  std::map<std::string, const SafeTensors*> file_of_;
};

}  // namespace calm
