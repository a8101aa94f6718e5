// libFuzzer target: a SentencePiece tokenizer.model (a serialized protobuf,
// parsed by the SentencePiece library behind calm::Tokenizer), then encoding
// and decoding. Every input must load or be refused with calm::Error; a loaded
// tokenizer must give only ids it defines, and decode any ids without failing.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_input.h"
#include "model/tokenizer.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Not ending in .json: Tokenizer::load reads it as a SentencePiece model.
  const std::string& path = calm::fuzz::write_input("tokenizer.model", data, size);
  try {
    calm::Tokenizer t;
    t.load(path);
    const std::string texts[] = {"Hello world  42\n", " caf\xC3\xA9 \xF0\x9F\x98\x80 \xE6\x9D\xB1", "<s></s><unk>",
                                 std::string(reinterpret_cast<const char*>(data), size < 512 ? size : 512)};
    for (const std::string& text : texts) {
      const std::vector<int> ids = t.encode(text);
      for (int id : ids)
        if (id < 0 || id >= t.size()) __builtin_trap();
      t.decode(ids);
    }
    std::vector<int> all;
    for (int id = -1; id <= t.size() && id < 2000; id++) {
      t.piece(id);
      all.push_back(id);
    }
    t.decode(all);
  } catch (const calm::Error&) {
  }
  return 0;
}
