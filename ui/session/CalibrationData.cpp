#include "session/CalibrationData.h"

#include <cmath>

#include <QStringList>

#include "calibrate/bundled.h"

namespace calm::ui {

bool CalibrationData::matches(const QString& dir, const DecodeControls& controls) const {
  return mismatch(dir, controls).isEmpty();
}

QString CalibrationData::mismatch(const QString& dir, const DecodeControls& c) const {
  QStringList why;
  if (dir != modelDir) why << QStringLiteral("it was run on another model");
  for (const std::string& d : calm::settings_differences(run.settings, c))
    why << QStringLiteral("it used %1").arg(QString::fromStdString(d));
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
