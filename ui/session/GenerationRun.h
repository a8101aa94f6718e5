// One press of Generate, as plain work for a worker thread: the traced CALM
// run (streamed token by token), the full model's run (reused when the model,
// prompt and length are those of the last one), and the untraced runs that
// time both for the measured speedup. No Qt objects: StudioSession runs it
// and delivers the result.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <QString>

#include "session/DecodeControls.h"
#include "session/GenerationOutcome.h"
#include "model/model.h"

namespace calm::ui {

// The full model's answer does not depend on lambda, the measure, tau or the
// K/V mode, so moving those controls reuses it.
struct FullRun {
  const calm::Model* model = nullptr;
  std::string prompt;
  int maxNewTokens = 0;
  calm::DecodeResult result;
  double seconds = 0.0;
};

struct GenerationRequest {
  std::shared_ptr<const calm::Model> model;
  std::string prompt;
  std::optional<QString> reference;
  calm::DecodeOptions options;                 // the CALM run's
  calm::Metric metric = calm::Metric::RougeL;  // for the distances shown
  std::shared_ptr<const FullRun> cachedFull;   // used when it fits the request
};

struct GenerationResult {
  std::shared_ptr<const GenerationOutcome> outcome;  // complete unless cancelled or failed
  std::shared_ptr<const FullRun> full;               // the full run to keep for next time
  QString error;
  bool cancelled = false;
};

// Called on the worker thread for each CALM token as it is decided, with its
// display piece; returning false stops the run.
using TokenSink = std::function<bool(const calm::TokenTrace& token, const QString& piece)>;

// Never throws: a failure is in `error`. `engineRuns` counts Decoder::generate calls.
GenerationResult runGeneration(const GenerationRequest& request, const std::atomic<bool>& cancel,
                               std::atomic<int>& engineRuns, const TokenSink& stream);

// Seconds of an untraced decode of `options` for the clock: the fastest of up
// to five runs when they are short (under 50 ms), so that a small model's
// speedup is not mostly timer noise. 0 when cancelled first.
double fastestSeconds(calm::Decoder& decoder, const std::string& prompt, const calm::DecodeOptions& options,
                      const std::atomic<bool>& cancel, std::atomic<int>* engineRuns = nullptr);

// What a CALM run of the app gets for these controls at `lambda`: traced (the
// top 3 tokens per layer), prompts cut to fit; in verify mode greedy drafts of
// verify_draft (1..16) tokens with propagated K/V, and no per-layer trace.
calm::DecodeOptions decodeOptionsFor(const DecodeControls& controls, double lambda);

// The textual and risk distances of an outcome under its metric.
void fillDistances(GenerationOutcome& outcome);

}  // namespace calm::ui
