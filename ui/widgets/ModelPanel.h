// Choosing the model: the bundled ones by name, or any model directory, the
// weights type to load it in, and what was loaded (architecture and variant,
// stored and in-memory types, tokenizer, layers, parameters), with a note when
// the model was not trained for early exit. A load shows its progress and can
// be cancelled. Load errors are shown here in words. The panel shows and
// forwards; StudioSession loads.
#pragma once

#include <QWidget>

class QComboBox;
class QLabel;
class QProgressBar;
class QPushButton;

namespace calm {
struct Model;
struct ModelInfo;
}  // namespace calm

namespace calm::ui {

class ModelPanel : public QWidget {
  Q_OBJECT

 public:
  explicit ModelPanel(QWidget* parent = nullptr);

  // The models offered in the list: display name and directory.
  void setModels(const QList<QPair<QString, QString>>& models);
  void setCurrentDir(const QString& dir);  // selects it, adding it to the list when new; emits nothing
  QString currentDir() const;
  void setWeightType(const QString& name);  // selects it; emits nothing
  QString weightType() const;
  void showLoading(const QString& dir);
  void showProgress(double fraction, const QString& stage);
  void showCancelled(const QString& dir, bool keptPrevious);
  void showModel(const calm::Model& model, const calm::ModelInfo& info);
  void showError(const QString& message);

 signals:
  void modelChosen(const QString& dir);
  void openDirectoryRequested();
  void weightTypeChosen(const QString& name);
  void cancelLoadRequested();

 private:
  void endLoading();

  QComboBox* box_;
  QPushButton* open_;
  QComboBox* weights_;
  QWidget* loadRow_;
  QLabel* stage_;
  QProgressBar* progress_;
  QPushButton* cancel_;
  QLabel* info_;
  QLabel* note_;
  QLabel* error_;
  QString loading_;  // the directory name being loaded
};

}  // namespace calm::ui
