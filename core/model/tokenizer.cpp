// One interface over the two tokenizer files: SentencePiece (load errors
// become calm::Error naming the file; ids past the model, as Hugging Face T5
// pads its vocabulary, are handled instead of reaching SentencePiece) and
// tokenizer.json (tokenizer_json.h).
#include "tokenizer.h"

#include <filesystem>
#include <sentencepiece_processor.h>

#include "util/error.h"
#include "tokenizer_json.h"

namespace calm {

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::string Tokenizer::load_directory(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto present = [&](const char* name) { return fs::is_regular_file(fs::path(dir) / name, ec); };
  std::string sentencepiece;
  for (const char* name : {"tokenizer.model", "spiece.model"})
    if (sentencepiece.empty() && present(name)) sentencepiece = (fs::path(dir) / name).string();
  if (present("tokenizer.json")) {
    const std::string json = (fs::path(dir) / "tokenizer.json").string();
    try {
      load(json);
      return json;
    } catch (const UnsupportedTokenizerModel&) {
      if (sentencepiece.empty()) throw;
    }
  }
  if (sentencepiece.empty())
    throw Error((fs::path(dir) / "tokenizer.model").string() +
                ": missing from the model directory (and no tokenizer.json or spiece.model either)");
  load(sentencepiece);
  return sentencepiece;
}

void Tokenizer::load(const std::string& path) {
  // SentencePiece's own message for a missing file is vague; check first.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(path + ": tokenizer file missing or not a regular file");
  if (std::filesystem::path(path).extension() == ".json") {
    auto json = std::make_unique<JsonTokenizer>(path);
    processor_.reset();
    json_ = std::move(json);
    return;
  }
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = processor->Load(path);
  if (!status.ok())
    throw Error(path + ": not a SentencePiece model (" + status.ToString() + ")");
  json_.reset();
  processor_ = std::move(processor);
}

void Tokenizer::require_loaded() const {
  if (!loaded()) throw Error("tokenizer: used before load()");
}

std::vector<int> Tokenizer::encode(const std::string& text) const {
  require_loaded();
  if (json_) return json_->encode(text);
  return processor_->EncodeAsIds(text);
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  require_loaded();
  if (json_) return json_->decode(ids);
  // Ids past the SentencePiece model (vocabulary padding) carry no text.
  std::vector<int> known;
  known.reserve(ids.size());
  for (int id : ids)
    if (id >= 0 && id < size()) known.push_back(id);
  return processor_->DecodeIds(known);
}

std::string Tokenizer::piece(int id) const {
  require_loaded();
  if (id < 0 || id >= size()) return "<id " + std::to_string(id) + ">";
  if (json_) {
    if (json_->token(id).empty()) return "<id " + std::to_string(id) + ">";  // a gap in the file's ids
    return json_->piece(id);
  }
  // SentencePiece marks a word start with U+2581 (bytes E2 96 81); show a space.
  static const std::string kSpaceMark = "\xE2\x96\x81";
  std::string p = processor_->IdToPiece(id);
  for (size_t at = p.find(kSpaceMark); at != std::string::npos; at = p.find(kSpaceMark, at + 1))
    p.replace(at, kSpaceMark.size(), " ");
  return p;
}

int Tokenizer::size() const {
  if (json_) return json_->size();
  return processor_ ? processor_->GetPieceSize() : 0;
}
int Tokenizer::eos_id() const { return processor_ ? processor_->eos_id() : -1; }
int Tokenizer::bos_id() const { return processor_ ? processor_->bos_id() : -1; }

std::string Tokenizer::kind() const {
  if (json_) return json_->kind();
  return processor_ ? "SentencePiece" : "";
}

}  // namespace calm
