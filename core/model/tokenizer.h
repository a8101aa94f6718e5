// SentencePiece tokenizer of a model directory (tokenizer.model).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace sentencepiece { class SentencePieceProcessor; }

namespace calm {

class Tokenizer {
 public:
  Tokenizer();
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Throws calm::Error naming `path` when it is missing or not a SentencePiece model.
  void load(const std::string& path);

  std::vector<int> encode(const std::string& text) const;
  std::string decode(const std::vector<int>& ids) const;
  // The piece as a user should see it ("▁" shown as a leading space).
  std::string piece(int id) const;
  int size() const;
  int eos_id() const;
  int bos_id() const;
  bool loaded() const { return processor_ != nullptr; }

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

}  // namespace calm
