#include "model/checkpoint.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "util/error.h"
#include "util/json_limits.h"

namespace calm {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// An index lists a few thousand tensors: tens of kilobytes.
constexpr uintmax_t kMaxIndexBytes = 64ull << 20;

json read_index(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) throw Error(path + ": cannot read its size");
  if (size > kMaxIndexBytes) throw Error(path + ": larger than 64 MiB; not a safetensors index");
  std::ifstream in(path, std::ios::binary);
  std::string text(static_cast<size_t>(size), '\0');
  if (!in.read(text.data(), std::streamsize(size))) throw Error(path + ": read failed");
  if (json_extent(text).depth > kMaxJsonDepth) throw Error(path + ": JSON nested too deeply; not a safetensors index");
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(path + ": not valid JSON (" + excerpt(e.what(), 300) + ")");
  }
}

}  // namespace

Checkpoint::Checkpoint(const std::string& dir, const OpeningCallback& opening) {
  const fs::path root(dir);
  const std::string single = (root / "model.safetensors").string();
  const std::string index = (root / "model.safetensors.index.json").string();
  std::error_code ec;
  if (fs::is_regular_file(single, ec)) {
    source_ = single;
    if (opening) opening(single, 0, 1);
    files_.push_back(std::make_unique<SafeTensors>(single));
    for (const auto& [name, info] : files_.back()->tensors()) file_of_[name] = files_.back().get();
    return;
  }
  if (!fs::is_regular_file(index, ec)) {
    for (const char* torch : {"pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt"})
      if (fs::exists(root / torch, ec))
        throw Error((root / torch).string() +
                    ": PyTorch checkpoints are not read (they are pickles and can run code); convert it to "
                    "safetensors first, e.g. in Python: model.save_pretrained(dir, safe_serialization=True)");
    throw Error(single + ": missing from the model directory (nor is there a model.safetensors.index.json)");
  }
  source_ = index;
  const json j = read_index(index);
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw Error(index + ": no 'weight_map' object naming each tensor's file");
  std::set<std::string> shards;  // how many files there are, for `opening`
  for (const auto& [tensor, file] : j["weight_map"].items())
    if (file.is_string()) shards.insert(file.get<std::string>());
  std::map<std::string, const SafeTensors*> by_file;
  for (const auto& [tensor, file] : j["weight_map"].items()) {
    if (!file.is_string()) throw Error(index + ": weight_map['" + excerpt(tensor) + "'] is not a file name");
    const std::string name = file.get<std::string>();
    // A file of this directory, never a path elsewhere.
    if (name.empty() || name.find('/') != std::string::npos || name.find('\\') != std::string::npos || name == "." ||
        name == "..")
      throw Error(index + ": weight_map['" + excerpt(tensor) + "'] names '" + excerpt(name) +
                  "', not a file of the model directory");
    auto it = by_file.find(name);
    if (it == by_file.end()) {
      const std::string path = (root / name).string();
      if (!fs::is_regular_file(path, ec)) throw Error(path + ": shard missing (listed in " + index + ")");
      if (opening) opening(path, static_cast<int>(files_.size()), static_cast<int>(shards.size()));
      files_.push_back(std::make_unique<SafeTensors>(path));
      it = by_file.emplace(name, files_.back().get()).first;
    }
    if (!it->second->contains(tensor))
      throw Error(it->second->path() + ": tensor '" + excerpt(tensor) + "' missing (" + index + " places it here)");
    file_of_[tensor] = it->second;
  }
}

const SafeTensors& Checkpoint::file(const std::string& name) const {
  auto it = file_of_.find(name);
  if (it == file_of_.end()) throw Error(source_ + ": tensor '" + excerpt(name) + "' missing");
  return *it->second;
}

}  // namespace calm
