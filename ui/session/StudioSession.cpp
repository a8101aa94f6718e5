#include "session/StudioSession.h"

#include <algorithm>
#include <exception>

#include <QDir>
#include <QFileInfo>
#include <QMetaObject>
#include <QtConcurrent/QtConcurrentRun>

#include "session/GenerationRun.h"
#include "session/ThresholdsImport.h"
#include "calibrate/bundled.h"
#include "util/error.h"
#include "util/hash.h"

namespace calm::ui {

namespace {

constexpr int kDefaultDebounceMs = 250;
QString describe(const std::exception& e) { return QString::fromUtf8(e.what()); }

// Whether two option sets decode differently (and so a change needs a new run).
bool sameDecoding(const calm::DecodeOptions& a, const calm::DecodeOptions& b) {
  return a.rule() == b.rule() && a.trace == b.trace;
}

// The repetition remedies the bundled files were made with, in words: "no
// repetition penalty or n-gram ban or repeated 3-grams banned".
QString bundledRemedies(const std::vector<calm::BundledThresholds>& files) {
  QStringList seen;
  for (const calm::BundledThresholds& f : files) {
    const calm::Thresholds& t = f.thresholds;
    QString what;
    if (t.repetition_penalty == 1.0 && t.no_repeat_ngram == 0) what = QStringLiteral("no repetition penalty or n-gram ban");
    else if (t.repetition_penalty == 1.0) what = QStringLiteral("repeated %1-grams banned").arg(t.no_repeat_ngram);
    else if (t.no_repeat_ngram == 0) what = QStringLiteral("repetition penalty %1").arg(t.repetition_penalty);
    else what = QStringLiteral("repetition penalty %1 with repeated %2-grams banned").arg(t.repetition_penalty).arg(t.no_repeat_ngram);
    if (!seen.contains(what)) seen << what;
  }
  return seen.join(QStringLiteral(" or "));
}

}  // namespace

StudioSession::StudioSession(QObject* parent)
    : QObject(parent), loadJob_(this), generationJob_(this), comparisonJob_(this), batchJob_(this),
      engineRuns_(std::make_shared<std::atomic<int>>(0)) {
  // A stale run winding down next to the new one, a comparison and a batch.
  pool_.setMaxThreadCount(4);
  debounce_.setSingleShot(true);
  debounce_.setInterval(kDefaultDebounceMs);
  connect(&debounce_, &QTimer::timeout, this, &StudioSession::startGeneration);
  calibrator_ = new CalibrationController(engineRuns_, this);
  connect(calibrator_, &CalibrationController::finished, this, &StudioSession::setCalibration);
}

StudioSession::~StudioSession() {
  debounce_.stop();
  generationJob_.cancel();
  comparisonJob_.cancel();
  batchJob_.cancel();
  loadJob_.cancel();
  pool_.waitForDone();
}

// ---------------------------------------------------------------- the model

bool StudioSession::setWeightType(const QString& name) {
  try {
    (void)calm::parse_weight_type(name.toStdString());
  } catch (const calm::Error&) {
    return false;
  }
  if (name == weightType_) return false;
  weightType_ = name;
  return true;
}

void StudioSession::cancelModelLoad() { loadJob_.cancel(); }

void StudioSession::loadModel(const QString& requested) {
  const QString dir = requested.isEmpty() ? QString() : QDir::cleanPath(QFileInfo(requested).absoluteFilePath());
  const LatestJob::Ticket job = loadJob_.start();  // a load still running is not wanted any more
  emit modelLoading(dir);
  setBusy();
  const std::string path = dir.toStdString();
  calm::LoadOptions options;
  options.weights = calm::parse_weight_type(weightType_.toStdString());
  (void)QtConcurrent::run(&pool_, [this, job, dir, path, options] {
    std::shared_ptr<const calm::Model> model;
    std::optional<calm::ModelInfo> info;
    std::vector<calm::BundledThresholds> bundled;
    QString hash;
    QString error;
    bool cancelled = false;
    // Progress goes to the GUI thread at most once a percent (and at each new file).
    int lastPercent = -1;
    const calm::LoadProgressCallback progress = [&](const calm::LoadProgress& p) {
      const int percent = static_cast<int>(p.fraction * 100);
      if (percent != lastPercent) {
        lastPercent = percent;
        const QString stage = QString::fromStdString(p.stage);
        loadJob_.report(job, [this, p, stage] { emit modelLoadProgress(p.fraction, stage); });
      }
      return !job.cancelled();
    };
    try {
      if (path.empty()) throw calm::Error("no model directory given");
      if (!QFileInfo(QString::fromStdString(path)).isDir())
        throw calm::Error(path + ": no such directory");
      calm::LoadedModel loaded = calm::load_model_reporting(path, options, progress);
      info = std::move(loaded.info);
      model = std::make_shared<const calm::Model>(std::move(loaded.model));
      // Certified thresholds shipped with the model (hashing the weights only when there are some).
      if (QFileInfo(dir + QStringLiteral("/thresholds")).isDir()) {
        hash = QString::fromStdString(calm::file_hash(path + "/model.safetensors"));
        bundled = calm::bundled_thresholds(path, hash.toStdString());
      }
    } catch (const calm::LoadCancelled&) {
      cancelled = true;
    } catch (const std::exception& e) {
      error = describe(e);
    } catch (...) {
      error = QStringLiteral("unknown error while loading the model");
    }
    loadJob_.finish(job, [this, dir, model, info, bundled, hash, error, cancelled] {
      if (cancelled) {
        emit modelLoadCancelled(dir);
      } else if (model) {
        useModel(dir, model, info, bundled, hash);
      } else {
        emit modelFailed(dir, error);
      }
    }, [this] { setBusy(); });
  });
}

void StudioSession::useModel(const QString& dir, std::shared_ptr<const calm::Model> model,
                             const std::optional<calm::ModelInfo>& info,
                             std::vector<calm::BundledThresholds> bundled, const QString& hash) {
  cancelGeneration();
  model_ = std::move(model);
  modelInfo_ = info;
  modelDir_ = dir;
  outcome_.reset();
  fullCache_.reset();
  streamed_.clear();
  streamedPieces_.clear();
  armed_ = false;
  thresholdsSource_.reset();
  modelHash_.reset();
  if (!hash.isEmpty()) modelHash_ = hash;
  bundled_ = std::move(bundled);
  const DecodeControls fitted = fitControlsToModel(controls_, *model_, maxNewTokensLimit());
  if (!(fitted == controls_)) {
    controls_ = fitted;
    emit controlsChanged();
  }
  refreshCalibrationResult();
  emit modelLoaded(dir);
  emit outcomeChanged();
  emit lambdaChanged(lambda());
}

// ---------------------------------------------------------------- prompt and controls

void StudioSession::setPrompt(const QString& prompt, const std::optional<QString>& reference) {
  if (prompt == prompt_ && reference == reference_) return;
  prompt_ = prompt;
  reference_ = reference;
  emit promptChanged();
}

void StudioSession::setControls(const DecodeControls& controls) {
  if (controls == controls_) return;
  if (thresholdsSource_ &&
      (controls.lambdaFromCalibration || controls.lambda != thresholdsSource_->lambda))
    thresholdsSource_.reset();  // lambda is set another way now
  const calm::DecodeOptions before = decodeOptions();
  const double lambdaBefore = lambda();
  const bool metricChanged = controls.metric != controls_.metric;
  controls_ = controls;
  // Moving delta or epsilon re-reads the cached losses; the model does not run.
  refreshCalibrationResult();
  emit controlsChanged();
  if (lambda() != lambdaBefore) emit lambdaChanged(lambda());

  const calm::DecodeOptions after = decodeOptions();
  const bool decodeChanged = !sameDecoding(before, after);
  if (decodeChanged && armed_ && hasModel() && !prompt_.trimmed().isEmpty())
    debounce_.start();
  else if (metricChanged && outcome_)
    recomputeDistances();
}

bool StudioSession::calibratedInApp(const DecodeControls& c) const {
  return calibrationResult_ && calibration_ && calibration_->matches(modelDir_, c) && calibrationError_.isEmpty();
}

const calm::BundledThresholds* StudioSession::bundledFor(const DecodeControls& c) const {
  return calm::find_thresholds(bundled_, c, c.guarantee());
}

double StudioSession::lambdaFor(const DecodeControls& c) const {
  if (c.lambdaFromCalibration) {
    if (calibratedInApp(c)) return calibrationResult_->lambda;
    if (const calm::BundledThresholds* b = bundledFor(c)) return b->thresholds.lambda;
  }
  return c.lambda;
}

double StudioSession::lambda() const { return lambdaFor(controls_); }

bool StudioSession::lambdaIsCalibrated() const {
  if (!controls_.lambdaFromCalibration && thresholdsSource_) return thresholdsSource_->sameModel;
  return controls_.lambdaFromCalibration && (calibratedInApp(controls_) || bundledFor(controls_));
}

QString StudioSession::lambdaExplanation() const {
  if (!controls_.lambdaFromCalibration && thresholdsSource_)
    return QStringLiteral("from %1 (%2)%3")
        .arg(thresholdsSource_->file,
             guaranteeText(thresholdsSource_->delta, thresholdsSource_->epsilon, thresholdsSource_->method),
             thresholdsSource_->sameModel ? QString() : QStringLiteral(", made for another model"));
  if (!controls_.lambdaFromCalibration) return QStringLiteral("set by hand");
  const QString why = calibrationMismatch();
  if (calibration_ && why.isEmpty()) {
    const auto& r = *calibrationResult_;
    if (!r.chosen_index)
      return QStringLiteral("calibrated: no lambda passed for %1, so every token runs the full depth")
          .arg(guaranteeText(controls_.delta, controls_.epsilon, controls_.method));
    return QStringLiteral("calibrated for %1 on %2 examples")
        .arg(guaranteeText(controls_.delta, controls_.epsilon, controls_.method))
        .arg(r.examples);
  }
  if (const calm::BundledThresholds* b = bundledFor(controls_)) {
    const calm::Thresholds& t = b->thresholds;
    return QStringLiteral("certified for %1 by the model's bundled calibration (%2 examples, %3; %4)")
        .arg(guaranteeText(t.delta, t.epsilon, t.method))
        .arg(t.examples)
        .arg(QString::fromStdString(t.created.substr(0, 10)), QFileInfo(QString::fromStdString(b->path)).fileName());
  }
  if (calibration_)
    return QStringLiteral("the calibration does not apply (%1): the hand-set value is used").arg(why);
  if (!bundled_.empty())
    return QStringLiteral("no calibration for these settings yet: the hand-set value is used (the model's bundled "
                          "calibrations cover textual ROUGE-L at δ = 0.1 and 0.25, ε = 0.05, with the default "
                          "exit checks, τ and max new tokens, and %1)")
        .arg(bundledRemedies(bundled_));
  return QStringLiteral("no calibration yet: the hand-set value is used");
}

calm::DecodeOptions StudioSession::decodeOptions() const { return decodeOptionsFor(controls_, lambda()); }

QString StudioSession::verifyNoTraceText() {
  return QStringLiteral("Verify mode checks drafts with the full model;\nper-layer traces are shown in CALM mode.");
}

QString StudioSession::traceUnavailableReason() const {
  if (controls_.verify || (outcome_ && !outcome_->traced())) return verifyNoTraceText();
  return {};
}

int StudioSession::maxNewTokensLimit() const {
  if (!model_) return 512;
  const calm::ModelConfig& c = model_->config;
  const int limit = c.arch == calm::Arch::EncoderDecoder ? c.max_positions : std::max(1, c.max_positions / 2);
  return std::clamp(limit, 1, 512);
}

QString StudioSession::modelHash() const {
  if (!model_) return {};
  if (!modelHash_) {
    try {
      modelHash_ = QString::fromStdString(calm::file_hash(model_->dir + "/model.safetensors"));
    } catch (const std::exception&) {
      modelHash_ = QString();
    }
  }
  return *modelHash_;
}

ThresholdsLoad StudioSession::openThresholds(const QString& path) {
  const ThresholdsImport in = importThresholds(path, controls_, model_.get(), modelHash(), maxNewTokensLimit());
  ThresholdsLoad load;
  if (!in.error.isEmpty()) {
    load.error = in.error;
    return load;
  }
  thresholdsSource_ = in.source;  // before setControls, which keeps it for this lambda
  setControls(in.controls);
  thresholdsSource_ = in.source;
  emit lambdaChanged(lambda());
  load.applied = true;
  load.warning = in.warnings.join(QLatin1Char('\n'));
  load.status = in.status;
  return load;
}

// ---------------------------------------------------------------- generation

void StudioSession::generate() {
  debounce_.stop();
  armed_ = true;
  startGeneration();
}

void StudioSession::redecodeNow() {
  if (!debounce_.isActive()) return;
  debounce_.stop();
  startGeneration();
}

void StudioSession::cancelGeneration() {
  debounce_.stop();
  if (generationJob_.isRunning()) generationJob_.cancel();  // a result already on its way is dropped too
}

void StudioSession::startGeneration() {
  if (!model_) {
    emit generationFailed(QStringLiteral("No model is loaded: choose one in the model list or open a model directory."));
    return;
  }
  if (prompt_.trimmed().isEmpty()) {
    emit generationFailed(QStringLiteral("The prompt is empty: type some text, or pick an example."));
    return;
  }
  const LatestJob::Ticket job = generationJob_.start();  // the previous run stops at its next token
  streamed_.clear();
  streamedPieces_.clear();
  emit generationStarted();
  setBusy();

  GenerationRequest request;
  request.model = model_;
  request.prompt = prompt_.toStdString();
  request.reference = reference_;
  request.options = decodeOptions();
  request.metric = controls_.metric;
  request.cachedFull = fullCache_;
  auto runs = engineRuns_;
  (void)QtConcurrent::run(&pool_, [this, job, request, runs] {
    const auto stream = [this, &job](const calm::TokenTrace& token, const QString& piece) {
      generationJob_.report(job, [this, serial = job.serial, token, piece] {
        if (generationJob_.wasCancelled(serial)) return;
        streamed_.push_back(token);
        streamedPieces_ << piece;
        emit tokenStreamed(static_cast<int>(streamed_.size()) - 1);
      });
      return true;
    };
    const GenerationResult result = runGeneration(request, *job.cancel, *runs, stream);
    generationJob_.finish(job, [this, serial = job.serial, result] {
      if (!result.error.isEmpty()) {
        emit generationFailed(result.error);
      } else if (result.cancelled || generationJob_.wasCancelled(serial)) {
        emit generationCancelled();
      } else {
        fullCache_ = result.full;
        outcome_ = result.outcome;
        streamed_ = outcome_->calm.trace;
        streamedPieces_ = outcome_->calmPieces;
        emit generationFinished();
        emit outcomeChanged();
      }
    }, [this] { setBusy(); });
  });
}

void StudioSession::compareMeasures() {
  if (!model_ || prompt_.trimmed().isEmpty()) {
    emit measureComparisonFailed(!model_ ? QStringLiteral("No model is loaded.")
                                         : QStringLiteral("The prompt is empty: type some text, or pick an example."));
    return;
  }
  const LatestJob::Ticket job = comparisonJob_.start();
  emit measureComparisonStarted();
  (void)QtConcurrent::run(&pool_, [this, job, model = model_, prompt = prompt_.toStdString(), controls = controls_,
                                   bundled = bundled_] {
    std::vector<MeasureRun> runs;
    QString error;
    try {
      runs = calm::ui::compareMeasures(*model, prompt, controls, bundled, *job.cancel);
    } catch (const std::exception& e) {
      error = describe(e);
    }
    comparisonJob_.finish(job, [this, runs, error, cancelled = job.cancelled()] {
      if (!error.isEmpty()) {
        emit measureComparisonFailed(error);
      } else if (!cancelled) {
        measureRuns_ = runs;
        emit measureComparisonFinished();
      }
    });
  });
}

void StudioSession::runBatch(const QString& input, const QString& output) {
  if (!model_) {
    emit batchFailed(QStringLiteral("No model is loaded."));
    return;
  }
  const LatestJob::Ticket job = batchJob_.start();
  emit batchStarted(input);
  (void)QtConcurrent::run(&pool_, [this, job, model = model_, input, output, options = decodeOptions()] {
    BatchOutcome outcome;
    QString error;
    try {
      outcome = runBatchFile(*model, input, output, options, *job.cancel,
                             [this, job](int done, int total) {
                               batchJob_.report(job, [this, done, total] { emit batchProgress(done, total); });
                             });
    } catch (const std::exception& e) {
      error = describe(e);
    }
    batchJob_.finish(job, [this, outcome, error] {
      if (!error.isEmpty())
        emit batchFailed(error);
      else
        emit batchFinished(outcome);
    });
  });
}

void StudioSession::recomputeDistances() {
  if (!outcome_) return;
  auto copy = std::make_shared<GenerationOutcome>(*outcome_);
  copy->metric = controls_.metric;
  fillDistances(*copy);
  outcome_ = copy;
  emit outcomeChanged();
}

void StudioSession::setBusy() {
  const bool busy = generationJob_.isRunning() || loadJob_.isRunning();
  if (busy == wasBusy_) return;
  wasBusy_ = busy;
  emit busyChanged(busy);
}

// ---------------------------------------------------------------- calibration

void StudioSession::startCalibration(const QString& dataset, int maxExamples, double step) {
  calibrator_->start(model_, modelDir_, dataset, controls_, maxExamples, step);
}

void StudioSession::cancelCalibration() { calibrator_->cancel(); }

void StudioSession::setCalibration(std::shared_ptr<const CalibrationData> data) {
  const double before = lambda();
  calibration_ = std::move(data);
  refreshCalibrationResult();
  if (lambda() != before) {
    emit lambdaChanged(lambda());
    if (armed_ && hasModel() && !prompt_.trimmed().isEmpty()) debounce_.start();
  }
}

QString StudioSession::calibrationMismatch() const {
  if (!calibration_) return {};
  const QString why = calibration_->mismatch(modelDir_, controls_);
  if (!calibrationError_.isEmpty()) return why.isEmpty() ? calibrationError_ : why + QStringLiteral("; ") + calibrationError_;
  return why;
}

void StudioSession::refreshCalibrationResult() {
  std::optional<calm::CalibrationResult> result;
  calibrationError_.clear();
  if (calibration_) {
    try {
      // Losses for the current consistency and metric, from the stored outputs.
      const auto table = calibration_->table(controls_.consistency, controls_.metric);
      if (table->grid_size() > 0 && table->examples() > 0)
        result = calm::choose_lambda(*table, controls_.delta, controls_.epsilon, controls_.method);
    } catch (const std::exception& e) {
      calibrationError_ = QString::fromUtf8(e.what());  // risk consistency without references
    }
  }
  calibrationResult_ = std::move(result);
  emit calibrationChanged();
}

}  // namespace calm::ui
