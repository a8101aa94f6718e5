#include "widgets/TokenTooltip.h"

#include <cmath>

#include <QStringList>

#include "session/TokenText.h"

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

namespace {
QString quotedPiece(const calm::Model& model, int id) {
  return TokenText::quoted(QString::fromStdString(model.tokenizer.piece(id))).toHtmlEscaped();
}
QString wrap(const QStringList& lines) {
  return QStringLiteral("<div style='white-space:nowrap'>%1</div>").arg(lines.join(QStringLiteral("<br>")));
}
}  // namespace

QString TokenTooltip::verifyHtml(const calm::Model& model, const calm::TokenTrace& token, const QString& piece,
                                 int layers) {
  QStringList lines;
  lines << QStringLiteral("<b>%1</b> &nbsp;<span style='color:#666'>output position %2</span>")
               .arg(TokenText::quoted(piece).toHtmlEscaped())
               .arg(token.position);
  if (token.verified) {
    lines << (token.exit_layer < layers
                  ? QStringLiteral("Drafted with an exit after <b>layer %1 of %2</b>").arg(token.exit_layer).arg(layers)
                  : QStringLiteral("Drafted with <b>all %1 layers</b>").arg(layers));
    lines << QStringLiteral("<span style='color:#1a7f37'>✓ Accepted: the full model predicts the same token</span>");
  } else if (!token.rejected_drafts.empty()) {
    lines << QStringLiteral("<span style='color:#1f6feb'><b>Corrected</b></span>: the full model's token "
                            "(all %1 layers)")
                 .arg(layers);
    lines << QStringLiteral("It replaced the draft %1, which the full model rejected")
                 .arg(quotedPiece(model, token.rejected_drafts.front()));
    if (token.rejected_drafts.size() > 1)
      lines << QStringLiteral("%1 later draft(s) after it were discarded too")
                   .arg(static_cast<int>(token.rejected_drafts.size()) - 1);
  } else {
    lines << QStringLiteral("Ran <b>all %1 layers</b>").arg(layers);
  }
  lines << QStringLiteral("<span style='color:#666'>Verify mode: the output is exactly the full model's.</span>");
  return wrap(lines);
}

QString TokenTooltip::rejectedHtml(const calm::Model& model, const calm::TokenTrace& token, const QString& piece) {
  QStringList lines;
  if (token.rejected_drafts.empty()) return {};
  lines << QStringLiteral("Drafted <b>%1</b> with an early exit, <b>rejected</b>: the full model predicts <b>%2</b>")
               .arg(quotedPiece(model, token.rejected_drafts.front()), TokenText::quoted(piece).toHtmlEscaped());
  if (token.rejected_drafts.size() > 1) {
    QStringList rest;
    for (std::size_t i = 1; i < token.rejected_drafts.size(); ++i) rest << quotedPiece(model, token.rejected_drafts[i]);
    lines << QStringLiteral("Drafted after it and discarded with it: %1").arg(rest.join(QStringLiteral(", ")));
  }
  lines << QStringLiteral("<span style='color:#666'>Not part of the output: shown to see what the draft got wrong.</span>");
  return wrap(lines);
}

QString TokenTooltip::rejectedLabel(const calm::Model& model, const calm::TokenTrace& token, bool* wordStart) {
  QString label;
  for (std::size_t i = 0; i < token.rejected_drafts.size(); ++i) {
    const QString piece = QString::fromStdString(model.tokenizer.piece(token.rejected_drafts[i]));
    if (i == 0 && wordStart) *wordStart = TokenText::startsWord(piece);
    if (i > 0 && TokenText::startsWord(piece)) label += QLatin1Char(' ');
    label += TokenText::chipLabel(piece);
  }
  return label;
}

}  // namespace calm::ui
