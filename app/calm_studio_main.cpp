// calm-studio: the CALM Studio desktop application.
//
//   calm-studio                         the app, settings remembered
//   calm-studio --screenshot out.png --model DIR (--prompt TEXT | --example N) [--lambda X]
//               [--tab heatmap|comparison|schedule|calibration|help] [--select N]
//               [--calibrate SET.jsonl] [--examples N] [--size WxH]
//               [--mode calm|catch-up|verify] [--draft K]
//     renders the main window after one generation (and calibration) and exits.
//
// Exit codes: 0 success, 2 bad arguments, 3 the model failed to load,
// 4 generation or calibration failed, 5 the screenshot could not be written.
#include <cstdio>
#include <optional>

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QPixmap>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTimer>

#include "session/ExamplePrompts.h"
#include "MainWindow.h"
#include "session/SettingsStore.h"
#include "session/StudioSession.h"
#include "model/catalog.h"

namespace {

enum ExitCode { kOk = 0, kBadArguments = 2, kModelFailed = 3, kRunFailed = 4, kWriteFailed = 5 };

struct ScreenshotPlan {
  QString output;
  QString model;
  QString prompt;
  std::optional<QString> reference;
  int example = -1;  // the n-th bundled example (with its reference) instead of --prompt
  std::optional<double> lambda;
  QString mode;      // "calm", "catch-up" or "verify"; empty: the defaults
  int draft = 0;     // verify mode's draft length; 0: the default
  QString tab;
  int select = -1;
  QString calibrationSet;
  int examples = 20;
  QSize size{1600, 1000};
};

void fail(const QString& message) { std::fprintf(stderr, "calm-studio: %s\n", qPrintable(message)); }

// Drives the session through load -> (calibrate) -> generate -> grab, then quits.
int runScreenshot(QApplication& app, const ScreenshotPlan& plan) {
  QTemporaryDir settingsDir;  // never touch the user's settings
  calm::ui::SettingsStore settings(settingsDir.filePath(QStringLiteral("screenshot.ini")));
  calm::ui::StudioSession session;
  calm::ui::MainWindow window(session, settings);
  window.resize(plan.size);
  QList<QPair<QString, QString>> models;
  for (const std::string& dir : calm::bundled_model_dirs())
    models.append({QFileInfo(QString::fromStdString(dir)).fileName(), QString::fromStdString(dir)});
  window.setModelList(models);
  if (!plan.tab.isEmpty()) window.showTab(plan.tab);
  window.show();

  int code = kOk;
  const auto finish = [&](int c) {
    code = c;
    QTimer::singleShot(0, &app, [&app, c] { app.exit(c); });
  };
  const auto grab = [&] {
    if (plan.select >= 0) window.selectToken(plan.select);
    // Let layouts and queued replots settle before grabbing.
    QTimer::singleShot(400, &window, [&] {
      const QPixmap image = window.grab();
      if (!image.save(plan.output)) {
        fail(QStringLiteral("could not write %1").arg(plan.output));
        finish(kWriteFailed);
      } else {
        std::printf("wrote %s\n", qPrintable(plan.output));
        finish(kOk);
      }
    });
  };
  const auto generate = [&] {
    QString prompt = plan.prompt;
    std::optional<QString> reference;
    if (plan.example >= 0) {
      const auto examples = calm::ui::ExamplePrompts::forModel(QFileInfo(session.modelDir()).fileName());
      if (plan.example >= examples.size()) {
        fail(QStringLiteral("this model has no bundled example %1").arg(plan.example));
        finish(kBadArguments);
        return;
      }
      prompt = examples[plan.example].input;
      reference = examples[plan.example].reference;
    }
    session.setPrompt(prompt, reference);
    session.generate();
  };

  QObject::connect(&session, &calm::ui::StudioSession::modelLoaded, &window, [&] {
    calm::ui::DecodeControls c = session.controls();
    if (plan.lambda) {
      c.lambdaFromCalibration = false;
      c.lambda = *plan.lambda;
    }
    if (!plan.mode.isEmpty()) {
      c.verify = plan.mode == QLatin1String("verify");
      c.kv_mode = plan.mode == QLatin1String("catch-up") ? calm::KvMode::CatchUp : calm::KvMode::Propagate;
    }
    if (plan.draft > 0) c.verify_draft = plan.draft;
    session.setControls(c);
    if (!plan.calibrationSet.isEmpty())
      window.startCalibration(plan.calibrationSet, plan.examples);
    else
      generate();
  });
  QObject::connect(&session, &calm::ui::StudioSession::modelFailed, &window,
                   [&](const QString&, const QString& message) {
                     fail(message);
                     finish(kModelFailed);
                   });
  QObject::connect(&session.calibrator(), &calm::ui::CalibrationController::finished, &window,
                   [&] { QTimer::singleShot(0, &window, generate); });
  QObject::connect(&session.calibrator(), &calm::ui::CalibrationController::failed, &window,
                   [&](const QString& message) {
                     fail(message);
                     finish(kRunFailed);
                   });
  QObject::connect(&session, &calm::ui::StudioSession::generationFinished, &window, grab);
  QObject::connect(&session, &calm::ui::StudioSession::generationFailed, &window, [&](const QString& message) {
    fail(message);
    finish(kRunFailed);
  });
  session.loadModel(plan.model);
  const int result = app.exec();
  return code != kOk ? code : result;
}

}  // namespace

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("calm-studio"));
  QGuiApplication::setDesktopFileName(QStringLiteral("org.calmstudio.CalmStudio"));  // matches packaging/*.desktop
  QApplication::setOrganizationName(QStringLiteral("calm-studio"));
  QApplication::setApplicationVersion(QStringLiteral("0.1.0"));

  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral("CALM Studio: confident adaptive language modeling you can see."));
  parser.addHelpOption();
  parser.addVersionOption();
  const QCommandLineOption screenshot(QStringLiteral("screenshot"), QStringLiteral("Render the window to FILE after one generation and exit."), QStringLiteral("FILE"));
  const QCommandLineOption model(QStringLiteral("model"), QStringLiteral("Model directory or bundled model name."), QStringLiteral("DIR"));
  const QCommandLineOption prompt(QStringLiteral("prompt"), QStringLiteral("Prompt for the screenshot."), QStringLiteral("TEXT"));
  const QCommandLineOption example(QStringLiteral("example"), QStringLiteral("Use the N-th bundled example (0-based) and its reference instead of --prompt."), QStringLiteral("N"));
  const QCommandLineOption lambda(QStringLiteral("lambda"), QStringLiteral("Set lambda by hand (0..1)."), QStringLiteral("X"));
  const QCommandLineOption tab(QStringLiteral("tab"), QStringLiteral("Tab to show: heatmap, comparison, schedule, calibration, help."), QStringLiteral("NAME"));
  const QCommandLineOption select(QStringLiteral("select"), QStringLiteral("Token to select (0-based)."), QStringLiteral("N"));
  const QCommandLineOption calibrate(QStringLiteral("calibrate"), QStringLiteral("Calibrate on this JSONL set before generating."), QStringLiteral("SET"));
  const QCommandLineOption examples(QStringLiteral("examples"), QStringLiteral("Examples to calibrate on (default 20)."), QStringLiteral("N"));
  const QCommandLineOption size(QStringLiteral("size"), QStringLiteral("Window size for the screenshot (default 1600x1000)."), QStringLiteral("WxH"));
  const QCommandLineOption mode(QStringLiteral("mode"), QStringLiteral("Decoding mode for the screenshot: calm (propagated K/V), catch-up (exact K/V, caught up later) or verify (lossless)."), QStringLiteral("MODE"));
  const QCommandLineOption draft(QStringLiteral("draft"), QStringLiteral("Verify mode: tokens drafted per verification pass (1-16, default 4)."), QStringLiteral("K"));
  parser.addOptions({screenshot, model, prompt, example, lambda, tab, select, calibrate, examples, size, mode, draft});
  parser.process(app);

  if (!parser.isSet(screenshot)) {
    calm::ui::SettingsStore settings;
    calm::ui::StudioSession session;
    // Finished calibration examples are kept, so a cancelled calibration resumes.
    session.calibrator().setCacheDirectory(
        QStandardPaths::writableLocation(QStandardPaths::CacheLocation) + QStringLiteral("/calibration"));
    calm::ui::MainWindow window(session, settings);
    window.restore();
    if (parser.isSet(model)) {
      QString dir = parser.value(model);
      try {
        dir = QString::fromStdString(calm::resolve_model_dir(dir.toStdString()));
      } catch (const std::exception&) {
        // Not a bundled name either: loading it shows the error in the window.
      }
      session.loadModel(dir);
    }
    window.show();
    return app.exec();
  }

  ScreenshotPlan plan;
  plan.output = parser.value(screenshot);
  try {
    plan.model = QString::fromStdString(parser.isSet(model) ? calm::resolve_model_dir(parser.value(model).toStdString())
                                                            : calm::default_model_dir());
  } catch (const std::exception& e) {
    fail(QString::fromUtf8(e.what()));
    return kModelFailed;
  }
  plan.prompt = parser.value(prompt);
  if (parser.isSet(example)) plan.example = parser.value(example).toInt();
  if (plan.prompt.isEmpty() && plan.example < 0) {
    fail(QStringLiteral("--screenshot needs --prompt TEXT or --example N"));
    return kBadArguments;
  }
  if (parser.isSet(lambda)) {
    bool ok = false;
    const double v = parser.value(lambda).toDouble(&ok);
    if (!ok || v < 0.0 || v > 1.0) {
      fail(QStringLiteral("--lambda must be a number in [0, 1]"));
      return kBadArguments;
    }
    plan.lambda = v;
  }
  if (parser.isSet(mode)) {
    plan.mode = parser.value(mode);
    if (plan.mode != QLatin1String("calm") && plan.mode != QLatin1String("catch-up") &&
        plan.mode != QLatin1String("verify")) {
      fail(QStringLiteral("--mode must be calm, catch-up or verify"));
      return kBadArguments;
    }
  }
  if (parser.isSet(draft)) {
    bool ok = false;
    plan.draft = parser.value(draft).toInt(&ok);
    if (!ok || plan.draft < 1 || plan.draft > 16) {
      fail(QStringLiteral("--draft must be a whole number from 1 to 16"));
      return kBadArguments;
    }
  }
  plan.tab = parser.value(tab);
  if (parser.isSet(select)) plan.select = parser.value(select).toInt();
  plan.calibrationSet = parser.value(calibrate);
  if (parser.isSet(examples)) plan.examples = parser.value(examples).toInt();
  if (parser.isSet(size)) {
    const QStringList wh = parser.value(size).split(QLatin1Char('x'));
    if (wh.size() == 2 && wh[0].toInt() > 0 && wh[1].toInt() > 0) plan.size = QSize(wh[0].toInt(), wh[1].toInt());
  }
  return runScreenshot(app, plan);
}
