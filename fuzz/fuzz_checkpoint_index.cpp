// libFuzzer target: the index of a sharded checkpoint
// (model.safetensors.index.json, read by calm::Checkpoint). Each input is
// written as the index of a per-process model directory that holds two small
// valid shards and one file that is not safetensors; make_corpus.py's seeds
// name them. Every input must load or be refused with calm::Error. A loaded
// checkpoint must only hold files of that directory, and every tensor it
// places must be in the file it names and read back in full.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "model/checkpoint.h"
#include "util/error.h"

namespace {

namespace fs = std::filesystem;

// A safetensors file: 8-byte little-endian header length, the JSON header
// padded with spaces to a multiple of 8, the data.
std::string safetensors(std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(static_cast<uint64_t>(header.size()) >> (8 * i));
  return bytes + header + data;
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  if (!out) std::abort();
}

std::string remove_at_exit;

// The model directory, made once per process (in /dev/shm when it exists).
const std::string& model_dir() {
  static const std::string dir = [] {
    const char* base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    const fs::path d = fs::path(base) / ("calm-checkpoint_index-" + std::to_string(getpid()));
    fs::create_directories(d);
    // Shard 1: encoder.w F32 (2, 2) and shared.b F32 (3); shard 2: decoder.w F16 (2).
    std::string f32;
    for (float v : {1.0f, -2.0f, 0.5f, 4.0f, 3.0f, 0.0f, -1.0f}) f32.append(reinterpret_cast<const char*>(&v), 4);
    write_file(d / "model-00001-of-00002.safetensors",
               safetensors(R"({"encoder.w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                           R"("shared.b":{"dtype":"F32","shape":[3],"data_offsets":[16,28]}})",
                           f32));
    write_file(d / "model-00002-of-00002.safetensors",
               safetensors(R"({"decoder.w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})",
                           std::string("\x00\x3c\x00\xc0", 4)));  // 1, -2
    write_file(d / "notes.txt", "not a safetensors file\n");
    remove_at_exit = d.string();
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(remove_at_exit, ec);
    });
    return d.string();
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& dir = model_dir();
  write_file(fs::path(dir) / "model.safetensors.index.json",
             std::string(reinterpret_cast<const char*>(data), size));
  try {
    const calm::Checkpoint checkpoint(dir);
    for (const auto& file : checkpoint.files()) {
      // Never a file outside the model directory.
      if (fs::path(file->path()).parent_path() != fs::path(dir)) __builtin_trap();
      for (const auto& [name, info] : file->tensors()) {
        if (!checkpoint.contains(name)) continue;  // in a shard, but the index does not list it
        const calm::SafeTensors& holder = checkpoint.file(name);
        if (!holder.contains(name)) __builtin_trap();
        try {
          if (holder.read_f32(name).size() != static_cast<size_t>(holder.tensors().at(name).numel()))
            __builtin_trap();
        } catch (const calm::Error&) {
        }
      }
    }
  } catch (const calm::Error&) {
  }
  return 0;
}
