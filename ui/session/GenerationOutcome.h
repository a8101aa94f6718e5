// One finished generation as the views show it: the CALM run (with its per-layer
// trace), the full model's run on the same prompt, measured times and the
// distances between the two. Immutable once the session publishes it.
#pragma once

#include <optional>
#include <vector>
#include <QString>
#include <QStringList>

#include "calibrate/metrics.h"
#include "decode/decoder.h"

namespace calm::ui {

struct GenerationOutcome {
  QString prompt;
  std::optional<QString> reference;  // from the example set, when the prompt came from one
  std::vector<int> referenceIds;     // the reference in the model's tokens (empty without one)
  calm::DecodeOptions options;       // the CALM run's options (trace on, except in verify mode)
  calm::DecodeResult calm;           // traced CALM run: tokens, exits, per-layer confidences and top-k;
                                     // in verify mode the untraced verify run (verified, rejected drafts)
  calm::DecodeResult full;           // the full model (lambda = 1)
  QStringList calmPieces;            // one display piece per CALM token (tokenizer pieces)
  QStringList fullPieces;
  QString calmText, fullText;
  double calmSeconds = 0.0;          // wall time of an untraced CALM run
  double fullSeconds = 0.0;          // wall time of an untraced full run
  double textualDistance = 0.0;      // 1 - metric(CALM tokens, full tokens)
  std::optional<double> riskDifference;  // risk loss against the reference
  calm::Metric metric = calm::Metric::RougeL;  // the similarity behind both distances
  QString metricName;

  int numLayers() const { return calm.num_layers; }
  int tokenCount() const { return static_cast<int>(calm.tokens.size()); }
  double measuredSpeedup() const { return calmSeconds > 0.0 ? fullSeconds / calmSeconds : 0.0; }
  double flopsSpeedup() const { return calm.flops > 0.0 ? calm.full_flops / calm.flops : 0.0; }
  // Verify mode: lossless self-speculative decoding, no per-layer trace.
  bool isVerify() const { return options.verify_draft > 0; }
  bool traced() const { return options.trace; }
  // Verify mode: accepted / drafted (1 when nothing was drafted).
  double acceptanceRate() const { return calm.drafted > 0 ? double(calm.accepted) / calm.drafted : 1.0; }
  // Verify mode: tokens emitted per batched verification pass (0 when no pass was needed).
  double tokensPerPass() const { return calm.verify_passes > 0 ? double(tokenCount()) / calm.verify_passes : 0.0; }
};

}  // namespace calm::ui
