#include "session/MeasureComparison.h"

#include "session/GenerationRun.h"
#include "session/ThresholdsImport.h"

namespace calm::ui {

std::vector<MeasureRun> compareMeasures(const calm::Model& model, const std::string& prompt,
                                        const DecodeControls& controls,
                                        const std::vector<calm::BundledThresholds>& bundled,
                                        const std::atomic<bool>& cancel) {
  std::vector<MeasureRun> runs;
  calm::Decoder decoder(model);
  const auto keepGoing = [&cancel](const calm::TokenTrace&) { return !cancel.load(); };
  for (calm::Measure m : {calm::Measure::Softmax, calm::Measure::SoftmaxMax, calm::Measure::State,
                          calm::Measure::Classifier}) {
    if (m == calm::Measure::Classifier && !model.config.has_classifier()) continue;
    DecodeControls c = controls;
    c.measure = m;
    MeasureRun run;
    run.measure = m;
    run.lambda = c.lambda;
    run.lambdaSource = QStringLiteral("hand-set");
    if (const calm::BundledThresholds* b = calm::find_thresholds(bundled, c, c.guarantee())) {
      run.lambda = b->thresholds.lambda;
      run.lambdaSource = QStringLiteral("certified for %1")
                             .arg(guaranteeText(b->thresholds.delta, b->thresholds.epsilon, b->thresholds.method));
    }
    c.verify = false;  // CALM itself: verify mode would give every measure the full model's text
    calm::DecodeOptions o = decodeOptionsFor(c, run.lambda);
    run.result = decoder.generate(prompt, o, keepGoing);
    if (run.result.cancelled || cancel.load()) return {};
    o.trace = false;
    run.seconds = fastestSeconds(decoder, prompt, o, cancel);
    if (cancel.load()) return {};
    for (int id : run.result.tokens) run.pieces << QString::fromStdString(model.tokenizer.piece(id));
    runs.push_back(std::move(run));
  }
  // The local oracle needs the full depth to know where it could have exited,
  // so its clock is that of replaying its exits as a static schedule.
  MeasureRun oracle;
  oracle.oracle = true;
  oracle.measure = controls.measure;
  oracle.lambdaSource = QStringLiteral("the last layer's token");
  calm::DecodeOptions o = decodeOptionsFor(controls, 1.0);
  o.verify_draft = 0;
  o.trace = true;
  o.policy = calm::ExitPolicy::Oracle;
  oracle.result = decoder.generate(prompt, o, keepGoing);
  if (oracle.result.cancelled || cancel.load()) return {};
  o.trace = false;
  o.policy = calm::ExitPolicy::Static;
  for (const calm::TokenTrace& t : oracle.result.trace) o.exit_schedule.push_back(t.exit_layer);
  oracle.seconds = fastestSeconds(decoder, prompt, o, cancel);
  if (cancel.load()) return {};
  for (int id : oracle.result.tokens) oracle.pieces << QString::fromStdString(model.tokenizer.piece(id));
  runs.push_back(std::move(oracle));
  // The full model's clock, in the same run, for each row's measured speedup.
  const double fullSeconds = fastestSeconds(decoder, prompt, decodeOptionsFor(controls, 1.0).full_model(), cancel);
  if (cancel.load()) return {};
  for (MeasureRun& r : runs) r.fullSeconds = fullSeconds;
  return runs;
}

}  // namespace calm::ui
