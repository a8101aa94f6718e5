// A short guide to CALM and to every view and control of the app.
#pragma once

#include <QTextBrowser>

namespace calm::ui {

class HelpPanel : public QTextBrowser {
  Q_OBJECT

 public:
  explicit HelpPanel(QWidget* parent = nullptr);
  static QString html();
};

}  // namespace calm::ui
