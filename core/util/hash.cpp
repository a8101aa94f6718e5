#include "util/hash.h"

#include <cstdio>
#include <fstream>
#include <vector>

#include "util/error.h"

namespace calm {

uint64_t fnv1a64(std::string_view bytes, uint64_t hash) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

std::string hash_hex(uint64_t hash) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

std::string file_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the file to hash it");
  std::vector<char> buffer(1 << 20);
  uint64_t hash = 14695981039346656037ull;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    hash = fnv1a64(std::string_view(buffer.data(), static_cast<size_t>(in.gcount())), hash);
  }
  if (in.bad()) throw Error(path + ": read error while hashing");
  return hash_hex(hash);
}

}  // namespace calm
