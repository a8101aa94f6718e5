#include "session/CalibrationExport.h"

#include <exception>

#include <QDir>
#include <QFileInfo>

#include "io/output_file.h"

namespace calm::ui {

namespace {
std::string absolute(const QString& path) { return QDir::cleanPath(QFileInfo(path).absoluteFilePath()).toStdString(); }

// What a calibration read: the data set and the model's files, which no
// export may replace.
std::vector<calm::LabelledPath> inputs(const CalibrationData& d) {
  std::vector<calm::LabelledPath> files = calm::model_input_files(d.modelDir.toStdString());
  files.push_back({d.imported ? "the losses file" : "the calibration set", d.dataset.toStdString()});
  return files;
}
calm::CalibrationReport report(const CalibrationData& d, const DecodeControls& c) {
  if (d.imported) return calm::build_report(*d.imported, {d.guarantee(c)});
  return calm::build_report(d.run, d.model->tokenizer, d.model->config.decoder_layers, {d.guarantee(c)});
}
}  // namespace

calm::Guarantee CalibrationExport::guarantee(const DecodeControls& c) {
  calm::Guarantee g;
  g.consistency = c.consistency;
  g.metric = c.metric;
  g.delta = c.delta;
  g.epsilon = c.epsilon;
  g.method = c.method;
  return g;
}

calm::Thresholds CalibrationExport::thresholds(const CalibrationData& d, const DecodeControls& c) {
  calm::Thresholds t =
      calm::thresholds_from_report(report(d, c), absolute(d.modelDir),
                                   d.imported ? d.imported->about.data_path : absolute(d.dataset), d.gridStep());
  t.exploratory = !d.certifies(c);
  return t;
}

QString CalibrationExport::writeThresholds(const CalibrationData& data, const DecodeControls& controls,
                                           const QString& path) {
  try {
    calm::check_distinct_files({{"the thresholds file", path.toStdString()}}, inputs(data));
    calm::write_thresholds(thresholds(data, controls), path.toStdString());
  } catch (const std::exception& e) {
    return QString::fromUtf8(e.what());
  }
  return {};
}

QString CalibrationExport::writeReport(const CalibrationData& data, const DecodeControls& controls,
                                       const QString& jsonPath) {
  try {
    const calm::CalibrationReport built = report(data, controls);
    const std::string json = jsonPath.toStdString();
    calm::check_distinct_files({{"the report", json}, {"the report's CSV", calm::csv_path_for(json)}}, inputs(data));
    calm::write_report(built, json, calm::csv_path_for(json));
  } catch (const std::exception& e) {
    return QString::fromUtf8(e.what());
  }
  return {};
}

}  // namespace calm::ui
