// Shared by the fuzz targets: the readers under test take a path, so each
// input is written to one temporary file per process (in /dev/shm when it
// exists, so the fuzzer does not wear the disk).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace calm::fuzz {

inline const std::string& input_path(const char* target) {
  static const std::string path = [target] {
    const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    std::string p = std::string(dir) + "/calm-" + target + "-" + std::to_string(getpid());
    static std::string to_remove;
    to_remove = p;
    std::atexit([] { std::remove(to_remove.c_str()); });
    return p;
  }();
  return path;
}

// Writes the input to the per-process file and returns its path.
inline const std::string& write_input(const char* target, const uint8_t* data, size_t size) {
  const std::string& path = input_path(target);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  if (std::fclose(f) != 0) std::abort();
  return path;
}

}  // namespace calm::fuzz
