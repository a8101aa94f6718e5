// Thin wrapper over SentencePiece: load errors become calm::Error naming the
// file, and ids the model does not know (Hugging Face T5 pads its vocabulary
// past the SentencePiece model) are handled instead of reaching SentencePiece.
#include "tokenizer.h"

#include <filesystem>
#include <sentencepiece_processor.h>

#include "error.h"

namespace calm {

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

void Tokenizer::load(const std::string& path) {
  // SentencePiece's own message for a missing file is vague; check first.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(path + ": tokenizer file missing or not a regular file");
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = processor->Load(path);
  if (!status.ok())
    throw Error(path + ": not a SentencePiece model (" + status.ToString() + ")");
  processor_ = std::move(processor);
}

namespace {
void require_loaded(const std::unique_ptr<sentencepiece::SentencePieceProcessor>& p) {
  if (!p) throw Error("tokenizer: used before load()");
}
}  // namespace

std::vector<int> Tokenizer::encode(const std::string& text) const {
  require_loaded(processor_);
  return processor_->EncodeAsIds(text);
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  require_loaded(processor_);
  // Ids past the SentencePiece model (vocabulary padding) carry no text.
  std::vector<int> known;
  known.reserve(ids.size());
  for (int id : ids)
    if (id >= 0 && id < size()) known.push_back(id);
  return processor_->DecodeIds(known);
}

std::string Tokenizer::piece(int id) const {
  require_loaded(processor_);
  if (id < 0 || id >= size()) return "<id " + std::to_string(id) + ">";
  // SentencePiece marks a word start with U+2581 (bytes E2 96 81); show a space.
  static const std::string kSpaceMark = "\xE2\x96\x81";
  std::string p = processor_->IdToPiece(id);
  for (size_t at = p.find(kSpaceMark); at != std::string::npos; at = p.find(kSpaceMark, at + 1))
    p.replace(at, kSpaceMark.size(), " ");
  return p;
}

int Tokenizer::size() const { return processor_ ? processor_->GetPieceSize() : 0; }
int Tokenizer::eos_id() const { return processor_ ? processor_->eos_id() : -1; }
int Tokenizer::bos_id() const { return processor_ ? processor_->bos_id() : -1; }

}  // namespace calm
