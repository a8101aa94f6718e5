#include "decode/finite_logits.h"

#include "util/error.h"

namespace calm {

void require_finite_logits(const Vector& logits, int layer, const std::string& model_dir) {
  if (logits.allFinite()) return;
  throw Error(model_dir + ": decoder layer " + std::to_string(layer) +
              " produced logits that are not finite (NaN or infinity): the model's arithmetic overflowed "
              "float32 (weights too large?), so no token can be chosen; the run is stopped rather than "
              "giving a meaningless output");
}

}  // namespace calm
