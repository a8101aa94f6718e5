#include "session/CalibrationData.h"

#include <cmath>

#include <QStringList>

#include "calibrate/bundled.h"
#include "session/CalibrationExport.h"
#include "util/error.h"
#include "util/hash.h"

namespace calm::ui {

bool CalibrationData::matches(const QString& dir, const DecodeControls& controls) const {
  return mismatch(dir, controls).isEmpty();
}

QString CalibrationData::mismatch(const QString& dir, const DecodeControls& c) const {
  QStringList why;
  if (dir != modelDir) why << QStringLiteral("it was run on another model");
  for (const std::string& d : calm::settings_differences(settings(), c))
    why << QStringLiteral("it used %1").arg(QString::fromStdString(d));
  return why.join(QStringLiteral("; "));
}

std::shared_ptr<const calm::LossTable> CalibrationData::table(calm::Consistency consistency,
                                                              calm::Metric metric) const {
  const auto key = std::make_pair(static_cast<int>(consistency), static_cast<int>(metric));
  auto found = tables_.find(key);
  if (found != tables_.end()) return found->second;
  DecodeControls c = askedFor;
  c.consistency = consistency;
  c.metric = metric;
  auto computed = std::make_shared<const calm::LossTable>(
      imported ? imported->loss_table(guarantee(c)) : run.loss_table(model->tokenizer, consistency, metric));
  tables_[key] = computed;
  return computed;
}

double CalibrationData::gridStep() const {
  const auto& g = settings().grid;
  return g.size() >= 2 ? g[0] - g[1] : 0.05;
}

bool CalibrationData::certifies(const DecodeControls& c) const {
  // epsilon plays no part in conformal risk control.
  const bool sameEpsilon = !calm::is_learn_then_test(c.method) || c.epsilon == askedFor.epsilon;
  return c.delta == askedFor.delta && sameEpsilon && c.consistency == askedFor.consistency &&
         c.metric == askedFor.metric && c.method == askedFor.method;
}

const calm::RunSettings& CalibrationData::settings() const {
  return imported ? imported->about.settings : run.settings;
}

std::size_t CalibrationData::examples() const { return imported ? imported->examples() : run.examples.size(); }

calm::Guarantee CalibrationData::guarantee(const DecodeControls& c) const {
  calm::Guarantee g = CalibrationExport::guarantee(c);
  if (imported && imported->kind == calm::ImportedLosses::Kind::Losses) g.unit = imported->unit;
  return g;
}

std::shared_ptr<CalibrationData> CalibrationData::fromLossesFile(const QString& path,
                                                                 std::shared_ptr<const calm::Model> model,
                                                                 const QString& modelDir, DecodeControls controls) {
  if (!model) throw calm::Error("no model is loaded: open the model the losses were computed with first");
  auto file = std::make_shared<calm::ImportedLosses>(calm::read_losses_file(path.toStdString()));
  const std::string hash = calm::file_hash(modelDir.toStdString() + "/model.safetensors");
  if (!file->about.model_hash.empty() && file->about.model_hash != hash)
    throw calm::Error(path.toStdString() + ": the losses were computed with model hash " + file->about.model_hash +
                      ", but the loaded model has hash " + hash + ": they certify nothing about it");
  file->about.model_hash = hash;
  file->about.model_name = model->name;
  file->about.num_layers = model->config.decoder_layers;
  file->model_dir = modelDir.toStdString();
  if (file->kind == calm::ImportedLosses::Kind::Losses) {  // the file's own losses answer
    controls.consistency = file->consistency;
    controls.metric = file->metric;
  }
  auto data = std::make_shared<CalibrationData>();
  data->imported = std::move(file);
  data->model = std::move(model);
  data->modelDir = modelDir;
  data->dataset = path;
  data->askedFor = controls;
  return data;
}

}  // namespace calm::ui
