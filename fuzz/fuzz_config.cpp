// libFuzzer target: config.json parsing (load_config). Every input must parse
// into a consistent ModelConfig or be refused with calm::Error.
#include <cstdint>

#include "fuzz_input.h"
#include "model/config.h"
#include "model/config_checks.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = calm::fuzz::write_input("config", data, size);
  try {
    const calm::ModelConfig c = calm::load_config(path);
    // What the loader promises to the rest of the engine.
    if (c.vocab_size <= 0 || c.d_model <= 0 || c.num_heads <= 0 || c.num_kv_heads <= 0 || c.head_dim <= 0 ||
        c.d_ff <= 0 || c.decoder_layers <= 0 || c.max_positions <= 0)
      __builtin_trap();
    if (c.num_heads % c.num_kv_heads != 0) __builtin_trap();
    if (c.eos_id < 0 || c.eos_id >= c.vocab_size) __builtin_trap();
    // Every size and product the engine computes in int is within the bounds
    // (recomputed here in 64 bits).
    using B = calm::ConfigBounds;
    const int64_t q_dim = int64_t(c.num_heads) * c.head_dim, kv_dim = int64_t(c.num_kv_heads) * c.head_dim;
    if (q_dim > B::kMaxAttentionWidth || kv_dim > B::kMaxAttentionWidth) __builtin_trap();
    for (int64_t rows : {int64_t(c.vocab_size), int64_t(c.d_ff), q_dim})
      if (rows * c.d_model > B::kMaxMatrixElements) __builtin_trap();
    if (c.decoder_layers > B::kMaxLayers || c.encoder_layers > B::kMaxLayers || c.max_positions > B::kMaxPositions)
      __builtin_trap();
  } catch (const calm::Error&) {
  }
  return 0;
}
