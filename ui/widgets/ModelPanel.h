// Choosing the model: the bundled ones by name, or any model directory, and a
// short description of the one loaded (architecture, layers, parameters,
// classifier head). Load errors are shown here in words.
#pragma once

#include <QWidget>

class QComboBox;
class QLabel;
class QPushButton;

namespace calm {
struct Model;
}

namespace calm::ui {

class ModelPanel : public QWidget {
  Q_OBJECT

 public:
  explicit ModelPanel(QWidget* parent = nullptr);

  // The models offered in the list: display name and directory.
  void setModels(const QList<QPair<QString, QString>>& models);
  void setCurrentDir(const QString& dir);  // selects it, adding it to the list when new; emits nothing
  QString currentDir() const;
  void showLoading(const QString& dir);
  void showModel(const calm::Model& model);
  void showError(const QString& message);

 signals:
  void modelChosen(const QString& dir);
  void openDirectoryRequested();

 private:
  QComboBox* box_;
  QPushButton* open_;
  QLabel* info_;
  QLabel* error_;
};

}  // namespace calm::ui
