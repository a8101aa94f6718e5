// Example prompts for a model, from the bundled test and calibration sets
// (resources/data/<model name>/{test,calibration}.jsonl).
#pragma once

#include <optional>

#include <QList>
#include <QString>

namespace calm::ui {

struct ExamplePrompt {
  QString label;  // what the list shows
  QString input;
  std::optional<QString> reference;
};

class ExamplePrompts {
 public:
  // Up to `limit` examples for the model called `modelName`, test set first.
  // Missing or malformed files give fewer examples, never an error.
  static QList<ExamplePrompt> forModel(const QString& modelName, int limit = 40);
};

}  // namespace calm::ui
