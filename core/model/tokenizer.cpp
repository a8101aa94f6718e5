// One interface over the two tokenizer files: SentencePiece (load errors
// become calm::Error naming the file; ids past the model, as Hugging Face T5
// pads its vocabulary, are handled instead of reaching SentencePiece) and
// tokenizer.json (tokenizer_json.h).
#include "tokenizer.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sentencepiece_processor.h>
#include <utility>

#include "util/error.h"
#include "tokenizer_json.h"

namespace calm {

namespace {

// A tokenizer.model is at most this large (Llama 2's is 0.5 MB, Gemma's 4 MB).
constexpr std::uintmax_t kMaxSentencePieceBytes = 64ull << 20;

// SentencePiece builds a trie of the pieces (darts-clone), which throws on an
// empty piece or one holding a NUL byte through a frame that cannot pass the
// exception on: the process aborts (found by fuzz_tokenizer_model). So the
// pieces are checked first, reading only what that needs of the protobuf
// (sentencepiece_model.proto: ModelProto field 1 is the repeated SentencePiece,
// whose field 1 is the piece). A file whose wire format does not parse is
// refused too; a real model always parses.
class PieceCheck {
 public:
  PieceCheck(const std::string& path, const std::string& bytes) : path_(path), bytes_(bytes) {}

  void run() {
    std::size_t at = 0, count = 0;
    while (at < bytes_.size()) {
      const auto [field, wire] = key(at);
      if (field == 1 && wire == 2) {
        const auto [begin, end] = span(at);
        check_piece(begin, end, count++);
      } else {
        skip(wire, at);
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(path_ + ": not a SentencePiece model (" + what + ")");
  }

  std::uint64_t varint(std::size_t& at) const {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at >= bytes_.size()) fail("truncated at byte " + std::to_string(at));
      const auto b = static_cast<unsigned char>(bytes_[at++]);
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("a number longer than 10 bytes at byte " + std::to_string(at));
  }

  std::pair<std::uint64_t, int> key(std::size_t& at) const {
    const std::uint64_t k = varint(at);
    return {k >> 3, static_cast<int>(k & 7)};
  }

  // A length-delimited value at `at`: its [begin, end), `at` moved past it.
  std::pair<std::size_t, std::size_t> span(std::size_t& at) const {
    const std::uint64_t n = varint(at);
    if (n > bytes_.size() - at) fail("a field of " + std::to_string(n) + " bytes runs past the end");
    const std::size_t begin = at;
    at += static_cast<std::size_t>(n);
    return {begin, at};
  }

  void skip(int wire, std::size_t& at) const {
    const auto need = [&](std::size_t n) {
      if (n > bytes_.size() - at) fail("truncated at byte " + std::to_string(at));
      at += n;
    };
    switch (wire) {
      case 0: varint(at); return;
      case 1: need(8); return;
      case 2: span(at); return;
      case 5: need(4); return;
      default: fail("wire type " + std::to_string(wire) + " at byte " + std::to_string(at));
    }
  }

  void check_piece(std::size_t at, std::size_t end, std::size_t index) const {
    bool has_piece = false;
    while (at < end) {
      const auto [field, wire] = key(at);
      if (at > end) fail("piece " + std::to_string(index) + " runs past its message");
      if (field == 1 && wire == 2) {
        const auto [begin, stop] = span(at);
        if (stop > end) fail("piece " + std::to_string(index) + " runs past its message");
        if (begin == stop) fail("piece " + std::to_string(index) + " is empty");
        if (bytes_.find('\0', begin) < stop) fail("piece " + std::to_string(index) + " holds a NUL byte");
        has_piece = true;
      } else {
        skip(wire, at);
        if (at > end) fail("piece " + std::to_string(index) + " runs past its message");
      }
    }
    if (!has_piece) fail("piece " + std::to_string(index) + " is empty");
  }

  const std::string& path_;
  const std::string& bytes_;
};

}  // namespace

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
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(path + ": cannot read its size");
  if (size > kMaxSentencePieceBytes) throw Error(path + ": larger than 64 MiB; not a SentencePiece model");
  std::string bytes(static_cast<std::size_t>(size), '\0');
  std::ifstream in(path, std::ios::binary);
  if (!in.read(bytes.data(), static_cast<std::streamsize>(size))) throw Error(path + ": read failed");
  PieceCheck(path, bytes).run();
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = processor->LoadFromSerializedProto(bytes);
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
