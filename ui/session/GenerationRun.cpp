#include "session/GenerationRun.h"

#include <algorithm>
#include <exception>

#include <QStringList>

namespace calm::ui {
namespace {

// Runs shorter than this are repeated (up to kTimingRepeats) and the fastest kept,
// so that the measured speedup of a small model is not mostly timer noise.
constexpr double kShortRunSeconds = 0.05;
constexpr int kTimingRepeats = 5;

QStringList piecesOf(const calm::Model& model, const std::vector<int>& ids) {
  QStringList pieces;
  pieces.reserve(static_cast<int>(ids.size()));
  for (int id : ids) pieces << QString::fromStdString(model.tokenizer.piece(id));
  return pieces;
}

bool fits(const FullRun& run, const GenerationRequest& r) {
  return run.model == r.model.get() && run.prompt == r.prompt && run.maxNewTokens == r.options.max_new_tokens;
}

}  // namespace

double fastestSeconds(calm::Decoder& decoder, const std::string& prompt, const calm::DecodeOptions& options,
                      const std::atomic<bool>& cancel, std::atomic<int>* engineRuns) {
  const auto keepGoing = [&cancel](const calm::TokenTrace&) { return !cancel.load(); };
  double best = 0.0;
  for (int i = 0; i < kTimingRepeats && !cancel.load(); ++i) {
    if (engineRuns) engineRuns->fetch_add(1);
    const calm::DecodeResult r = decoder.generate(prompt, options, keepGoing);
    if (r.cancelled) break;
    best = i == 0 ? r.seconds : std::min(best, r.seconds);
    if (r.seconds * (i + 1) >= kShortRunSeconds) break;
  }
  return best;
}

calm::DecodeOptions decodeOptionsFor(const DecodeControls& c, double lambda) {
  calm::DecodeOptions o;
  o.rule() = c.rule();
  o.policy = calm::ExitPolicy::Calm;
  o.lambda = lambda;
  o.first_exit_layer = std::max(1, c.first_exit_layer);
  o.check_interval = std::max(1, c.check_interval);
  o.verify_draft = 0;
  o.trace = true;
  o.trace_top_k = 3;
  o.truncate_prompt = true;
  if (c.verify) {
    // Lossless self-speculative decoding: greedy, propagated K/V, and the core
    // records no per-layer trace for it.
    o.verify_draft = std::clamp(c.verify_draft, 1, 16);
    o.kv_mode = calm::KvMode::Propagate;
    o.trace = false;
  }
  return o;
}

void fillDistances(GenerationOutcome& o) {
  const std::vector<int> early = o.calm.text_tokens(), full = o.full.text_tokens();
  o.metricName = QString::fromUtf8(calm::metric_name(o.metric));
  o.textualDistance = calm::textual_loss(o.metric, early, full);
  if (o.reference && !o.referenceIds.empty())
    o.riskDifference = calm::risk_loss(o.metric, early, full, o.referenceIds);
  else
    o.riskDifference.reset();
}

GenerationResult runGeneration(const GenerationRequest& request, const std::atomic<bool>& cancel,
                               std::atomic<int>& engineRuns, const TokenSink& stream) {
  GenerationResult result;
  auto outcome = std::make_shared<GenerationOutcome>();
  std::shared_ptr<const FullRun> full = request.cachedFull && fits(*request.cachedFull, request)
                                            ? request.cachedFull
                                            : nullptr;
  const calm::Model& model = *request.model;
  const std::string& prompt = request.prompt;
  const calm::DecodeOptions& options = request.options;
  bool cancelled = false;
  try {
    calm::Decoder decoder(model);
    const auto keepGoing = [&cancel](const calm::TokenTrace&) { return !cancel.load(); };
    const auto streamed = [&](const calm::TokenTrace& token) {
      if (cancel.load()) return false;
      return stream(token, QString::fromStdString(model.tokenizer.piece(token.token)));
    };
    const auto timed = [&](const calm::DecodeOptions& o) {
      return fastestSeconds(decoder, prompt, o, cancel, &engineRuns);
    };

    engineRuns.fetch_add(1);
    outcome->calm = decoder.generate(prompt, options, streamed);
    cancelled = outcome->calm.cancelled || cancel.load();
    if (!cancelled && !full) {
      const calm::DecodeOptions fo = options.full_model();
      auto run = std::make_shared<FullRun>();
      run->model = &model;
      run->prompt = prompt;
      run->maxNewTokens = options.max_new_tokens;
      engineRuns.fetch_add(1);
      run->result = decoder.generate(prompt, fo, keepGoing);
      cancelled = run->result.cancelled || cancel.load();
      if (!cancelled) {
        run->seconds = run->result.seconds;
        if (run->seconds < kShortRunSeconds) run->seconds = std::min(run->seconds, timed(fo));
        full = run;
      }
    }
    if (!cancelled) {
      calm::DecodeOptions untraced = options;
      untraced.trace = false;
      // An untraced run (verify mode) is its own first timing, but it may be the
      // process's first decode (cold caches, first allocations: measured 8x slow),
      // so it is always timed again.
      outcome->calmSeconds = timed(untraced);
      if (!options.trace) outcome->calmSeconds = std::min(outcome->calmSeconds, outcome->calm.seconds);
      cancelled = cancel.load();
    }
    if (!cancelled) {
      outcome->full = full->result;
      outcome->fullSeconds = full->seconds;
      outcome->options = options;
      outcome->prompt = QString::fromStdString(prompt);
      outcome->reference = request.reference;
      if (request.reference) outcome->referenceIds = model.tokenizer.encode(request.reference->toStdString());
      outcome->calmPieces = piecesOf(model, outcome->calm.tokens);
      outcome->fullPieces = piecesOf(model, outcome->full.tokens);
      outcome->calmText = QString::fromStdString(outcome->calm.text);
      outcome->fullText = QString::fromStdString(outcome->full.text);
      outcome->metric = request.metric;
      fillDistances(*outcome);
    }
  } catch (const std::exception& e) {
    result.error = QString::fromUtf8(e.what());
  } catch (...) {
    result.error = QStringLiteral("unknown error while decoding");
  }
  result.outcome = outcome;
  result.full = full;
  result.cancelled = cancelled;
  return result;
}

}  // namespace calm::ui
