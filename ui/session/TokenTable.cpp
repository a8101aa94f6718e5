#include "session/TokenTable.h"

#include <cmath>

#include <QStringList>

namespace calm::ui {
namespace {

// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
QString csvField(const QString& text) {
  if (!text.contains(QLatin1Char(',')) && !text.contains(QLatin1Char('"')) && !text.contains(QLatin1Char('\n')) &&
      !text.contains(QLatin1Char('\r')))
    return text;
  QString quoted = text;
  quoted.replace(QLatin1String("\""), QLatin1String("\"\""));
  return QLatin1Char('"') + quoted + QLatin1Char('"');
}

QString number(double x) { return std::isfinite(x) ? QString::number(x, 'g', 6) : QString(); }

}  // namespace

QString tokenTableCsv(const GenerationOutcome& o) {
  const int layers = o.numLayers();
  QStringList header{QStringLiteral("position"), QStringLiteral("token_id"), QStringLiteral("piece"),
                     QStringLiteral("exit_layer"), QStringLiteral("threshold"), QStringLiteral("exit_confidence")};
  if (o.traced())
    for (int l = 1; l <= layers; ++l) header << QStringLiteral("confidence_layer_%1").arg(l);
  QString csv = header.join(QLatin1Char(',')) + QStringLiteral("\r\n");
  for (int i = 0; i < o.tokenCount(); ++i) {
    const auto index = static_cast<std::size_t>(i);
    QStringList row{QString::number(i), QString::number(o.calm.tokens[index]), csvField(o.calmPieces.value(i)),
                    QString::number(o.calm.exit_layers[index])};
    if (index < o.calm.trace.size()) {
      const calm::TokenTrace& t = o.calm.trace[index];
      row << number(t.threshold) << number(t.exit_confidence);
      if (o.traced())
        for (int l = 0; l < layers; ++l)
          row << (l < static_cast<int>(t.confidence.size()) ? number(t.confidence[static_cast<std::size_t>(l)]) : QString());
    } else {
      row << QString() << QString();
    }
    csv += row.join(QLatin1Char(',')) + QStringLiteral("\r\n");
  }
  return csv;
}

}  // namespace calm::ui
