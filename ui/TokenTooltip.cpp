#include "TokenTooltip.h"

#include <cmath>

#include <QStringList>

#include "TokenText.h"

namespace calm::ui {

namespace {
QString number(double v) { return std::isfinite(v) ? QString::number(v, 'f', 3) : QStringLiteral("–"); }
}  // namespace

QString TokenTooltip::html(const calm::Model& model, const calm::TokenTrace& token, const QString& piece, int layers,
                           calm::Measure measure) {
  const int exit = token.exit_layer;
  const bool traced = static_cast<int>(token.confidence.size()) == layers;
  const float confidence = traced && exit >= 1 ? token.confidence[exit - 1] : token.exit_confidence;
  QStringList lines;
  lines << QStringLiteral("<b>%1</b> &nbsp;<span style='color:#666'>output position %2</span>")
               .arg(TokenText::quoted(piece).toHtmlEscaped())
               .arg(token.position);
  if (exit < layers) {
    lines << QStringLiteral("Left the decoder after <b>layer %1 of %2</b>").arg(exit).arg(layers);
    lines << QStringLiteral("%1 confidence %2 ≥ threshold λ<sub>t</sub> = %3")
                 .arg(QString::fromUtf8(calm::measure_name(measure)), number(confidence), number(token.threshold));
  } else {
    lines << QStringLiteral("Ran <b>all %1 layers</b>").arg(layers);
    if (token.threshold >= 1.0f) {
      lines << QStringLiteral("λ = 1: early exits are switched off");
    } else if (traced) {
      int best = 1;
      for (int i = 1; i < layers; ++i)
        if (token.confidence[i - 1] > token.confidence[best - 1]) best = i;
      lines << QStringLiteral("No earlier layer reached λ<sub>t</sub> = %1 (highest: %2 after layer %3)")
                   .arg(number(token.threshold), number(token.confidence[best - 1]))
                   .arg(best);
    } else {
      lines << QStringLiteral("No earlier layer reached λ<sub>t</sub> = %1").arg(number(token.threshold));
    }
  }
  if (traced && exit >= 1 && !token.top[exit - 1].empty()) {
    QStringList top;
    for (const calm::TopToken& t : token.top[exit - 1])
      top << QStringLiteral("%1 %2%")
                 .arg(TokenText::quoted(QString::fromStdString(model.tokenizer.piece(t.id))).toHtmlEscaped())
                 .arg(100.0 * t.probability, 0, 'f', 1);
    lines << QStringLiteral("Top-3 at layer %1: %2").arg(exit).arg(top.join(QStringLiteral(", ")));
  }
  lines << QStringLiteral("<span style='color:#666'>Click to see its confidence layer by layer.</span>");
  return QStringLiteral("<div style='white-space:nowrap'>%1</div>").arg(lines.join(QStringLiteral("<br>")));
}

}  // namespace calm::ui
