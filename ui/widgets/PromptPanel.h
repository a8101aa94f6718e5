// The prompt: a text editor, examples from the bundled sets, and the Generate
// and Cancel buttons (Ctrl+Enter generates).
#pragma once

#include <optional>

#include <QWidget>

#include "session/ExamplePrompts.h"

class QComboBox;
class QLabel;
class QPlainTextEdit;
class QPushButton;

namespace calm::ui {

class PromptPanel : public QWidget {
  Q_OBJECT

 public:
  explicit PromptPanel(QWidget* parent = nullptr);

  void setExamples(const QList<ExamplePrompt>& examples);
  void setPrompt(const QString& text, const std::optional<QString>& reference = std::nullopt);  // emits nothing
  QString prompt() const;
  std::optional<QString> reference() const;  // when the text is an unedited example
  void setBusy(bool busy);
  void setStatus(const QString& html);
  QPlainTextEdit* editor() const { return edit_; }

 signals:
  void promptEdited(const QString& text, const std::optional<QString>& reference);
  void generateRequested();
  void cancelRequested();

 private:
  QComboBox* examples_;
  QPlainTextEdit* edit_;
  QPushButton* generate_;
  QPushButton* cancel_;
  QLabel* status_;
  QList<ExamplePrompt> list_;
  std::optional<QString> reference_;
  QString referenceFor_;  // the text the reference belongs to
};

}  // namespace calm::ui
