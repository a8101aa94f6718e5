#include "session/ExamplePrompts.h"

#include <exception>

#include "calibrate/jsonl.h"
#include "model/catalog.h"

namespace calm::ui {

namespace {
QString shortened(const QString& text, int length) {
  const QString simple = text.simplified();
  return simple.size() <= length ? simple : simple.left(length - 1) + QStringLiteral("…");
}
}  // namespace

QList<ExamplePrompt> ExamplePrompts::forModel(const QString& modelName, int limit) {
  QList<ExamplePrompt> examples;
  for (const char* split : {"test", "calibration"}) {
    const std::string file = calm::bundled_data_file(modelName.toStdString(), split);
    if (file.empty()) continue;
    try {
      calm::JsonlOptions options;
      options.policy = calm::BadLinePolicy::Skip;
      const calm::JsonlResult read = calm::read_jsonl(file, options);
      for (const calm::Example& e : read.examples) {
        if (examples.size() >= limit) return examples;
        ExamplePrompt p;
        p.input = QString::fromStdString(e.input);
        if (e.reference) p.reference = QString::fromStdString(*e.reference);
        QString tag;
        if (e.extra.contains("id") && e.extra["id"].is_string())
          tag = QString::fromStdString(e.extra["id"].get<std::string>()) + QStringLiteral(" · ");
        p.label = QStringLiteral("%1%2").arg(tag, shortened(p.input, 70));
        examples << p;
      }
    } catch (const std::exception&) {
      // An unreadable set only means fewer examples.
    }
  }
  return examples;
}

}  // namespace calm::ui
