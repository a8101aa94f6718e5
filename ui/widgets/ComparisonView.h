// The full model and CALM side by side: both outputs with the tokens they do
// not share highlighted, and the numbers that say what early exiting cost and
// saved (layers, measured speedup, textual distance, risk difference).
#pragma once

#include <vector>

#include <QWidget>

class QLabel;
class QTextBrowser;

namespace calm::ui {

struct GenerationOutcome;

class ComparisonView : public QWidget {
  Q_OBJECT

 public:
  explicit ComparisonView(QWidget* parent = nullptr);
  void showOutcome(const GenerationOutcome& outcome);
  void clear();
  // The differences of the last outcome, per CALM token (for the chip view).
  const std::vector<bool>& calmDifferences() const { return calmDifferent_; }

 private:
  QTextBrowser* full_;
  QTextBrowser* calm_;
  QLabel* fullTitle_;
  QLabel* calmTitle_;
  QLabel* stats_;
  QLabel* reference_;
  std::vector<bool> calmDifferent_;
};

}  // namespace calm::ui
