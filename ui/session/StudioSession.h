// The behaviour of CALM Studio without any window: the loaded model, the
// prompt, the controls, the last generation and the cached calibration. The
// widgets call its setters and redraw on its signals; tests drive it directly.
//
// Work never runs on the GUI thread: loading a model and decoding happen on the
// session's own thread pool. Each generation gets a cancel flag that its
// TokenCallback checks; starting a new one cancels the previous, and results of
// a stale run are dropped. A control change re-decodes after a short debounce
// once the user has generated something; redecodeNow() skips the rest of the
// wait when the user is known to be done (a slider released).
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include <QObject>
#include <QString>
#include <QStringList>
#include <QThreadPool>
#include <QTimer>

#include "session/CalibrationController.h"
#include "session/CalibrationData.h"
#include "session/DecodeControls.h"
#include "session/GenerationOutcome.h"
#include "session/BatchRun.h"
#include "session/LatestJob.h"
#include "session/MeasureComparison.h"
#include "session/ThresholdsImport.h"
#include "calibrate/bundled.h"
#include "calibrate/ltt.h"
#include "model/load.h"
#include "model/model.h"

namespace calm::ui {

struct FullRun;  // session/GenerationRun.h

// What opening a thresholds file did.
struct ThresholdsLoad {
  bool applied = false;
  QString error;    // why nothing was applied; names the file
  QString warning;  // applied, but e.g. the file was made for another model
  QString status;   // one line for the status bar: "λ = … from <file> (δ = …, ε = …)"
};

class StudioSession : public QObject {
  Q_OBJECT

 public:
  explicit StudioSession(QObject* parent = nullptr);
  ~StudioSession() override;  // cancels and waits for its workers

  // --- the model
  // In the background (the path is made absolute), in the weights type set
  // below: modelLoadProgress as it goes, then modelLoaded, modelFailed or
  // modelLoadCancelled. A new load cancels one still running.
  void loadModel(const QString& dir);
  void cancelModelLoad();  // the load stops at its next step (a file being mapped is finished first)
  bool isLoadingModel() const { return loadJob_.isRunning(); }
  bool hasModel() const { return model_ != nullptr; }
  std::shared_ptr<const calm::Model> model() const { return model_; }
  // What was loaded (variant, stored and in-memory types, tokenizer, ...); only with a model.
  const std::optional<calm::ModelInfo>& modelInfo() const { return modelInfo_; }
  QString modelDir() const { return modelDir_; }
  // The type the next load holds the large matrices in: "auto" (as stored),
  // "f32", "f16", "bf16" or "q8" (calm::parse_weight_type); others are ignored.
  // Returns whether it changed.
  bool setWeightType(const QString& name);
  QString weightType() const { return weightType_; }

  // --- the prompt; `reference` is the expected output when the prompt comes from a set
  void setPrompt(const QString& prompt, const std::optional<QString>& reference = std::nullopt);
  QString prompt() const { return prompt_; }
  std::optional<QString> reference() const { return reference_; }

  // --- the controls and the lambda they put in force
  void setControls(const DecodeControls& controls);
  const DecodeControls& controls() const { return controls_; }
  double lambda() const;                // the lambda the next generation uses
  bool lambdaIsCalibrated() const;      // taken from a calibration that matches the controls
  QString lambdaExplanation() const;    // one line for the user: where lambda comes from
  calm::DecodeOptions decodeOptions() const;  // what the next CALM run gets
  bool verifyMode() const { return controls_.verify; }
  // Why the per-layer views (confidence plot, heat map) have nothing to show
  // for the current controls or the last outcome (verify mode records no
  // trace); empty when they do.
  QString traceUnavailableReason() const;
  static QString verifyNoTraceText();
  // The most new tokens the loaded model can hold (512 without a model).
  int maxNewTokensLimit() const;

  // --- a thresholds file (calm::read_thresholds) puts its lambda, tau, measure,
  // gate, K/V mode, first exit layer, check interval and max new tokens into
  // the controls. Never throws; on error nothing changes.
  ThresholdsLoad openThresholds(const QString& path);
  // The hash of the loaded model's weights (calm::file_hash), computed once; empty when unreadable.
  QString modelHash() const;

  // --- generation
  void generate();                      // starts now; a run in progress is cancelled
  void cancelGeneration();
  bool isGenerating() const { return generationJob_.isRunning(); }
  std::shared_ptr<const GenerationOutcome> outcome() const { return outcome_; }
  // The tokens of the run in progress as they arrive (the last run's once finished).
  const std::vector<calm::TokenTrace>& streamedTokens() const { return streamed_; }
  const QStringList& streamedPieces() const { return streamedPieces_; }
  // Decoder::generate calls made so far (generation and timing runs).
  int engineRuns() const { return engineRuns_->load(); }
  // A re-decode waiting for its debounce starts now; nothing happens when none waits.
  void redecodeNow();
  bool redecodePending() const { return debounce_.isActive(); }
  void setDebounceInterval(int ms) { debounce_.setInterval(ms); }
  int debounceInterval() const { return debounce_.interval(); }
  bool autoRedecode() const { return armed_; }  // a control change will re-decode

