// The decaying threshold lambda_t = clip(0.9 lambda + 0.1 exp(-tau t / N))
// over the output positions t, for the lambda and tau now in force.
#pragma once

#include <qcustomplot.h>

namespace calm::ui {

class ThresholdSchedulePlot : public QCustomPlot {
  Q_OBJECT

 public:
  explicit ThresholdSchedulePlot(QWidget* parent = nullptr);
  // `generated`: how many tokens the last run wrote (marked), or -1.
  void showSchedule(double lambda, double tau, int maxNewTokens, int generated = -1);
  int pointCount() const { return schedule_->dataCount(); }

 private:
  QCPTextElement* title_;
  QCPGraph* schedule_;
  QCPItemStraightLine* base_;
  QCPItemText* baseLabel_;
  QCPItemStraightLine* end_;
  QCPItemText* note_;
};

}  // namespace calm::ui
