#include "CalibrationExport.h"

#include <exception>

#include <QDir>
#include <QFileInfo>

namespace calm::ui {

namespace {
std::string absolute(const QString& path) { return QDir::cleanPath(QFileInfo(path).absoluteFilePath()).toStdString(); }
}  // namespace

calm::Guarantee CalibrationExport::guarantee(const DecodeControls& c) {
  calm::Guarantee g;
  g.consistency = c.consistency;
  g.metric = c.metric;
  g.delta = c.delta;
  g.epsilon = c.epsilon;
  g.method = c.pvalueMethod;
  return g;
}

calm::Thresholds CalibrationExport::thresholds(const CalibrationData& d, const DecodeControls& c) {
  const calm::CalibrationReport report =
      calm::build_report(d.run, d.model->tokenizer, d.model->config.decoder_layers, {guarantee(c)});
  const calm::ReportChoice& choice = report.choices.front();
  const calm::RunSettings& s = d.run.settings;
  calm::Thresholds t;
  t.model_name = d.model->name;
  t.model_dir = absolute(d.modelDir);
  t.model_hash = d.run.model_hash;
  t.measure = s.measure;
  t.tau = c.tau;  // as set: the float in the settings would print as 0.30000001
  t.lambda = choice.result.lambda;
  t.delta = c.delta;
  t.epsilon = c.epsilon;
  t.consistency = c.consistency;
  t.metric = c.metric;
  t.pvalue_method = c.pvalueMethod;
  t.max_new_tokens = s.max_new_tokens;
  t.first_exit_layer = s.first_exit_layer;
  t.check_interval = s.check_interval;
  t.kv_mode = s.kv_mode;
  t.grid_step = d.gridStep();
  t.data_path = absolute(d.dataset);
  t.data_hash = d.run.data_hash;
  t.examples = d.run.examples.size();
  t.created = report.created;
  t.expected_loss = choice.result.points[choice.chosen_point].mean_loss;
  t.expected_layers = report.grid[choice.chosen_point].average_layers;
  t.expected_speedup = report.grid[choice.chosen_point].measured_speedup;
  t.expected_flops_speedup = report.grid[choice.chosen_point].flops_speedup;
  return t;
}

QString CalibrationExport::writeThresholds(const CalibrationData& data, const DecodeControls& controls,
                                           const QString& path) {
  try {
    calm::write_thresholds(thresholds(data, controls), path.toStdString());
  } catch (const std::exception& e) {
    return QString::fromUtf8(e.what());
  }
  return {};
}

QString CalibrationExport::writeReport(const CalibrationData& data, const DecodeControls& controls,
                                       const QString& jsonPath) {
  try {
    const calm::CalibrationReport report =
        calm::build_report(data.run, data.model->tokenizer, data.model->config.decoder_layers, {guarantee(controls)});
    const std::string json = jsonPath.toStdString();
    calm::write_report(report, json, calm::csv_path_for(json));
  } catch (const std::exception& e) {
    return QString::fromUtf8(e.what());
  }
  return {};
}

}  // namespace calm::ui
