// Content hashes that identify a model file or a data set in thresholds files
// and calibration caches: 64-bit FNV-1a, hex. Identity, not security.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace calm {

uint64_t fnv1a64(std::string_view bytes, uint64_t seed = 14695981039346656037ull);
std::string hash_hex(uint64_t hash);
// Hash of a whole file's bytes; throws calm::Error naming the file when unreadable.
std::string file_hash(const std::string& path);

}  // namespace calm
