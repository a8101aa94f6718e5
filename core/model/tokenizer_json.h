// A Hugging Face tokenizer.json: the BPE model with the normalizers,
// pre-tokenizers and decoders that byte-level (GPT-2, Llama 3, Qwen2, SmolLM)
// and SentencePiece-style (Llama 2, TinyLlama, Mistral: Metaspace, byte
// fallback) checkpoints use, and their added and special tokens. Anything else
// in the file is refused with a message naming the key and the value, rather
// than tokenized differently from the library that wrote it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "util/error.h"

namespace calm {

// The file holds a model other than BPE (T5's tokenizer.json is Unigram): a
// SentencePiece file beside it can serve instead.
class UnsupportedTokenizerModel : public Error {
 public:
  using Error::Error;
};

class JsonTokenizer {
 public:
  // Throws calm::Error naming `path` and the key at fault.
  explicit JsonTokenizer(const std::string& path);
  ~JsonTokenizer();
  JsonTokenizer(JsonTokenizer&&) noexcept;
  JsonTokenizer& operator=(JsonTokenizer&&) noexcept;

  // Ids of `text` without the post-processor's special tokens (the engine adds
  // its own beginning-of-sequence token). Invalid UTF-8 is replaced first.
  std::vector<int> encode(const std::string& text) const;
  // Text of `ids`, special tokens skipped; ids the file does not define are skipped.
  std::string decode(const std::vector<int>& ids) const;
  // One token as a user should see it (its text with spaces shown as spaces);
  // empty for an id the file does not define.
  std::string piece(int id) const;
  // The stored token string ("Ġthe", "▁the", "<0x0A>"); empty when undefined.
  const std::string& token(int id) const;
  bool is_special(int id) const;
  int size() const;  // one past the largest id of the vocabulary and added tokens
  // "byte-level BPE" or "SentencePiece-style BPE" (Metaspace or byte fallback).
  std::string kind() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace calm
