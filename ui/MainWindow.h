// The main window: it lays the panels out and wires them to the session.
// No behaviour of its own beyond passing values along.
#pragma once

#include <QMainWindow>

#include "session/StudioSession.h"

class QLabel;
class QProgressDialog;
class QSplitter;
class QTabWidget;

namespace calm::ui {

class CalibrationPanel;
class ComparisonView;
class ConfidencePlot;
class ControlPanel;
class HelpPanel;
class LayerHeatmap;
class MeasureComparisonView;
class ModelPanel;
class GuidedTour;
class Playback;
class PlaybackBar;
class PromptPanel;
class SettingsStore;
class StudioSession;
class ThresholdSchedulePlot;
class TokenView;

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  // Neither is owned; both must outlive the window.
  MainWindow(StudioSession& session, SettingsStore& settings, QWidget* parent = nullptr);

  // Restores the model, prompt and controls from the settings and loads the
  // model (the remembered one, else the first bundled one). With no prompt
  // remembered (a first start), the model's first example is decoded as soon
  // as it loads, so the window opens on a coloured result, not an empty box.
  void restore();
  void setModelList(const QList<QPair<QString, QString>>& models);
  void showTab(const QString& objectName);  // e.g. "heatmapTab"
  void selectToken(int index);
  // What the Calibrate button does, for `set` (shown in the set list).
  void startCalibration(const QString& set, int maxExamples, double step = 0.05);
  // What File > Open thresholds… does once a file is chosen: applies it through
  // the session, says where lambda now comes from in the status bar, and shows
  // an error (nothing changed) or a warning (another model) in a message box
  // that does not block.
  ThresholdsLoad openThresholds(const QString& path);
  StudioSession& session() { return session_; }
  // Writes a figure ("output", "confidence", "heatmap", "schedule": SVG, PDF
  // or PNG by the file's suffix) or the token table ("tokens": CSV) of the
  // last run; "" or the error. The Export menu asks for the file first.
  QString exportFigure(const QString& what, const QString& path);
  // The step-by-step replay of the last traced run (the playback bar drives it).
  Playback& playback() { return *playback_; }
  bool startPlayback();  // loads the last outcome into the playback; false when it has no trace
  // What File > Run a JSONL file… does once both files are chosen: a
  // progress dialog with Cancel while it runs, then the summary.
  void runBatch(const QString& input, const QString& output);
  // Help ▸ Guided tour.
  void startTour();
  GuidedTour* tour() const { return tour_; }

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  // The constructor, in parts: the panels, the menus, then the wiring by topic.
  void buildLayout();
  void buildMenus();
  void connectModel();
  void connectPromptAndControls();
  void connectGeneration();
  void connectCalibration();
  void connectPlayback();
  void showPlaybackStep();   // the views drawn as the current step sees the run
  void leavePlayback();      // back to the whole run
  void exportCalibration(bool report);  // false: the thresholds file
  void chooseExportFile(const QString& what);
  void onModelLoaded();
  void onOutcome();
  void refreshLambda();
  void refreshSchedule();
  void openModelDirectory();
  void chooseThresholdsFile();
  void refreshTracePanels();  // the per-layer views, or why they have nothing to show
  void showMessageBox(int icon, const QString& title, const QString& text,
                      const QString& name = QStringLiteral("thresholdsMessage"));
  void chooseBatchFiles();
  void connectBatch();
  void saveLayout();
  void restoreLayout();

  StudioSession& session_;
  SettingsStore& settings_;
  ModelPanel* modelPanel_;
  ControlPanel* controlPanel_;
  PromptPanel* promptPanel_;
  PlaybackBar* playbackBar_;
  Playback* playback_;
  GuidedTour* tour_ = nullptr;
  QProgressDialog* batchDialog_ = nullptr;
  TokenView* tokenView_;
  ConfidencePlot* confidencePlot_;
  LayerHeatmap* heatmap_;
  ComparisonView* comparison_;
  ThresholdSchedulePlot* schedule_;
  MeasureComparisonView* measures_;
  CalibrationPanel* calibrationPanel_ = nullptr;
  HelpPanel* help_;
  QTabWidget* tabs_;
  QSplitter* outer_;
  QSplitter* vertical_;
  QSplitter* bottom_;
  int selected_ = 0;
  bool traceHidden_ = true;
  bool startWithExample_ = false;  // restore() found no prompt: decode the first example on load  // the per-layer views show a message, not the outcome
};

}  // namespace calm::ui
