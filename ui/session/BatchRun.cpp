#include "session/BatchRun.h"

#include <QFileInfo>

#include "calibrate/batch_generate.h"
#include "calibrate/jsonl.h"
#include "io/output_file.h"
#include "kernels/thread_pool.h"
#include "util/error.h"

namespace calm::ui {

BatchOutcome runBatchFile(const calm::Model& model, const QString& input, const QString& output,
                          const calm::DecodeOptions& options, const std::atomic<bool>& cancel,
                          const std::function<void(int, int)>& progress) {
  const std::string in = input.toStdString(), out = output.toStdString();
  if (QFileInfo(input).absoluteFilePath() == QFileInfo(output).absoluteFilePath())
    throw calm::Error(out + ": the output would replace the input; choose another file");
  calm::check_output_path(out, "output");
  const calm::JsonlResult read = calm::read_jsonl(in);
  if (read.examples.empty()) throw calm::Error(in + ": no examples in the file");
  calm::DecodeOptions o = options;
  o.trace = false;  // the lines hold exits, not per-layer traces
  const calm::BatchGeneration batch = calm::generate_batch(
      model, read.examples, o, calm::hardware_threads(), [&cancel] { return cancel.load(); },
      [&progress](std::size_t done, std::size_t total) {
        if (progress) progress(static_cast<int>(done), static_cast<int>(total));
      });
  calm::write_output_file(out, calm::batch_jsonl(read.examples, batch), "output");

  BatchOutcome r;
  r.total = static_cast<int>(read.examples.size());
  r.written = static_cast<int>(batch.finished());
  r.failed = static_cast<int>(batch.failed());
  r.cancelled = batch.cancelled;
  r.summary = QStringLiteral("%1 of %2 examples written to %3")
                  .arg(r.written)
                  .arg(r.total)
                  .arg(output);
  if (batch.tokens() > 0)
    r.summary += QStringLiteral("; %1 tokens, %2 of %3 layers on average")
                     .arg(batch.tokens())
                     .arg(batch.average_layers(), 0, 'f', 2)
                     .arg(model.config.decoder_layers);
  r.summary += QLatin1Char('.');
  if (r.failed > 0)
    r.summary += QStringLiteral(" %1 failed; their lines hold \"error\" (%2).")
                     .arg(r.failed)
                     .arg(QString::fromStdString(batch.first_error(read.examples)));
  if (r.cancelled) r.summary += QStringLiteral(" Cancelled: the finished examples were written.");
  return r;
}

}  // namespace calm::ui
