#include "session/ModelDescription.h"

#include <QCoreApplication>

#include "model/config.h"
#include "model/load.h"

namespace calm::ui {

namespace {
QString tr(const char* text) { return QCoreApplication::translate("ModelDescription", text); }

QString gigabytes(qint64 bytes) {
  if (bytes >= 100'000'000) return QStringLiteral("%1 GB").arg(bytes / 1e9, 0, 'f', 2);
  return QStringLiteral("%1 MB").arg(bytes / 1e6, 0, 'f', bytes >= 10'000'000 ? 0 : 2);
}
}  // namespace

QString humanCount(qint64 n) {
  if (n >= 1'000'000'000) return QStringLiteral("%1 G").arg(n / 1e9, 0, 'f', 1);
  if (n >= 1'000'000) return QStringLiteral("%1 M").arg(n / 1e6, 0, 'f', n >= 100'000'000 ? 0 : 1);
  if (n >= 1000) return QStringLiteral("%1 k").arg(n / 1e3, 0, 'f', n >= 100'000 ? 0 : 1);
  return QString::number(n);
}

ModelDescription describeModel(const calm::ModelConfig& c, const calm::ModelInfo& info) {
  ModelDescription d;
  const auto add = [&d](const QString& label, const QString& value) { d.rows.append({label, value}); };
  add(tr("Architecture"), QString::fromStdString(info.variant));
  QString layers = tr("%1 decoder layers, every one an exit").arg(info.decoder_layers);
  if (info.encoder_layers > 0) layers += tr(" (+ %1 encoder)").arg(info.encoder_layers);
  add(tr("Layers"), layers);
  add(tr("Parameters"), tr("%1 (d_model %2, %3 heads, vocabulary %4)")
                            .arg(humanCount(info.parameters))
                            .arg(c.d_model)
                            .arg(c.num_heads)
                            .arg(c.vocab_size));
  add(tr("Stored as"), QString::fromStdString(info.stored_types));
  add(tr("In memory"),
      tr("%1, %2").arg(QString::fromStdString(info.weights_type), gigabytes(info.weight_bytes)));
  add(tr("Tokenizer"), QString::fromStdString(info.tokenizer));
  add(tr("Classifier head"), c.has_classifier() ? tr("yes") : tr("no (softmax and state measures only)"));
  if (!info.trained_for_exits)
    d.exitNote = tr("Not trained for early exit: its intermediate exits may be poor until calibrated. "
                    "Calibrate on your own data before trusting a λ; the oracle policy shows how often "
                    "tokens could have left early.");
  return d;
}

QList<WeightTypeChoice> weightTypeChoices() {
  return {
      {QStringLiteral("auto"), tr("as stored"),
       tr("Keep the checkpoint's type (f32, f16 or bf16), copied without conversion: the fastest load.")},
      {QStringLiteral("f32"), tr("f32"), tr("Convert to 32-bit floats at load: twice bf16's memory.")},
      {QStringLiteral("f16"), tr("f16"), tr("Convert to 16-bit floats at load.")},
      {QStringLiteral("bf16"), tr("bf16"), tr("Convert to bfloat16 at load.")},
      {QStringLiteral("q8"), tr("q8 (8-bit)"),
       tr("Quantise to 8 bits at load: half of f16's memory and about twice the decoding speed; the "
          "outputs differ slightly from the stored weights'.")},
  };
}

}  // namespace calm::ui
