#include "session/TokenText.h"

namespace calm::ui {

namespace {
QString visible(QString s) {
  s.replace(QLatin1Char('\n'), QStringLiteral("↵"));
  s.replace(QLatin1Char('\t'), QStringLiteral("⇥"));
  s.replace(QLatin1Char('\r'), QString());
  return s;
}
}  // namespace

QString TokenText::chipLabel(const QString& piece) {
  QString s = piece;
  if (startsWord(s)) s.remove(0, 1);
  s = visible(s);
  if (s.isEmpty()) return piece.isEmpty() ? QStringLiteral("∅") : QStringLiteral("␣");
  return s;
}

bool TokenText::startsWord(const QString& piece) { return piece.startsWith(QLatin1Char(' ')); }

QString TokenText::quoted(const QString& piece) {
  QString s = visible(startsWord(piece) && piece.size() > 1 ? piece.mid(1) : piece);
  if (s.isEmpty()) s = QStringLiteral("∅");
  if (s == QStringLiteral(" ")) s = QStringLiteral("␣");
  return QStringLiteral("‘%1’").arg(s);
}

QString TokenText::htmlEscaped(const QString& text) { return text.toHtmlEscaped(); }

}  // namespace calm::ui
