#include "MainWindow.h"

#include <QCloseEvent>
#include <QDataStream>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QGroupBox>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressDialog>
#include <QScrollArea>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

#include "io/output_file.h"
#include "session/CalibrationExport.h"
#include "widgets/FigureExport.h"
#include "widgets/MeasureComparisonView.h"
#include "session/Playback.h"
#include "widgets/PlaybackBar.h"
#include "widgets/GuidedTour.h"
#include "widgets/CalibrationPanel.h"
#include "plots/CalibrationPlots.h"
#include "widgets/ComparisonView.h"
#include "plots/ConfidencePlot.h"
#include "widgets/ControlPanel.h"
#include "session/ExamplePrompts.h"
#include "session/OutcomeText.h"
#include "session/TokenTable.h"
#include "widgets/HelpPanel.h"
#include "plots/LayerHeatmap.h"
#include "widgets/ModelPanel.h"
#include "widgets/PromptPanel.h"
#include "session/SettingsStore.h"
#include "session/StudioSession.h"
#include "plots/ThresholdSchedulePlot.h"
#include "widgets/TokenView.h"
#include "model/catalog.h"

namespace calm::ui {

namespace {

QWidget* tab(QWidget* content, const QString& name) {
  content->setProperty("tabName", name);
  return content;
}

QString failureHtml(const QString& message) {
  return QStringLiteral("<span style='color:#b42318'>%1</span>").arg(message.toHtmlEscaped());
}

}  // namespace

MainWindow::MainWindow(StudioSession& session, SettingsStore& settings, QWidget* parent)
    : QMainWindow(parent), session_(session), settings_(settings) {
  setObjectName(QStringLiteral("mainWindow"));
  setWindowTitle(tr("CALM Studio"));
  buildLayout();
  buildMenus();
  connectModel();
  connectPromptAndControls();
  connectGeneration();
  connectCalibration();
  connectPlayback();
  connectBatch();
  controlPanel_->setControls(session_.controls());
  refreshLambda();
}

// The panels where they sit: model and controls on the left; prompt and
// tokens top right; the confidence plot and the tabbed views below them.
void MainWindow::buildLayout() {
  // ---- left column: model and controls
  modelPanel_ = new ModelPanel;
  controlPanel_ = new ControlPanel;
  auto* modelGroup = new QGroupBox(tr("Model"));
  auto* modelLayout = new QVBoxLayout(modelGroup);
  modelLayout->addWidget(modelPanel_);
  auto* left = new QWidget;
  auto* leftLayout = new QVBoxLayout(left);
  leftLayout->setContentsMargins(8, 8, 8, 8);
  leftLayout->setSpacing(10);
  leftLayout->addWidget(modelGroup);
  leftLayout->addWidget(controlPanel_, 1);
  auto* leftScroll = new QScrollArea;
  leftScroll->setObjectName(QStringLiteral("leftColumn"));
  leftScroll->setWidget(left);
  leftScroll->setWidgetResizable(true);
  leftScroll->setFrameShape(QFrame::NoFrame);
  leftScroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  leftScroll->setMinimumWidth(340);

  // ---- right: prompt and tokens on top, plots below
  promptPanel_ = new PromptPanel;
  tokenView_ = new TokenView;
  auto* top = new QWidget;
  auto* topLayout = new QVBoxLayout(top);
  topLayout->setContentsMargins(8, 8, 8, 4);
  topLayout->setSpacing(10);
  playbackBar_ = new PlaybackBar;
  playback_ = new Playback(this);
  topLayout->addWidget(promptPanel_);
  topLayout->addWidget(playbackBar_);
  topLayout->addWidget(tokenView_, 1);

  confidencePlot_ = new ConfidencePlot;
  confidencePlot_->setMinimumWidth(360);
  heatmap_ = new LayerHeatmap;
  comparison_ = new ComparisonView;
  schedule_ = new ThresholdSchedulePlot;
  calibrationPanel_ = new CalibrationPanel;
  help_ = new HelpPanel;
  tabs_ = new QTabWidget;
  tabs_->setObjectName(QStringLiteral("viewTabs"));
  tabs_->setDocumentMode(true);
  tabs_->addTab(tab(heatmap_, QStringLiteral("heatmap")), tr("Heat map"));
  tabs_->addTab(tab(comparison_, QStringLiteral("comparison")), tr("Full vs CALM"));
  tabs_->addTab(tab(schedule_, QStringLiteral("schedule")), tr("Threshold schedule"));
  measures_ = new MeasureComparisonView;
  tabs_->addTab(tab(measures_, QStringLiteral("measures")), tr("Measures"));
  tabs_->addTab(tab(calibrationPanel_, QStringLiteral("calibration")), tr("Calibration"));
  tabs_->addTab(tab(help_, QStringLiteral("help")), tr("Help"));

  bottom_ = new QSplitter(Qt::Horizontal);
  bottom_->setObjectName(QStringLiteral("bottomSplitter"));
  bottom_->addWidget(confidencePlot_);
  bottom_->addWidget(tabs_);
  bottom_->setStretchFactor(0, 2);
  bottom_->setStretchFactor(1, 3);
  bottom_->setContentsMargins(8, 0, 8, 0);
  vertical_ = new QSplitter(Qt::Vertical);
  vertical_->setObjectName(QStringLiteral("verticalSplitter"));
  vertical_->addWidget(top);
  vertical_->addWidget(bottom_);
  vertical_->setStretchFactor(0, 2);
  vertical_->setStretchFactor(1, 3);
  outer_ = new QSplitter(Qt::Horizontal);
  outer_->setObjectName(QStringLiteral("outerSplitter"));
  outer_->addWidget(leftScroll);
  outer_->addWidget(vertical_);
  outer_->setStretchFactor(0, 0);
  outer_->setStretchFactor(1, 1);
  outer_->setChildrenCollapsible(false);
  setCentralWidget(outer_);
  statusBar()->setObjectName(QStringLiteral("statusBar"));
  resize(1560, 960);
  outer_->setSizes({370, 1190});
  vertical_->setSizes({290, 650});
  bottom_->setSizes({440, 750});
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  QAction* openModel = file->addAction(tr("Open &model directory…"), this, &MainWindow::openModelDirectory);
  openModel->setObjectName(QStringLiteral("openModelAction"));
  QAction* openThresholdsAction = file->addAction(tr("Open &thresholds…"), this, &MainWindow::chooseThresholdsFile);
  openThresholdsAction->setObjectName(QStringLiteral("openThresholdsAction"));
  openThresholdsAction->setShortcut(QKeySequence::Open);
  openThresholdsAction->setStatusTip(tr("Put the λ, τ, measure, gate, mode and exit checks of a thresholds file "
                                        "into the controls"));
  // Figures for slides and papers, and the token table.
  QMenu* exportMenu = file->addMenu(tr("&Export"));
  exportMenu->setObjectName(QStringLiteral("exportMenu"));
  const QList<QPair<QString, QString>> exports = {
      {QStringLiteral("output"), tr("Coloured &output (SVG, PDF, PNG)…")},
      {QStringLiteral("confidence"), tr("&Confidence plot…")},
      {QStringLiteral("heatmap"), tr("&Heat map…")},
      {QStringLiteral("schedule"), tr("Threshold &schedule…")},
      {QStringLiteral("tokens"), tr("Token &table (CSV)…")}};
  for (const auto& [what, label] : exports) {
    QAction* action = exportMenu->addAction(label, this, [this, what = what] { chooseExportFile(what); });
    action->setObjectName(QStringLiteral("export_") + what);
  }
  QAction* batch = file->addAction(tr("&Run a JSONL file…"), this, &MainWindow::chooseBatchFiles);
  batch->setObjectName(QStringLiteral("runBatchAction"));
  batch->setStatusTip(tr("Decode every prompt of a JSON lines file with the current settings and write the texts "
                         "and exit layers to another"));
  file->addSeparator();
  QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  QAction* tourAction = help->addAction(tr("&Guided tour"), this, &MainWindow::startTour);
  tourAction->setObjectName(QStringLiteral("tourAction"));
  tourAction->setStatusTip(tr("A walk through the panels, one at a time"));
  QAction* howItWorks = help->addAction(tr("&How CALM works"), this, [this] { showTab(QStringLiteral("help")); });
  howItWorks->setObjectName(QStringLiteral("howItWorksAction"));
  howItWorks->setShortcut(QKeySequence::HelpContents);
}

void MainWindow::connectModel() {
  connect(modelPanel_, &ModelPanel::modelChosen, &session_, &StudioSession::loadModel);
  connect(modelPanel_, &ModelPanel::openDirectoryRequested, this, &MainWindow::openModelDirectory);
  connect(modelPanel_, &ModelPanel::cancelLoadRequested, &session_, &StudioSession::cancelModelLoad);
  connect(modelPanel_, &ModelPanel::weightTypeChosen, this, [this](const QString& name) {
    // A new type means loading again: the model shown, or the one chosen if none loaded.
    if (session_.setWeightType(name) && !modelPanel_->currentDir().isEmpty())
      session_.loadModel(modelPanel_->currentDir());
  });
  modelPanel_->setWeightType(session_.weightType());
  connect(&session_, &StudioSession::modelLoading, this, [this](const QString& dir) {
    modelPanel_->showLoading(dir);
    statusBar()->showMessage(tr("Loading %1…").arg(QDir::toNativeSeparators(dir)));
  });
  connect(&session_, &StudioSession::modelLoadProgress, modelPanel_, &ModelPanel::showProgress);
  connect(&session_, &StudioSession::modelLoaded, this, &MainWindow::onModelLoaded);
  connect(&session_, &StudioSession::modelLoadCancelled, this, [this](const QString& dir) {
    statusBar()->showMessage(tr("Loading %1 cancelled").arg(QDir::toNativeSeparators(dir)));
    if (session_.hasModel()) {
      modelPanel_->showModel(*session_.model(), *session_.modelInfo());
      modelPanel_->setCurrentDir(session_.modelDir());
    }
    modelPanel_->showCancelled(dir, session_.hasModel());
  });
  connect(&session_, &StudioSession::modelFailed, this, [this](const QString& dir, const QString& message) {
    QString text = tr("Could not open “%1”: %2").arg(QDir::toNativeSeparators(dir), message);
    statusBar()->showMessage(text);
    if (session_.hasModel()) {  // the previous model stays loaded
      modelPanel_->showModel(*session_.model(), *session_.modelInfo());
      modelPanel_->setCurrentDir(session_.modelDir());
      text += tr("\nStill using %1.").arg(QFileInfo(session_.modelDir()).fileName());
    }
    modelPanel_->showError(text);
  });

}

void MainWindow::connectPromptAndControls() {
  connect(promptPanel_, &PromptPanel::promptEdited, this,
          [this](const QString& text, const std::optional<QString>& reference) {
            session_.setPrompt(text, reference);
            settings_.setPrompt(text);
          });
  connect(promptPanel_, &PromptPanel::generateRequested, this, [this] {
    session_.setPrompt(promptPanel_->prompt(), promptPanel_->reference());
    session_.generate();
  });
  connect(&session_, &StudioSession::promptChanged, this,
          [this] { promptPanel_->setPrompt(session_.prompt(), session_.reference()); });
  connect(promptPanel_, &PromptPanel::cancelRequested, &session_, &StudioSession::cancelGeneration);
  connect(&session_, &StudioSession::busyChanged, promptPanel_, &PromptPanel::setBusy);

  connect(controlPanel_, &ControlPanel::controlsEdited, this, [this](const DecodeControls& c) {
    session_.setControls(c);
    settings_.setControls(session_.controls());
  });
  // A slider is debounced while it moves; once released, its value is final.
  connect(controlPanel_, &ControlPanel::editingFinished, &session_, &StudioSession::redecodeNow);
  connect(&session_, &StudioSession::controlsChanged, this, [this] {
    controlPanel_->setControls(session_.controls());
    tokenView_->setMeasure(session_.controls().measure);
    refreshLambda();
    refreshTracePanels();
  });
  connect(&session_, &StudioSession::lambdaChanged, this, &MainWindow::refreshLambda);
  connect(&session_, &StudioSession::calibrationChanged, this, &MainWindow::refreshLambda);

}

void MainWindow::connectGeneration() {
  connect(measures_, &MeasureComparisonView::compareRequested, this, [this] {
    session_.setPrompt(promptPanel_->prompt(), promptPanel_->reference());
    session_.compareMeasures();
  });
  connect(&session_, &StudioSession::measureComparisonStarted, measures_, &MeasureComparisonView::showBusy);
  connect(&session_, &StudioSession::measureComparisonFinished, this,
          [this] { measures_->showRuns(session_.measureRuns()); });
  connect(&session_, &StudioSession::measureComparisonFailed, this,
          [this](const QString& message) { measures_->showMessage(failureHtml(message)); });
  connect(&session_, &StudioSession::generationStarted, this, [this] {
    leavePlayback();
    tokenView_->setVerifyMode(session_.decodeOptions().verify_draft > 0);
    tokenView_->markStale();
    promptPanel_->setStatus(tr("<span style='color:#666'>Decoding with λ = %1…</span>").arg(session_.lambda(), 0, 'f', 3));
  });
  connect(&session_, &StudioSession::tokenStreamed, this, [this](int i) {
    const auto& tokens = session_.streamedTokens();
    if (i < static_cast<int>(tokens.size()))
      tokenView_->setToken(i, tokens[static_cast<std::size_t>(i)], session_.streamedPieces().value(i));
  });
  connect(&session_, &StudioSession::outcomeChanged, this, &MainWindow::onOutcome);
  connect(&session_, &StudioSession::generationFailed, this, [this](const QString& message) {
    promptPanel_->setStatus(failureHtml(message));
    statusBar()->showMessage(message);
    onOutcome();  // back to the last good result
  });
  connect(&session_, &StudioSession::generationCancelled, this, [this] {
    promptPanel_->setStatus(tr("<span style='color:#666'>Cancelled.</span>"));
    onOutcome();
  });

  connect(tokenView_, &TokenView::tokenClicked, this, &MainWindow::selectToken);
  connect(heatmap_, &LayerHeatmap::tokenClicked, this, &MainWindow::selectToken);

}

void MainWindow::connectCalibration() {
  CalibrationController& calibrator = session_.calibrator();
  connect(calibrationPanel_, &CalibrationPanel::runRequested, this,
          [this](const QString& set, int maxExamples, double step) {
            settings_.setCalibrationSet(set);
            session_.startCalibration(set, maxExamples, step);
          });
  connect(calibrationPanel_, &CalibrationPanel::cancelRequested, &session_, &StudioSession::cancelCalibration);
  connect(calibrationPanel_, &CalibrationPanel::chooseFileRequested, this, [this] {
    const QString file = QFileDialog::getOpenFileName(this, tr("Calibration set"), QString(),
                                                      tr("JSON lines (*.jsonl *.json);;All files (*)"));
    if (!file.isEmpty()) calibrationPanel_->addSet(file);
  });
  connect(&calibrator, &CalibrationController::runningChanged, calibrationPanel_, &CalibrationPanel::setRunning);
  connect(&calibrator, &CalibrationController::started, this,
          [this](const QString&, int examples) { calibrationPanel_->showStarted(examples); });
  connect(&calibrator, &CalibrationController::progress, calibrationPanel_, &CalibrationPanel::showProgress);
  connect(&calibrator, &CalibrationController::failed, this, [this](const QString& message) {
    calibrationPanel_->showMessage(failureHtml(tr("Calibration failed: %1").arg(message)));
  });
  connect(&calibrator, &CalibrationController::cancelled, this, [this] {
    calibrationPanel_->showMessage(tr("<span style='color:#666'>Calibration cancelled; the previous result, if "
                                      "any, still stands.</span>"));
  });
  connect(&calibrator, &CalibrationController::finished, this, [this] {
    calibrationPanel_->showMessage(tr("<span style='color:#1a7f37'>Calibration finished.</span>"));
  });
  connect(calibrationPanel_, &CalibrationPanel::exportThresholdsRequested, this, [this] { exportCalibration(false); });
  connect(calibrationPanel_, &CalibrationPanel::openThresholdsRequested, this, &MainWindow::chooseThresholdsFile);
  connect(calibrationPanel_, &CalibrationPanel::openLossesRequested, this, [this, &calibrator] {
    const QString file = QFileDialog::getOpenFileName(this, tr("Losses file"), QString(),
                                                      tr("JSON lines (*.jsonl *.json);;All files (*)"));
    if (!file.isEmpty()) calibrator.openLosses(file, session_.model(), session_.modelDir(), session_.controls());
  });
  connect(calibrationPanel_, &CalibrationPanel::exportReportRequested, this, [this] { exportCalibration(true); });
}

// The thresholds file, or the report with its plots beside it (a PNG of the same name).
void MainWindow::exportCalibration(bool report) {
  const auto data = session_.calibration();
  if (!data || !session_.calibrationResult()) return;
  const QString name = QFileInfo(data->modelDir).fileName();
  const QString file = QFileDialog::getSaveFileName(
      this, report ? tr("Save calibration report") : tr("Save thresholds file"),
      report ? name + QStringLiteral("-calibration.json") : name + QStringLiteral("-thresholds.json"),
      tr("JSON (*.json)"));
  if (file.isEmpty()) return;
  QString error = report ? CalibrationExport::writeReport(*data, session_.controls(), file)
                         : CalibrationExport::writeThresholds(*data, session_.controls(), file);
  if (error.isEmpty() && report) {  // the plots beside it
    QString png = file;
    if (png.endsWith(QStringLiteral(".json"))) png.chop(5);
    png += QStringLiteral(".png");
    if (!calibrationPanel_->plots()->savePng(png)) error = tr("Could not write %1").arg(png);
  }
  calibrationPanel_->showMessage(error.isEmpty() ? tr("Saved %1").arg(QDir::toNativeSeparators(file)).toHtmlEscaped()
                                                 : failureHtml(error));
}

void MainWindow::setModelList(const QList<QPair<QString, QString>>& models) { modelPanel_->setModels(models); }

void MainWindow::restore() {
  QList<QPair<QString, QString>> models;
  for (const std::string& dir : calm::bundled_model_dirs()) {
    const QString path = QString::fromStdString(dir);
    models.append({QFileInfo(path).fileName(), path});
  }
  setModelList(models);
  session_.setControls(settings_.controls());
  controlPanel_->setControls(session_.controls());
  const QString prompt = settings_.prompt();
  if (!prompt.isEmpty()) {
    promptPanel_->setPrompt(prompt);
    session_.setPrompt(prompt);
  }
  startWithExample_ = prompt.trimmed().isEmpty();
  restoreLayout();
  QString dir = settings_.modelDir();
  if (dir.isEmpty() || !QFileInfo(dir).isDir()) dir = models.isEmpty() ? QString() : models.front().second;
  if (!dir.isEmpty()) {
    modelPanel_->setCurrentDir(dir);
    session_.loadModel(dir);
  } else {
    modelPanel_->showError(tr("No bundled model was found. Use Open… to choose a model directory."));
  }
}

void MainWindow::openModelDirectory() {
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Open a model directory"), session_.modelDir());
  if (dir.isEmpty()) return;
  modelPanel_->setCurrentDir(dir);
  session_.loadModel(dir);
}

void MainWindow::chooseThresholdsFile() {
  const QString file = QFileDialog::getOpenFileName(this, tr("Open a thresholds file"), QString(),
                                                    tr("Thresholds (*.json);;All files (*)"));
  if (!file.isEmpty()) openThresholds(file);
}

ThresholdsLoad MainWindow::openThresholds(const QString& path) {
  const ThresholdsLoad load = session_.openThresholds(path);
  if (!load.applied) {
    statusBar()->showMessage(load.error);
    showMessageBox(QMessageBox::Critical, tr("Could not open the thresholds file"), load.error);
    return load;
  }
  settings_.setControls(session_.controls());
  statusBar()->showMessage(load.warning.isEmpty() ? load.status : load.status + tr(" — made for another model"));
  if (!load.warning.isEmpty()) showMessageBox(QMessageBox::Warning, tr("Thresholds file"), load.warning);
  return load;
}

void MainWindow::showMessageBox(int icon, const QString& title, const QString& text, const QString& name) {
  auto* box = new QMessageBox(static_cast<QMessageBox::Icon>(icon), title, text, QMessageBox::Ok, this);
  box->setObjectName(name);
  box->setAttribute(Qt::WA_DeleteOnClose);
  box->open();  // window-modal, and it does not block the caller
}

void MainWindow::onModelLoaded() {
  const auto model = session_.model();
  if (!model) return;
  const QString dir = session_.modelDir();
  settings_.setModelDir(dir);
  modelPanel_->setCurrentDir(dir);
  modelPanel_->showModel(*model, *session_.modelInfo());
  const calm::ModelConfig& c = model->config;
  controlPanel_->setModelLimits(c.has_classifier(), session_.maxNewTokensLimit(), c.decoder_layers);
  tokenView_->setModel(model);
  measures_->setModel(model);
  tokenView_->setMeasure(session_.controls().measure);
  confidencePlot_->setModel(model);
  heatmap_->clear();
  comparison_->clear();
  selected_ = 0;
  traceHidden_ = true;
  refreshTracePanels();

  const QString name = QFileInfo(dir).fileName();
  promptPanel_->setExamples(ExamplePrompts::forModel(name));
  QList<QPair<QString, QString>> sets;
  for (const char* split : {"calibration", "test"}) {
    const std::string file = calm::bundled_data_file(name.toStdString(), split);
    if (!file.empty()) sets.append({tr("%1 %2 set").arg(name, QLatin1String(split)), QString::fromStdString(file)});
  }
  calibrationPanel_->setBundledSets(sets);
  bool firstStart = false;
  if (startWithExample_) {
    startWithExample_ = false;
    const QList<ExamplePrompt> examples = ExamplePrompts::forModel(name);
    if (!examples.isEmpty() && session_.prompt().trimmed().isEmpty()) {
      session_.setPrompt(examples.front().input, examples.front().reference);
      session_.generate();
      firstStart = true;
    }
  }
  const QString lastSet = settings_.calibrationSet();
  if (!lastSet.isEmpty() && QFileInfo(lastSet).isFile() && !QFileInfo(lastSet).path().contains(QStringLiteral("/data/")))
    calibrationPanel_->addSet(lastSet);
  statusBar()->showMessage(tr("Loaded %1 (%2 decoder layers).").arg(name).arg(c.decoder_layers) +
                               (firstStart ? tr(" New here? Help ▸ Guided tour walks through the panels.") : QString()),
                           firstStart ? 20000 : 5000);
  promptPanel_->setStatus(QString());
  refreshLambda();
}

void MainWindow::onOutcome() {
  playback_->unload();
  heatmap_->setReveal(-1, 0, false, false);
  const auto outcome = session_.outcome();
  const QString noTrace = session_.traceUnavailableReason();
  playbackBar_->setAvailable(outcome && outcome->traced() && noTrace.isEmpty(),
                             !outcome ? tr("Generate to play the decode back step by step.")
                                      : !noTrace.isEmpty() ? noTrace
                                                           : tr("This run has no per-layer trace to play back."));
  if (!outcome) {
    tokenView_->clear();
    comparison_->clear();
    traceHidden_ = true;
    refreshTracePanels();
    refreshSchedule();
    return;
  }
  const GenerationOutcome& o = *outcome;
  tokenView_->setMeasure(o.options.measure);
  tokenView_->setVerifyMode(o.isVerify());
  tokenView_->showTokens(o.calm.trace, o.calmPieces);
  comparison_->showOutcome(o);
  tokenView_->setDifferences(comparison_->calmDifferences());
  if (selected_ >= o.tokenCount()) selected_ = 0;
  traceHidden_ = true;  // rebuilt from this outcome
  refreshTracePanels();
  selectToken(selected_);
  refreshSchedule();
  promptPanel_->setStatus(outcomeSummary(o));
}

void MainWindow::chooseBatchFiles() {
  const QString input = QFileDialog::getOpenFileName(this, tr("Prompts to decode"), QString(),
                                                     tr("JSON lines (*.jsonl *.json);;All files (*)"));
  if (input.isEmpty()) return;
  const QFileInfo in(input);
  const QString suggested = in.dir().filePath(in.completeBaseName() + QStringLiteral(".out.jsonl"));
  const QString output = QFileDialog::getSaveFileName(this, tr("Write the outputs to"), suggested,
                                                      tr("JSON lines (*.jsonl)"));
  if (!output.isEmpty()) runBatch(input, output);
}

void MainWindow::runBatch(const QString& input, const QString& output) { session_.runBatch(input, output); }

void MainWindow::connectBatch() {
  connect(&session_, &StudioSession::batchStarted, this, [this](const QString& input) {
    if (!batchDialog_) {
      batchDialog_ = new QProgressDialog(this);
      batchDialog_->setObjectName(QStringLiteral("batchProgress"));
      batchDialog_->setWindowTitle(tr("Run a JSONL file"));
      batchDialog_->setWindowModality(Qt::NonModal);  // the rest of the app stays usable
      batchDialog_->setAutoClose(false);
      batchDialog_->setAutoReset(false);
      connect(batchDialog_, &QProgressDialog::canceled, &session_, &StudioSession::cancelBatch);
    }
    batchDialog_->setLabelText(tr("Decoding the prompts of %1…").arg(QFileInfo(input).fileName()));
    batchDialog_->setRange(0, 0);  // busy until the file is read
    batchDialog_->setValue(0);
    batchDialog_->show();
  });
  connect(&session_, &StudioSession::batchProgress, this, [this](int done, int total) {
    if (!batchDialog_) return;
    batchDialog_->setRange(0, total);
    batchDialog_->setValue(done);
  });
  const auto closeDialog = [this] {
    if (batchDialog_) batchDialog_->hide();
  };
  connect(&session_, &StudioSession::batchFinished, this, [this, closeDialog](const BatchOutcome& outcome) {
    closeDialog();
    statusBar()->showMessage(outcome.summary, 15000);
    showMessageBox(outcome.failed > 0 || outcome.cancelled ? QMessageBox::Warning : QMessageBox::Information,
                   tr("Run a JSONL file"), outcome.summary, QStringLiteral("batchMessage"));
  });
  connect(&session_, &StudioSession::batchFailed, this, [this, closeDialog](const QString& message) {
    closeDialog();
    statusBar()->showMessage(message, 15000);
    showMessageBox(QMessageBox::Critical, tr("Run a JSONL file"), message, QStringLiteral("batchMessage"));
  });
}

void MainWindow::startTour() {
  if (!tour_) {
    tour_ = new GuidedTour(this, tourSteps());
    connect(tour_, &GuidedTour::tabNeeded, this, &MainWindow::showTab);
  }
  tour_->start();
}

void MainWindow::connectPlayback() {
  // Any control enters the playback first; the first press shows step 1.
  const auto control = [this](auto act) {
    return [this, act] {
      if (!playback_->loaded()) {
        startPlayback();
        return;
      }
      act();
    };
  };
  connect(playbackBar_, &PlaybackBar::restartRequested, this, control([this] { playback_->seek(0); }));
  connect(playbackBar_, &PlaybackBar::previousTokenRequested, this, control([this] { playback_->previousToken(); }));
  connect(playbackBar_, &PlaybackBar::stepBackRequested, this, control([this] { playback_->stepBack(); }));
  connect(playbackBar_, &PlaybackBar::stepRequested, this, control([this] { playback_->stepForward(); }));
  connect(playbackBar_, &PlaybackBar::nextTokenRequested, this, control([this] { playback_->nextToken(); }));
  connect(playbackBar_, &PlaybackBar::playPauseRequested, this, [this] {
    if (playback_->playing()) {
      playback_->pause();
    } else if (playback_->loaded() || startPlayback()) {
      playback_->play();
    }
  });
  connect(playbackBar_, &PlaybackBar::stepsPerSecondChosen, playback_, &Playback::setStepsPerSecond);
  connect(playbackBar_, &PlaybackBar::showAllRequested, this, &MainWindow::leavePlayback);
  connect(playback_, &Playback::playingChanged, playbackBar_, &PlaybackBar::setPlaying);
  connect(playback_, &Playback::stepChanged, this, &MainWindow::showPlaybackStep);
  playback_->setStepsPerSecond(playbackBar_->stepsPerSecond());
}

bool MainWindow::startPlayback() {
  const auto outcome = session_.outcome();
  if (!outcome || !outcome->traced() || !session_.traceUnavailableReason().isEmpty()) return false;
  // load() emits stepChanged: the views show the first step.
  return playback_->load(outcome->calm.trace, outcome->calmPieces, outcome->numLayers(), outcome->options.kv_mode);
}

void MainWindow::showPlaybackStep() {
  const auto outcome = session_.outcome();
  const auto model = session_.model();
  if (!playback_->loaded() || !outcome || !model) return;
  const Playback::Step step = playback_->step();
  const std::vector<calm::TokenTrace> tokens = playback_->visibleTokens();
  QStringList pieces = outcome->calmPieces.mid(0, step.token);
  pieces << QString::fromStdString(model->tokenizer.piece(playback_->candidateToken()));
  tokenView_->setDifferences({});
  tokenView_->showTokens(tokens, pieces);
  tokenView_->setSelected(step.token);
  confidencePlot_->showToken(step.token, tokens.back(), pieces.back(), outcome->options.measure);
  const bool exited = step.phase != Playback::Phase::Layer;
  heatmap_->setReveal(step.token, step.layer, exited, step.phase == Playback::Phase::Fill);
  heatmap_->setSelected(step.token);
  schedule_->showSchedule(session_.lambda(), session_.controls().tau, session_.controls().max_new_tokens,
                          step.token + 1);
  playbackBar_->showStep(playback_->position(), playback_->stepCount(), step.token, outcome->tokenCount(),
                         step.layer, outcome->numLayers(), playback_->narration());
}

void MainWindow::leavePlayback() {
  if (!playback_->loaded()) return;
  playback_->unload();
  playbackBar_->showIdle();
  onOutcome();
}

void MainWindow::refreshTracePanels() {
  const QString reason = session_.traceUnavailableReason();
  if (!reason.isEmpty()) {
    confidencePlot_->showMessage(reason);
    heatmap_->showMessage(reason);
    traceHidden_ = true;
    return;
  }
  if (!traceHidden_) return;  // already showing the outcome
  traceHidden_ = false;
  const auto outcome = session_.outcome();
  if (!outcome) {
    heatmap_->clear();
    confidencePlot_->showMessage(tr("Generate, then click a token to see its confidence layer by layer."));
    return;
  }
  heatmap_->setTokens(outcome->calm.trace, outcome->calmPieces, outcome->numLayers());
  if (selected_ < outcome->tokenCount()) selectToken(selected_);
}

void MainWindow::selectToken(int index) {
  const auto outcome = session_.outcome();
  if (!outcome || index < 0 || index >= outcome->tokenCount()) return;
  if (playback_->loaded()) {  // in the playback a click goes to that token
    playback_->seekToken(index);
    return;
  }
  selected_ = index;
  tokenView_->setSelected(index);
  if (!session_.traceUnavailableReason().isEmpty()) return;  // the per-layer views say why they are empty
  heatmap_->setSelected(index);
  confidencePlot_->showToken(index, outcome->calm.trace[static_cast<std::size_t>(index)],
                             outcome->calmPieces.value(index), outcome->options.measure);
}

void MainWindow::refreshLambda() {
  controlPanel_->setLambdaInForce(session_.lambda(), session_.lambdaExplanation(), session_.lambdaIsCalibrated());
  const auto model = session_.model();
  calibrationPanel_->showResult(session_.calibration().get(), session_.calibrationResult(), session_.controls(),
                                session_.calibrationMismatch(), model ? model->config.decoder_layers : 0);
  refreshSchedule();
}

void MainWindow::refreshSchedule() {
  const auto outcome = session_.outcome();
  schedule_->showSchedule(session_.lambda(), session_.controls().tau, session_.controls().max_new_tokens,
                          outcome ? outcome->tokenCount() : -1);
}

void MainWindow::startCalibration(const QString& set, int maxExamples, double step) {
  calibrationPanel_->addSet(set);
  calibrationPanel_->setMaxExamples(maxExamples);
  session_.startCalibration(set, maxExamples, step);
}

void MainWindow::showTab(const QString& name) {
  for (int i = 0; i < tabs_->count(); ++i)
    if (tabs_->widget(i)->property("tabName").toString() == name) tabs_->setCurrentIndex(i);
}

void MainWindow::saveLayout() {
  QByteArray state;
  QDataStream out(&state, QIODevice::WriteOnly);
  out << outer_->saveState() << vertical_->saveState() << bottom_->saveState() << tabs_->currentIndex()
      << static_cast<int>(heatmap_->mode());
  settings_.setWindow(saveGeometry(), state);
  settings_.sync();
}

void MainWindow::restoreLayout() {
  const QByteArray geometry = settings_.windowGeometry();
  if (!geometry.isEmpty()) restoreGeometry(geometry);
  QByteArray state = settings_.windowState();
  if (state.isEmpty()) return;
  QDataStream in(&state, QIODevice::ReadOnly);
  QByteArray a, b, c;
  int tabIndex = 0, mode = 0;
  in >> a >> b >> c >> tabIndex >> mode;
  if (in.status() != QDataStream::Ok) return;
  outer_->restoreState(a);
  vertical_->restoreState(b);
  bottom_->restoreState(c);
  if (tabIndex >= 0 && tabIndex < tabs_->count()) tabs_->setCurrentIndex(tabIndex);
  heatmap_->setMode(mode == 1 ? LayerHeatmap::Mode::Agreement : LayerHeatmap::Mode::Confidence);
}

void MainWindow::closeEvent(QCloseEvent* event) {
  saveLayout();
  session_.cancelGeneration();
  session_.cancelCalibration();
  QMainWindow::closeEvent(event);
}

QString MainWindow::exportFigure(const QString& what, const QString& path) {
  if (what == QLatin1String("tokens")) {
    const auto outcome = session_.outcome();
    if (!outcome) return tr("Nothing to export yet: generate first.");
    try {
      calm::write_output_file(path.toStdString(), tokenTableCsv(*outcome).toStdString(), "the token table");
    } catch (const std::exception& e) {
      return QString::fromUtf8(e.what());
    }
    return {};
  }
  if (what == QLatin1String("output")) return saveFigure(tokenView_, path);
  if (what == QLatin1String("confidence")) return savePlot(confidencePlot_, path);
  if (what == QLatin1String("heatmap")) return savePlot(heatmap_->plot(), path);
  if (what == QLatin1String("schedule")) return savePlot(schedule_, path);
  return tr("Unknown figure “%1”").arg(what);
}

void MainWindow::chooseExportFile(const QString& what) {
  const bool csv = what == QLatin1String("tokens");
  const QString file = QFileDialog::getSaveFileName(
      this, tr("Export"), QStringLiteral("calm-%1.%2").arg(what, csv ? QStringLiteral("csv") : QStringLiteral("svg")),
      csv ? tr("CSV (*.csv)") : figureFileFilter());
  if (file.isEmpty()) return;
  const QString error = exportFigure(what, file);
  if (error.isEmpty())
    statusBar()->showMessage(tr("Exported %1").arg(QDir::toNativeSeparators(file)));
  else
    showMessageBox(QMessageBox::Warning, tr("Export failed"), error);
}

}  // namespace calm::ui
