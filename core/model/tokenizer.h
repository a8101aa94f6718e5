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

  // encode/decode/piece throw calm::Error when called before load().
  std::vector<int> encode(const std::string& text) const;
  // Ids outside [0, size()) are skipped: a Hugging Face T5 vocabulary is padded
  // past the SentencePiece model, and those ids carry no text.
  std::string decode(const std::vector<int>& ids) const;
  // The piece as a user should see it ("▁" shown as a space); an id outside
  // [0, size()) is shown as "<id N>".
  std::string piece(int id) const;
  int size() const;    // pieces in the SentencePiece model; 0 before load()
  int eos_id() const;  // -1 when the model has no such token (or before load())
  int bos_id() const;
  bool loaded() const { return processor_ != nullptr; }

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

}  // namespace calm
