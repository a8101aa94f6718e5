// The "Measures" tab: the prompt decoded with each confidence measure, one
// row each (the measure, the lambda it used and where that came from, layers
// on average, FLOPs speedup, time) over its tokens coloured by exit layer.
// It shows what it is given and forwards the Compare button.
#pragma once

#include <memory>
#include <vector>

#include <QWidget>

#include "session/MeasureComparison.h"

class QLabel;
class QPushButton;
class QVBoxLayout;

namespace calm::ui {

class ExitLayerLegend;
class TokenView;

class MeasureComparisonView : public QWidget {
  Q_OBJECT

 public:
  explicit MeasureComparisonView(QWidget* parent = nullptr);
  void setModel(std::shared_ptr<const calm::Model> model);
  void showRuns(const std::vector<MeasureRun>& runs);
  void showBusy();
  void showMessage(const QString& text);
  int rowCount() const { return static_cast<int>(rows_.size()); }
  TokenView* tokensOf(int row) const;
  QLabel* summaryOf(int row) const;

 signals:
  void compareRequested();

 private:
  struct Row {
    QLabel* summary;
    TokenView* tokens;
  };
  std::shared_ptr<const calm::Model> model_;
  QPushButton* compare_;
  QLabel* status_;
  ExitLayerLegend* legend_;
  QVBoxLayout* rowsLayout_;
  std::vector<Row> rows_;
};

}  // namespace calm::ui