  // --- the prompt decoded with each measure (MeasureComparison.h), in the
  // background; a new request cancels one still running.
  void compareMeasures();
  const std::vector<MeasureRun>& measureRuns() const { return measureRuns_; }
  bool isComparingMeasures() const { return comparisonJob_.isRunning(); }

  // File > Run a JSONL file: every prompt of `input` decoded with the current
  // controls (λ in force) on every core, written to `output` as JSON lines.
  void runBatch(const QString& input, const QString& output);
  void cancelBatch() { batchJob_.cancel(); }
  bool isRunningBatch() const { return batchJob_.isRunning(); }

  // --- calibration: run on a JSONL set in the background, or set from elsewhere.
  // Its outputs answer for every consistency, metric, delta, epsilon and p-value
  // method without running the model again.
  // Runs the model over at most `maxExamples` examples of `dataset` (0: all) for
  // the lambda grid with `step`, under the current controls.
  void startCalibration(const QString& dataset, int maxExamples = 0, double step = 0.05);
  void cancelCalibration();
  CalibrationController& calibrator() { return *calibrator_; }
  void setCalibration(std::shared_ptr<const CalibrationData> data);
  std::shared_ptr<const CalibrationData> calibration() const { return calibration_; }
  // Learn-then-Test for the current delta, epsilon and method; empty without a calibration.
  const std::optional<calm::CalibrationResult>& calibrationResult() const { return calibrationResult_; }
  // Why the cached calibration does not answer for the current controls; empty when it does.
  QString calibrationMismatch() const;

 signals:
  void modelLoading(const QString& dir);
  void modelLoadProgress(double fraction, const QString& stage);  // fraction 0..1
  void modelLoaded(const QString& dir);
  void modelFailed(const QString& dir, const QString& message);
  void modelLoadCancelled(const QString& dir);
  void promptChanged();
  void controlsChanged();
  void lambdaChanged(double lambda);
  void calibrationChanged();  // new data, or a new result for new (delta, epsilon)
  void generationStarted();
  void tokenStreamed(int index);
  void generationFinished();
  void generationFailed(const QString& message);
  void generationCancelled();
  void outcomeChanged();       // outcome() is new (a run finished, or its distances were recomputed)
  void busyChanged(bool busy);
  void measureComparisonStarted();
  void measureComparisonFinished();
  void measureComparisonFailed(const QString& message);
  void batchStarted(const QString& input);
  void batchProgress(int done, int total);
  void batchFinished(const BatchOutcome& outcome);  // also when cancelled (outcome.cancelled)
  void batchFailed(const QString& message);

 private:
  // A load finished: the model, what was loaded, and its certified thresholds files.
  void useModel(const QString& dir, std::shared_ptr<const calm::Model> model,
                const std::optional<calm::ModelInfo>& info, std::vector<calm::BundledThresholds> bundled,
                const QString& hash);
  void startGeneration();
  void refreshCalibrationResult();
  void recomputeDistances();
  void setBusy();
  double lambdaFor(const DecodeControls& controls) const;
  bool calibratedInApp(const DecodeControls& controls) const;  // the app's calibration answers for them
  // The model's bundled thresholds file that certifies the controls, if any.
  const calm::BundledThresholds* bundledFor(const DecodeControls& controls) const;

  QThreadPool pool_;
  QTimer debounce_;
  std::shared_ptr<const calm::Model> model_;
  std::optional<calm::ModelInfo> modelInfo_;
  std::vector<calm::BundledThresholds> bundled_;  // certified files shipped with the model
  QString modelDir_;
  QString weightType_ = QStringLiteral("auto");
  LatestJob loadJob_;
  QString prompt_;
  std::optional<QString> reference_;
  DecodeControls controls_;
  bool armed_ = false;
  bool wasBusy_ = false;

  LatestJob generationJob_;
  LatestJob comparisonJob_;
  LatestJob batchJob_;
  std::vector<MeasureRun> measureRuns_;
  std::shared_ptr<std::atomic<int>> engineRuns_;
  std::vector<calm::TokenTrace> streamed_;
  QStringList streamedPieces_;
  std::shared_ptr<const GenerationOutcome> outcome_;
  std::shared_ptr<const FullRun> fullCache_;  // the full model's last run, reused while it fits

  CalibrationController* calibrator_;
  std::shared_ptr<const CalibrationData> calibration_;
  std::optional<calm::CalibrationResult> calibrationResult_;
  QString calibrationError_;  // why the losses cannot be scored for the current controls

  // Lambda taken from a thresholds file; forgotten when lambda is set otherwise.
  std::optional<ThresholdsSource> thresholdsSource_;
  mutable std::optional<QString> modelHash_;
};

}  // namespace calm::ui
