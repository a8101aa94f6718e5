// Help ▸ Guided tour: a newcomer is walked through the panels in the order
// of a first session, one step at a time. Each step dims the window except
// the panel it explains, and a bubble beside it says what the panel shows and
// what to try (Back, Next, Close; Esc closes). The steps are plain data
// (tourSteps), so a test can check that each names a panel that exists.
#pragma once

#include <vector>

#include <QPointer>
#include <QString>
#include <QWidget>

class QLabel;
class QPushButton;

namespace calm::ui {

struct TourStep {
  QString target;  // objectName of the widget the step points at
  QString tab;     // the tab to show first (MainWindow's tab names), or empty
  QString title;
  QString text;
};

std::vector<TourStep> tourSteps();

class GuidedTour : public QWidget {
  Q_OBJECT

 public:
  // Covers `window` (not owned) while shown.
  GuidedTour(QWidget* window, std::vector<TourStep> steps);

  void start();  // the first step
  void showStep(int index);
  int current() const { return current_; }
  int stepCount() const { return static_cast<int>(steps_.size()); }
  QWidget* target() const { return target_; }  // the current step's widget, or null
  QString bubbleText() const;                  // the current step's title and text, as shown

 signals:
  void tabNeeded(const QString& tab);  // before a step whose panel sits in a tab
  void finished();

 protected:
  void paintEvent(QPaintEvent* event) override;
  void keyPressEvent(QKeyEvent* event) override;
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  void place();  // the overlay over the window, the bubble beside the target
  QRect targetRect() const;

  std::vector<TourStep> steps_;
  int current_ = -1;
  QPointer<QWidget> target_;
  QWidget* bubble_;
  QLabel* counter_;
  QLabel* title_;
  QLabel* text_;
  QPushButton* back_;
  QPushButton* next_;
  QPushButton* close_;
};

}  // namespace calm::ui
