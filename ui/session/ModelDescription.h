// What the model panel shows about a loaded model, as plain rows of text, and
// the weights types a user may load it in (the CLI's --weights). No widgets:
// tests read it directly.
#pragma once

#include <QList>
#include <QPair>
#include <QString>

namespace calm {
struct ModelConfig;
struct ModelInfo;
}  // namespace calm

namespace calm::ui {

struct ModelDescription {
  QList<QPair<QString, QString>> rows;  // (label, value), in display order
  // A warning for a model not trained for early exit; empty when it was.
  QString exitNote;
};

ModelDescription describeModel(const calm::ModelConfig& config, const calm::ModelInfo& info);

// "1.2 G", "135 M", "31.9 k", "800".
QString humanCount(qint64 n);

// One choice of weights type: the name LoadOptions parses and what it means.
struct WeightTypeChoice {
  QString name;   // "auto", "f32", "f16", "bf16", "q8"
  QString label;  // shown in the list
  QString help;   // tooltip
};
QList<WeightTypeChoice> weightTypeChoices();

}  // namespace calm::ui
