#include "session/CalibrationRunner.h"

#include <QCryptographicHash>
#include <QDir>
#include <QThread>

#include "decode/measure.h"

namespace calm::ui {

QString CoreCalibrationRunner::cacheFile(const calm::CalibrationRun& run) const {
  if (cacheDir_.isEmpty()) return {};
  // One file per model, data and settings: the calibrator refuses a cache made
  // with other settings, so they must never share a name.
  QCryptographicHash hash(QCryptographicHash::Sha1);
  hash.addData(QByteArray::fromStdString(run.model_hash));
  hash.addData(QByteArray::fromStdString(run.data_hash));
  hash.addData(QByteArray::fromStdString(run.settings.to_json().dump()));
  return QDir(cacheDir_).filePath(QStringLiteral("%1-%2.jsonl")
                                      .arg(QString::fromStdString(run.model_name),
                                           QString::fromLatin1(hash.result().toHex().left(16))));
}

bool CoreCalibrationRunner::run(const calm::Model& model, calm::CalibrationRun& run, const Progress& progress,
                                const std::atomic<bool>& cancel, std::atomic<int>& engineCalls) {
  // Each example not taken from the cache costs one full run and one CALM run
  // per grid point below 1.
  int perExample = 1;
  for (double lambda : run.settings.grid)
    if (!calm::never_exits(static_cast<float>(lambda))) ++perExample;
  const QString cache = cacheFile(run);
  if (!cache.isEmpty()) QDir().mkpath(cacheDir_);
  // Leave a core to the GUI when there are several.
  const int threads = threads_ > 0 ? threads_ : std::max(1, QThread::idealThreadCount() - 1);
  std::size_t counted = 0;
  const auto report = [&](const calm::CalibrationProgress& p) {
    const std::size_t computed = p.done >= p.resumed ? p.done - p.resumed : 0;
    if (computed > counted) {
      engineCalls.fetch_add(static_cast<int>(computed - counted) * perExample);
      counted = computed;
    }
    if (progress) progress(p.done, p.total);
  };
  return calm::Calibrator::run(model, run, cache.toStdString(), threads, report, &cancel);
}

}  // namespace calm::ui
