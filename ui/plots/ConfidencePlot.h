// For the selected token: the confidence measure after every decoder layer,
// the threshold lambda_t that was in force, the exit marked, and each layer's
// top-1 token written beside its point.
#pragma once

#include <memory>

#include <qcustomplot.h>

#include "decode/decoder.h"

namespace calm::ui {

class ConfidencePlot : public QCustomPlot {
  Q_OBJECT

 public:
  explicit ConfidencePlot(QWidget* parent = nullptr);

  void setModel(std::shared_ptr<const calm::Model> model);
  // Plots token `index` of a run; `finalTop1` is the last layer's top-1 id.
  void showToken(int index, const calm::TokenTrace& token, const QString& piece, calm::Measure measure);
  void showMessage(const QString& message);  // nothing to plot: say why
  QString message() const;                   // the text shown instead of a plot; empty while plotting

  int shownToken() const { return index_; }
  int labelCount() const { return static_cast<int>(labels_.size()); }

 private:
  void clearItems();

  std::shared_ptr<const calm::Model> model_;
  QCPTextElement* title_;
  QCPItemText* message_;
  QCPGraph* curve_;
  QCPGraph* exitPoint_;
  QCPItemStraightLine* threshold_;
  QCPItemText* thresholdLabel_;
  QCPItemStraightLine* exitLine_;
  std::vector<QCPItemText*> labels_;
  int index_ = -1;
};

}  // namespace calm::ui
