#include "session/CalibrationData.h"

#include <cmath>

#include <QStringList>

namespace calm::ui {

bool CalibrationData::matches(const QString& dir, const DecodeControls& controls) const {
  return mismatch(dir, controls).isEmpty();
}

QString CalibrationData::mismatch(const QString& dir, const DecodeControls& c) const {
  const calm::RunSettings& s = run.settings;
  QStringList why;
  if (dir != modelDir) why << QStringLiteral("it was run on another model");
  if (c.measure != s.measure)
    why << QStringLiteral("it used the %1 measure").arg(QString::fromUtf8(calm::measure_name(s.measure)));
  if (c.tau != s.tau) why << QStringLiteral("it used tau = %1").arg(s.tau, 0, 'g', 3);
  if (c.max_new_tokens != s.max_new_tokens) why << QStringLiteral("it used max new tokens = %1").arg(s.max_new_tokens);
  if (c.kv_mode != s.kv_mode)
    why << QStringLiteral("it used the %1 K/V mode").arg(QString::fromUtf8(calm::kv_mode_name(s.kv_mode)));
  if (c.first_exit_layer != s.first_exit_layer || c.check_interval != s.check_interval)
    why << QStringLiteral("it checked from layer %1 every %2").arg(s.first_exit_layer).arg(s.check_interval);
  // The gate only acts on the softmax measures.
  if (calm::measure_needs_logits(s.measure) &&
      (c.gate != s.gate ||
       (s.gate != calm::Gate::None && c.gate_threshold != s.gate_threshold)))
    why << QStringLiteral("it used the %1 gate%2")
               .arg(QString::fromUtf8(calm::gate_name(s.gate)),
                    s.gate == calm::Gate::None ? QString() : QStringLiteral(" at %1").arg(s.gate_threshold, 0, 'g', 3));
  return why.join(QStringLiteral("; "));
}

std::shared_ptr<const calm::LossTable> CalibrationData::table(calm::Consistency consistency,
                                                              calm::Metric metric) const {
  const auto key = std::make_pair(static_cast<int>(consistency), static_cast<int>(metric));
  auto found = tables_.find(key);
  if (found != tables_.end()) return found->second;
  auto computed = std::make_shared<const calm::LossTable>(run.loss_table(model->tokenizer, consistency, metric));
  tables_[key] = computed;
  return computed;
}

double CalibrationData::gridStep() const {
  const auto& g = run.settings.grid;
  return g.size() >= 2 ? g[0] - g[1] : 0.05;
}

bool CalibrationData::certifies(const DecodeControls& c) const {
  // epsilon plays no part in conformal risk control.
  const bool sameEpsilon = !calm::is_learn_then_test(c.method) || c.epsilon == askedFor.epsilon;
  return c.delta == askedFor.delta && sameEpsilon && c.consistency == askedFor.consistency &&
         c.metric == askedFor.metric && c.method == askedFor.method;
}

}  // namespace calm::ui
