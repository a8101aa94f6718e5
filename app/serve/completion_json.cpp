#include "serve/completion_json.h"

#include "calibrate/method.h"
#include "io/utf8.h"

namespace calm::serve {

using nlohmann::ordered_json;

ordered_json thresholds_json(const std::optional<ServedThresholds>& t) {
  if (!t) return nullptr;
  const Thresholds& f = t->file;
  ordered_json j = {{"hash", t->hash},
                    {"model_hash", f.model_hash},
                    {"lambda", f.lambda},
                    {"delta", f.delta}};
  if (f.method != CalibrationMethod::Crc) j["epsilon"] = f.epsilon;
  j["consistency"] = consistency_name(f.consistency);
  j["metric"] = metric_name(f.metric);
  j["method"] = calibration_method_name(f.method);
  j["certification"] = f.exploratory ? "exploratory" : "certified";
  j["guarantee"] = guarantee_sentence(f);
  j["on_calibration_set"] = {{"mean_loss", f.calibration_mean_loss},
                             {"average_layers", f.calibration_layers},
                             {"measured_speedup", f.calibration_speedup}};
  return j;
}

bool guarantee_applies(const std::optional<ServedThresholds>& t, const CompletionRequest& q) {
  if (q.mode != ServeMode::Calm) return true;
  return t && !t->file.exploratory && decodes_as_calibrated(q);
}

ordered_json calm_json(const CompletionRequest& q, const DecodeResult& r, const std::optional<ServedThresholds>& t) {
  ordered_json j = {{"mode", serve_mode_name(q.mode)},
                    {"measure", measure_name(q.options.measure)},
                    {"lambda", q.options.lambda},
                    {"tau", q.options.tau},
                    {"exit_layers", r.exit_layers},
                    {"num_layers", r.num_layers},
                    {"average_layers", r.average_layers()},
                    // What the exits saved in arithmetic; the wall-clock
                    // speedup needs a full run of the same prompt
                    // (thresholds.on_calibration_set has the calibration's).
                    {"flops_speedup", r.flops > 0 ? r.full_flops / r.flops : 1.0}};
  if (q.mode == ServeMode::Verify)
    j["verify"] = {{"passes", r.verify_passes}, {"drafted", r.drafted}, {"accepted", r.accepted}};
  j["guarantee_applies"] = guarantee_applies(t, q);
  j["thresholds"] = thresholds_json(t);
  return j;
}

std::string error_body(const std::string& message, const std::string& type) {
  const ordered_json j = {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}}}};
  return dump_json(j);
}

}  // namespace calm::serve
