#include "session/StudioSession.h"

#include <algorithm>
#include <exception>

#include <QDir>
#include <QFileInfo>
#include <QMetaObject>
#include <QtConcurrent/QtConcurrentRun>

#include "session/TokenText.h"
#include "calibrate/metrics.h"
#include "calibrate/thresholds.h"
#include "util/error.h"
#include "util/hash.h"

namespace calm::ui {

// The full model's answer does not depend on lambda, the measure, tau or the
// K/V mode, so moving those controls reuses it.
struct StudioSession::FullRun {
  const calm::Model* model = nullptr;
  std::string prompt;
  int maxNewTokens = 0;
  calm::DecodeResult result;
  double seconds = 0.0;
};

namespace {

constexpr int kDefaultDebounceMs = 250;
// Runs shorter than this are repeated (up to kTimingRepeats) and the fastest kept,
// so that the measured speedup of a small model is not mostly timer noise.
constexpr double kShortRunSeconds = 0.05;
constexpr int kTimingRepeats = 5;

QString describe(const std::exception& e) { return QString::fromUtf8(e.what()); }

// "δ = 0.1, ε = 0.05" (Learn then Test) or "δ = 0.1, conformal risk control".
QString guaranteeText(double delta, double epsilon, calm::CalibrationMethod method) {
  if (!calm::is_learn_then_test(method))
    return QStringLiteral("δ = %1, conformal risk control").arg(delta, 0, 'g', 3);
  return QStringLiteral("δ = %1, ε = %2").arg(delta, 0, 'g', 3).arg(epsilon, 0, 'g', 3);
}

QStringList piecesOf(const calm::Model& model, const std::vector<int>& ids) {
  QStringList pieces;
  pieces.reserve(static_cast<int>(ids.size()));
  for (int id : ids) pieces << QString::fromStdString(model.tokenizer.piece(id));
  return pieces;
}

// Whether two option sets decode differently (and so a change needs a new run).
bool sameDecoding(const calm::DecodeOptions& a, const calm::DecodeOptions& b) {
  return a.rule() == b.rule() && a.trace == b.trace;
}

QString fileLabel(const QString& path) {
  const QString name = QFileInfo(path).fileName();
  return name.isEmpty() ? path : name;
}

void fillDistances(GenerationOutcome& o) {
  const std::vector<int> early = o.calm.text_tokens(), full = o.full.text_tokens();
  o.metricName = QString::fromUtf8(calm::metric_name(o.metric));
  o.textualDistance = calm::textual_loss(o.metric, early, full);
  if (o.reference && !o.referenceIds.empty())
    o.riskDifference = calm::risk_loss(o.metric, early, full, o.referenceIds);
  else
    o.riskDifference.reset();
}

}  // namespace

StudioSession::StudioSession(QObject* parent)
    : QObject(parent), cancel_(std::make_shared<std::atomic<bool>>(false)),
      engineRuns_(std::make_shared<std::atomic<int>>(0)) {
  pool_.setMaxThreadCount(2);  // a stale run winding down next to the new one
  debounce_.setSingleShot(true);
  debounce_.setInterval(kDefaultDebounceMs);
  connect(&debounce_, &QTimer::timeout, this, &StudioSession::startGeneration);
  calibrator_ = new CalibrationController(engineRuns_, this);
  connect(calibrator_, &CalibrationController::finished, this, &StudioSession::setCalibration);
}

StudioSession::~StudioSession() {
  debounce_.stop();
  cancel_->store(true);
  cancelModelLoad();
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

void StudioSession::cancelModelLoad() {
  if (loadCancel_) loadCancel_->store(true);
}

void StudioSession::loadModel(const QString& requested) {
  const QString dir = requested.isEmpty() ? QString() : QDir::cleanPath(QFileInfo(requested).absoluteFilePath());
  const quint64 serial = ++loadSerial_;
  cancelModelLoad();  // a load still running is not wanted any more
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  loadCancel_ = cancel;
  ++loading_;
  emit modelLoading(dir);
  setBusy();
  const std::string path = dir.toStdString();
  calm::LoadOptions options;
  options.weights = calm::parse_weight_type(weightType_.toStdString());
  QThreadPool* pool = &pool_;
  (void)QtConcurrent::run(pool, [this, serial, dir, path, options, cancel] {
    std::shared_ptr<const calm::Model> model;
    std::optional<calm::ModelInfo> info;
    QString error;
    bool cancelled = false;
    // Progress goes to the GUI thread at most once a percent (and at each new file).
    int lastPercent = -1;
    const calm::LoadProgressCallback progress = [&](const calm::LoadProgress& p) {
      const int percent = static_cast<int>(p.fraction * 100);
      if (percent != lastPercent) {
        lastPercent = percent;
        const QString stage = QString::fromStdString(p.stage);
        QMetaObject::invokeMethod(this, [this, serial, p, stage] {
          if (serial == loadSerial_) emit modelLoadProgress(p.fraction, stage);
        }, Qt::QueuedConnection);
      }
      return !cancel->load();
    };
    try {
      if (path.empty()) throw calm::Error("no model directory given");
      if (!QFileInfo(QString::fromStdString(path)).isDir())
        throw calm::Error(path + ": no such directory");
      calm::LoadedModel loaded = calm::load_model_reporting(path, options, progress);
      info = std::move(loaded.info);
      model = std::make_shared<const calm::Model>(std::move(loaded.model));
    } catch (const calm::LoadCancelled&) {
      cancelled = true;
    } catch (const std::exception& e) {
      error = describe(e);
    } catch (...) {
      error = QStringLiteral("unknown error while loading the model");
    }
    QMetaObject::invokeMethod(this, [this, serial, dir, model, info, error, cancelled] {
      --loading_;
      if (serial == loadSerial_) {
        loadCancel_.reset();
        if (cancelled) {
          emit modelLoadCancelled(dir);
        } else if (model) {
          cancelGeneration();
          model_ = model;
          modelInfo_ = info;
          modelDir_ = dir;
          outcome_.reset();
          fullCache_.reset();
          streamed_.clear();
          streamedPieces_.clear();
          armed_ = false;
          thresholdsSource_.reset();
          modelHash_.reset();
          // The classifier measure and gate need a head this model may not have;
          // exit checks cannot start above its depth.
          DecodeControls fitted = controls_;
          if (!model_->config.has_classifier()) {
            if (fitted.measure == calm::Measure::Classifier) fitted.measure = calm::Measure::Softmax;
            if (fitted.gate == calm::Gate::Classifier) fitted.gate = calm::Gate::None;
          }
          const int layers = std::max(1, model_->config.decoder_layers);
          fitted.first_exit_layer = std::clamp(fitted.first_exit_layer, 1, layers);
          fitted.check_interval = std::clamp(fitted.check_interval, 1, layers);
          fitted.max_new_tokens = std::clamp(fitted.max_new_tokens, 1, maxNewTokensLimit());
          if (!(fitted == controls_)) {
            controls_ = fitted;
            emit controlsChanged();
          }
          refreshCalibrationResult();
          emit modelLoaded(dir);
          emit outcomeChanged();
          emit lambdaChanged(lambda());
        } else {
          emit modelFailed(dir, error);
        }
      }
      setBusy();
    }, Qt::QueuedConnection);
  });
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

double StudioSession::lambdaFor(const DecodeControls& c) const {
  if (c.lambdaFromCalibration && calibrationResult_ && calibration_ && calibration_->matches(modelDir_, c) &&
      calibrationError_.isEmpty())
    return calibrationResult_->lambda;
  return c.lambda;
}

double StudioSession::lambda() const { return lambdaFor(controls_); }

bool StudioSession::lambdaIsCalibrated() const {
  if (!controls_.lambdaFromCalibration && thresholdsSource_) return thresholdsSource_->sameModel;
  return controls_.lambdaFromCalibration && calibrationResult_ && calibration_ &&
         calibration_->matches(modelDir_, controls_) && calibrationError_.isEmpty();
}

QString StudioSession::lambdaExplanation() const {
  if (!controls_.lambdaFromCalibration && thresholdsSource_)
    return QStringLiteral("from %1 (%2)%3")
        .arg(thresholdsSource_->file,
             guaranteeText(thresholdsSource_->delta, thresholdsSource_->epsilon, thresholdsSource_->method),
             thresholdsSource_->sameModel ? QString() : QStringLiteral(", made for another model"));
  if (!controls_.lambdaFromCalibration) return QStringLiteral("set by hand");
  if (!calibration_) return QStringLiteral("no calibration yet: the hand-set value is used");
  const QString why = calibrationMismatch();
  if (!why.isEmpty()) return QStringLiteral("the calibration does not apply (%1): the hand-set value is used").arg(why);
  const auto& r = *calibrationResult_;
  if (!r.chosen_index)
    return QStringLiteral("calibrated: no lambda passed for %1, so every token runs the full depth")
        .arg(guaranteeText(controls_.delta, controls_.epsilon, controls_.method));
  return QStringLiteral("calibrated for %1 on %2 examples")
      .arg(guaranteeText(controls_.delta, controls_.epsilon, controls_.method))
      .arg(r.examples);
}

calm::DecodeOptions StudioSession::decodeOptions() const {
  calm::DecodeOptions o;
  o.rule() = controls_.rule();
  o.policy = calm::ExitPolicy::Calm;
  o.lambda = lambda();
  o.first_exit_layer = std::max(1, controls_.first_exit_layer);
  o.check_interval = std::max(1, controls_.check_interval);
  o.verify_draft = 0;
  o.trace = true;
  o.trace_top_k = 3;
  o.truncate_prompt = true;
  if (controls_.verify) {
    // Lossless self-speculative decoding: greedy, propagated K/V, and the core
    // records no per-layer trace for it.
    o.verify_draft = std::clamp(controls_.verify_draft, 1, 16);
    o.kv_mode = calm::KvMode::Propagate;
    o.trace = false;
  }
  return o;
}

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
  ThresholdsLoad load;
  const QString name = fileLabel(path);
  calm::Thresholds t;
  try {
    if (path.isEmpty()) throw calm::Error("no file given");
    t = calm::read_thresholds(path.toStdString());
  } catch (const std::exception& e) {
    load.error = QStringLiteral("Could not read the thresholds file “%1”: %2").arg(name, describe(e));
    return load;
  } catch (...) {
    load.error = QStringLiteral("Could not read the thresholds file “%1”: unknown error").arg(name);
    return load;
  }

  // What the loaded model can serve.
  QStringList warnings;
  bool sameModel = true;
  if (model_) {
    if (!model_->config.has_classifier() &&
        (t.measure == calm::Measure::Classifier ||
         (t.gate == calm::Gate::Classifier && calm::measure_needs_logits(t.measure)))) {
      load.error = QStringLiteral("The thresholds file “%1” uses the early-exit classifier, and the loaded model "
                                  "%2 has no classifier head: nothing was changed.")
                       .arg(name, QString::fromStdString(model_->name));
      return load;
    }
    const QString hash = modelHash();
    const QString fileModel = QString::fromStdString(t.model_name);
    const QString loaded = QString::fromStdString(model_->name);
    sameModel = !hash.isEmpty() ? hash == QString::fromStdString(t.model_hash) : fileModel == loaded;
    if (!sameModel)
      warnings << QStringLiteral("“%1” was made for the model “%2” (weights %3), but the loaded model is “%4”%5. "
                                 "Its guarantee holds for that model only; the settings were applied anyway.")
                      .arg(name, fileModel, QString::fromStdString(t.model_hash), loaded,
                           hash.isEmpty() ? QString() : QStringLiteral(" (weights %1)").arg(hash));
  } else {
    warnings << QStringLiteral("No model is loaded, so “%1” could not be checked against one.").arg(name);
  }

  DecodeControls c = controls_;
  const int draft = c.verify_draft;  // the file's rule has none; the controls remember theirs
  c.rule() = t.rule();
  c.policy = calm::ExitPolicy::Calm;
  c.verify_draft = draft;
  c.tau = std::clamp(t.tau, 0.0, 10.0);
  c.lambdaFromCalibration = false;
  if (t.kv_mode != calm::KvMode::Propagate) c.verify = false;  // verify mode drafts with propagated K/V
  const int layers = model_ ? std::max(1, model_->config.decoder_layers) : 1024;
  c.first_exit_layer = std::clamp(t.first_exit_layer, 1, layers);
  c.check_interval = std::clamp(t.check_interval, 1, layers);
  c.max_new_tokens = std::clamp(t.max_new_tokens, 1, maxNewTokensLimit());
  if (t.tau > 10.0) warnings << QStringLiteral("τ = %1 is beyond the controls' range; 10 is used.").arg(t.tau);
  if (c.first_exit_layer != t.first_exit_layer || c.check_interval != t.check_interval)
    warnings << QStringLiteral("The exit checks (from layer %1, every %2) do not fit this %3-layer model.")
                    .arg(t.first_exit_layer)
                    .arg(t.check_interval)
                    .arg(layers);
  if (c.max_new_tokens != t.max_new_tokens)
    warnings << QStringLiteral("Max new tokens %1 is more than this model can hold; %2 is used.")
                    .arg(t.max_new_tokens)
                    .arg(c.max_new_tokens);

  ThresholdsSource source;
  source.file = name;
  source.lambda = t.lambda;
  source.delta = t.delta;
  source.epsilon = t.epsilon;
  source.method = t.method;
  source.sameModel = sameModel;
  thresholdsSource_ = source;  // before setControls, which keeps it for this lambda
  setControls(c);
  thresholdsSource_ = source;
  emit lambdaChanged(lambda());

  load.applied = true;
  load.warning = warnings.join(QLatin1Char('\n'));
  load.status = QStringLiteral("λ = %1 from %2 (%3)")
                    .arg(t.lambda, 0, 'f', 3)
                    .arg(name, guaranteeText(t.delta, t.epsilon, t.method));
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
  if (running_ == 0) return;
  cancel_->store(true);
  cancelledSerial_ = runSerial_;  // a result already on its way is dropped too
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
  cancel_->store(true);  // the previous run, if any, stops at its next token
  cancel_ = std::make_shared<std::atomic<bool>>(false);
  const quint64 serial = ++runSerial_;
  ++running_;
  streamed_.clear();
  streamedPieces_.clear();
  emit generationStarted();
  setBusy();

  auto model = model_;
  const std::string prompt = prompt_.toStdString();
  const std::optional<QString> reference = reference_;
  const calm::DecodeOptions options = decodeOptions();
  const calm::Metric metric = controls_.metric;
  std::shared_ptr<const FullRun> cached = fullCache_;
  if (cached && (cached->model != model.get() || cached->prompt != prompt ||
                 cached->maxNewTokens != options.max_new_tokens))
    cached.reset();
  auto cancel = cancel_;
  auto runs = engineRuns_;

  (void)QtConcurrent::run(&pool_, [this, serial, model, prompt, reference, options, metric, cached, cancel, runs] {
    auto outcome = std::make_shared<GenerationOutcome>();
    std::shared_ptr<const FullRun> full = cached;
    QString error;
    bool cancelled = false;
    try {
      calm::Decoder decoder(*model);
      const auto keepGoing = [&cancel](const calm::TokenTrace&) { return !cancel->load(); };
      const auto stream = [this, serial, &cancel, &model](const calm::TokenTrace& token) {
        if (cancel->load()) return false;
        QString piece = QString::fromStdString(model->tokenizer.piece(token.token));
        QMetaObject::invokeMethod(this, [this, serial, token, piece] {
          if (serial != runSerial_ || serial == cancelledSerial_) return;
          streamed_.push_back(token);
          streamedPieces_ << piece;
          emit tokenStreamed(static_cast<int>(streamed_.size()) - 1);
        }, Qt::QueuedConnection);
        return true;
      };
      // Untraced runs for the clock; the fastest of a few when they are short.
      const auto timed = [&](const calm::DecodeOptions& o) {
        double best = 0.0;
        for (int i = 0; i < kTimingRepeats && !cancel->load(); ++i) {
          runs->fetch_add(1);
          const calm::DecodeResult r = decoder.generate(prompt, o, keepGoing);
          if (r.cancelled) break;
          best = i == 0 ? r.seconds : std::min(best, r.seconds);
          if (r.seconds * (i + 1) >= kShortRunSeconds) break;
        }
        return best;
      };

      runs->fetch_add(1);
      outcome->calm = decoder.generate(prompt, options, stream);
      cancelled = outcome->calm.cancelled || cancel->load();
      if (!cancelled && !full) {
        const calm::DecodeOptions fo = options.full_model();
        auto run = std::make_shared<FullRun>();
        run->model = model.get();
        run->prompt = prompt;
        run->maxNewTokens = options.max_new_tokens;
        runs->fetch_add(1);
        run->result = decoder.generate(prompt, fo, keepGoing);
        cancelled = run->result.cancelled || cancel->load();
        if (!cancelled) {
          run->seconds = run->result.seconds;
          if (run->seconds < kShortRunSeconds) run->seconds = std::min(run->seconds, timed(fo));
          full = run;
        }
      }
      if (!cancelled) {
        calm::DecodeOptions untraced = options;
        untraced.trace = false;
        // An untraced run (verify mode) is its own first timing, but it may be the
        // process's first decode (cold caches, first allocations: measured 8x slow),
        // so it is always timed again.
        outcome->calmSeconds = timed(untraced);
        if (!options.trace) outcome->calmSeconds = std::min(outcome->calmSeconds, outcome->calm.seconds);
        cancelled = cancel->load();
      }
      if (!cancelled) {
        outcome->full = full->result;
        outcome->fullSeconds = full->seconds;
        outcome->options = options;
        outcome->prompt = QString::fromStdString(prompt);
        outcome->reference = reference;
        if (reference) outcome->referenceIds = model->tokenizer.encode(reference->toStdString());
        outcome->calmPieces = piecesOf(*model, outcome->calm.tokens);
        outcome->fullPieces = piecesOf(*model, outcome->full.tokens);
        outcome->calmText = QString::fromStdString(outcome->calm.text);
        outcome->fullText = QString::fromStdString(outcome->full.text);
        outcome->metric = metric;
        fillDistances(*outcome);
      }
    } catch (const std::exception& e) {
      error = describe(e);
    } catch (...) {
      error = QStringLiteral("unknown error while decoding");
    }
    std::shared_ptr<const GenerationOutcome> done = outcome;
    QMetaObject::invokeMethod(this, [this, serial, done, full, error, cancelled] {
      --running_;
      if (serial == runSerial_) {
        if (!error.isEmpty()) {
          emit generationFailed(error);
        } else if (cancelled || serial == cancelledSerial_) {
          emit generationCancelled();
        } else {
          fullCache_ = full;
          outcome_ = done;
          streamed_ = done->calm.trace;
          streamedPieces_ = done->calmPieces;
          emit generationFinished();
          emit outcomeChanged();
        }
      }
      setBusy();
    }, Qt::QueuedConnection);
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
  const bool busy = running_ > 0 || loading_ > 0;
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
