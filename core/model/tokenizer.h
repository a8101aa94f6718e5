// The tokenizer of a model directory: a SentencePiece model (tokenizer.model)
// or a Hugging Face tokenizer.json. When a directory has both, tokenizer.json
// is used, as the Hugging Face libraries do (their "fast" tokenizer).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace sentencepiece { class SentencePieceProcessor; }

namespace calm {

class JsonTokenizer;

class Tokenizer {
 public:
  Tokenizer();
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Loads the tokenizer of a model directory and returns the file it used:
  // tokenizer.json when present, else tokenizer.model or spiece.model (T5's
  // name for it). A tokenizer.json whose model is not BPE (T5's is Unigram)
  // gives way to a SentencePiece file beside it. Throws calm::Error naming the
  // directory when it has no tokenizer, or the file at fault.
  std::string load_directory(const std::string& dir);

  // A file ending in .json is read as tokenizer.json, anything else as a
  // SentencePiece model. Throws calm::Error naming `path` when it is missing
  // or not a tokenizer of that kind (the key at fault for tokenizer.json).
  void load(const std::string& path);

  // encode/decode/piece throw calm::Error when called before load().
  // encode adds no special tokens (the decoder adds the model's own).
  std::vector<int> encode(const std::string& text) const;
  // Ids outside [0, size()) are skipped: a Hugging Face vocabulary is often
  // padded past the tokenizer, and those ids carry no text. Special tokens
  // (end of sequence, ...) give no text either.
  std::string decode(const std::vector<int>& ids) const;
  // The piece as a user should see it ("▁" or "Ġ" shown as a space); an id
  // outside [0, size()) is shown as "<id N>".
  std::string piece(int id) const;
  int size() const;    // pieces the tokenizer defines; 0 before load()
  // -1 when the model has no such token (or before load()); tokenizer.json
  // does not say which tokens these are (config.json does), so -1 there.
  int eos_id() const;
  int bos_id() const;
  bool loaded() const { return processor_ != nullptr || json_ != nullptr; }
  // "SentencePiece", "byte-level BPE (tokenizer.json)", ...;
  // empty before load().
  std::string kind() const;

 private:
  void require_loaded() const;

  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::unique_ptr<JsonTokenizer> json_;
};

}  // namespace calm
