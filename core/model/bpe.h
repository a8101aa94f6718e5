// Byte-pair encoding of one pre-tokenized word, as the BPE model of Hugging
// Face tokenizers applies it: start from the word's characters (or their bytes
// as <0xXX> tokens, or the unknown token), then repeatedly merge the adjacent
// pair with the lowest merge rank, leftmost first among equal ranks.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace calm {

struct BpeOptions {
  int unk_id = -1;             // -1: characters outside the vocabulary are dropped
  bool fuse_unk = false;       // consecutive unknown characters become one unknown token
  bool byte_fallback = false;  // unknown characters become their <0xXX> byte tokens
  bool ignore_merges = false;  // a word that is itself in the vocabulary is one token
};

class Bpe {
 public:
  Bpe() = default;
  // Throws calm::Error naming `source` when a merge names a token the
  // vocabulary lacks.
  Bpe(std::unordered_map<std::string, int> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
      BpeOptions options, const std::string& source);

  // Appends the ids of `word` (valid UTF-8) to `out`.
  void encode(std::string_view word, std::vector<int>& out) const;

  // -1 when `token` is not in the vocabulary.
  int id(std::string_view token) const;
  const std::unordered_map<std::string, int>& vocab() const { return vocab_; }

 private:
  struct Merge {
    int rank;
    int id;  // of the merged token
  };
  static uint64_t key(int left, int right) {
    return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  }

  std::unordered_map<std::string, int> vocab_;
  std::unordered_map<uint64_t, Merge> merges_;  // (left id, right id) -> merge
  std::array<int, 256> byte_ids_{};             // id of <0xXX>, -1 when absent
  BpeOptions options_;
};

}  // namespace calm
