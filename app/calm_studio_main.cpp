// calm-studio: the CALM Studio desktop application.
//
//   calm-studio                         the app, settings remembered
//   calm-studio --screenshot out.png --model DIR (--prompt TEXT | --example N) [--lambda X]
//               [--tab heatmap|comparison|schedule|measures|calibration|help] [--select N]
//               [--calibrate SET.jsonl] [--examples N] [--size WxH]
//               [--mode calm|catch-up|verify] [--draft K] [--playback-step N] [--tour-step N]
//               [--measure NAME] [--delta X] [--no-repeat-ngram N]
//     renders the main window after one generation (and calibration) and exits.
//
// Exit codes: 0 success, 2 bad arguments (or no display for the interactive
// app), 3 the model failed to load, 4 generation or calibration failed, 5 the
// screenshot could not be written (or would replace an input, a link or a
// device node).
#include <cstdio>
#include <optional>

#include <QApplication>
#include <QBuffer>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QPixmap>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTimer>

#include "session/ExamplePrompts.h"
#include "MainWindow.h"
#include "session/Playback.h"
#include "widgets/GuidedTour.h"
#include "session/SettingsStore.h"
#include "session/StudioSession.h"
#include "io/output_file.h"
#include "decode/measure.h"
#include "decode/option_bounds.h"
#include "model/catalog.h"

namespace {

enum ExitCode { kOk = 0, kBadArguments = 2, kModelFailed = 3, kRunFailed = 4, kWriteFailed = 5 };
constexpr char kVersion[] = "0.1.0";

struct ScreenshotPlan {
  QString output;
  QString model;
  QString prompt;
  std::optional<QString> reference;
  int example = -1;  // the n-th bundled example (with its reference) instead of --prompt
  std::optional<double> lambda;
  QString mode;      // "calm", "catch-up" or "verify"; empty: the defaults
  int draft = 0;     // verify mode's draft length; 0: the default
  std::optional<calm::Measure> measure;
  std::optional<double> delta;  // the guarantee's delta (which bundled lambda applies)
  int noRepeatNgram = -1;       // -1: the default (off)
  QString tab;
  int select = -1;
  int playbackStep = -1;  // show the playback at this step (0-based) instead of the whole run
  int tourStep = -1;      // show the guided tour at this step (0-based)
  QString calibrationSet;
  int examples = 20;
  QSize size{1600, 1000};
};

void fail(const QString& message) { std::fprintf(stderr, "calm-studio: %s\n", qPrintable(message)); }

// Encodes in memory, then writes through calm::write_output_file: a
// screenshot never replaces a link or a device node, nor leaves half a file.
QString saveImage(const QPixmap& image, const QString& path) {
  QByteArray bytes;
  QBuffer buffer(&bytes);
  buffer.open(QIODevice::WriteOnly);
  const QByteArray suffix = QFileInfo(path).suffix().toLower().toLatin1();
  if (!image.save(&buffer, suffix.isEmpty() ? "png" : suffix.constData()))
    return QStringLiteral("--screenshot %1: cannot encode an image of type '%2' (use .png)")
        .arg(path, QString::fromLatin1(suffix));
  try {
    calm::write_output_file(path.toStdString(), bytes.toStdString(), "--screenshot");
  } catch (const std::exception& e) {
    return QString::fromUtf8(e.what());
  }
  return {};
}

// The largest window --size asks for: 8192 x 8192 (a 256 MB image). Larger
// ones fail to allocate (40000 x 40000 would be 6.4 GB) or exceed what a
// window system accepts.
constexpr int kMaxScreenshotSide = 8192;

// A display, or a platform chosen explicitly. Without either, creating a
// QApplication aborts the process.
bool haveDisplay() {
  return qEnvironmentVariableIsSet("DISPLAY") || qEnvironmentVariableIsSet("WAYLAND_DISPLAY") ||
         qEnvironmentVariableIsSet("QT_QPA_PLATFORM");
}

bool asksForHelpOrVersion(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const QByteArray a(argv[i]);
    if (a == "-h" || a == "--help" || a == "-?" || a == "--help-all" || a == "-v" || a == "--version") return true;
  }
  return false;
}

bool asksForScreenshot(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (QByteArray(argv[i]) == "--screenshot" || QByteArray(argv[i]).startsWith("--screenshot=")) return true;
  return false;
}

// A whole number in [lo, hi], or nothing.
std::optional<int> boundedInt(const QString& text, int lo, int hi) {
  bool ok = false;
  const int v = text.toInt(&ok);
  if (!ok || v < lo || v > hi) return std::nullopt;
  return v;
}

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
    // After the window has shown the outcome (a queued signal), the playback.
    if (plan.playbackStep >= 0) {
      QTimer::singleShot(0, &window, [&] {
        if (!window.startPlayback()) {
          fail(QStringLiteral("--playback-step: this run has no per-layer trace to play back"));
          finish(kRunFailed);
          return;
        }
        window.playback().seek(plan.playbackStep);
      });
    }
    if (plan.tourStep >= 0) {
      QTimer::singleShot(0, &window, [&] {
        window.startTour();
        window.tour()->showStep(plan.tourStep);
      });
    }
    // Let layouts and queued replots settle before grabbing.
    QTimer::singleShot(400, &window, [&] {
      if (code != kOk) return;
      const QString error = saveImage(window.grab(), plan.output);
      if (!error.isEmpty()) {
        fail(error);
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
    if (plan.measure) c.measure = *plan.measure;
    if (plan.delta) c.delta = *plan.delta;
    if (plan.noRepeatNgram >= 0) c.no_repeat_ngram = plan.noRepeatNgram;
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
  // The Measures tab shows its comparison, which runs after the generation.
  if (plan.tab == QLatin1String("measures")) {
    QObject::connect(&session, &calm::ui::StudioSession::generationFinished, &window,
                     [&] { session.compareMeasures(); });
    QObject::connect(&session, &calm::ui::StudioSession::measureComparisonFinished, &window, grab);
    QObject::connect(&session, &calm::ui::StudioSession::measureComparisonFailed, &window,
                     [&](const QString& message) {
                       fail(message);
                       finish(kRunFailed);
                     });
  } else {
    QObject::connect(&session, &calm::ui::StudioSession::generationFinished, &window, grab);
  }
  QObject::connect(&session, &calm::ui::StudioSession::generationFailed, &window, [&](const QString& message) {
    fail(message);
    finish(kRunFailed);
  });
  session.loadModel(plan.model);
  const int result = app.exec();
  return code != kOk ? code : result;
}

struct Options {
  QCommandLineOption screenshot{QStringLiteral("screenshot"), QStringLiteral("Render the window to FILE (PNG) after one generation and exit."), QStringLiteral("FILE")};
  QCommandLineOption model{QStringLiteral("model"), QStringLiteral("Model directory or bundled model name."), QStringLiteral("DIR")};
  QCommandLineOption prompt{QStringLiteral("prompt"), QStringLiteral("Prompt for the screenshot."), QStringLiteral("TEXT")};
  QCommandLineOption example{QStringLiteral("example"), QStringLiteral("Use the N-th bundled example (0-based) and its reference instead of --prompt."), QStringLiteral("N")};
  QCommandLineOption lambda{QStringLiteral("lambda"), QStringLiteral("Set lambda by hand (0..1)."), QStringLiteral("X")};
  QCommandLineOption tab{QStringLiteral("tab"), QStringLiteral("Tab to show: heatmap, comparison, schedule, measures, calibration, help."), QStringLiteral("NAME")};
  QCommandLineOption select{QStringLiteral("select"), QStringLiteral("Token to select (0-based)."), QStringLiteral("N")};
  QCommandLineOption calibrate{QStringLiteral("calibrate"), QStringLiteral("Calibrate on this JSONL set before generating."), QStringLiteral("SET")};
  QCommandLineOption examples{QStringLiteral("examples"), QStringLiteral("Examples to calibrate on (1-100000, default 20)."), QStringLiteral("N")};
  QCommandLineOption size{QStringLiteral("size"), QStringLiteral("Window size for the screenshot (default 1600x1000, each side 1-8192)."), QStringLiteral("WxH")};
  QCommandLineOption mode{QStringLiteral("mode"), QStringLiteral("Decoding mode for the screenshot: calm (propagated K/V), catch-up (exact K/V, caught up later) or verify (lossless)."), QStringLiteral("MODE")};
  QCommandLineOption draft{QStringLiteral("draft"), QStringLiteral("Verify mode: tokens drafted per verification pass (1-16, default 4)."), QStringLiteral("K")};
  QCommandLineOption measure{QStringLiteral("measure"), QStringLiteral("Confidence measure: softmax, softmax-max, state or classifier."), QStringLiteral("NAME")};
  QCommandLineOption delta{QStringLiteral("delta"), QStringLiteral("The guarantee's delta (0-1), which picks the bundled certified lambda."), QStringLiteral("X")};
  QCommandLineOption noRepeatNgram{QStringLiteral("no-repeat-ngram"), QStringLiteral("Ban repeated n-grams of this size (0-64; 0: off)."), QStringLiteral("N")};
  QCommandLineOption tourStep{QStringLiteral("tour-step"), QStringLiteral("Show the guided tour at step N (0-based; past the end: the last step)."), QStringLiteral("N")};
  QCommandLineOption playbackStep{QStringLiteral("playback-step"), QStringLiteral("Show the step-by-step playback at step N (0-based; past the end: the last step)."), QStringLiteral("N")};
};

// One list of options for --help (answered without a display) and for the app.
Options addOptions(QCommandLineParser& parser) {
  Options o;
  parser.setApplicationDescription(QStringLiteral("CALM Studio: confident adaptive language modeling you can see."));
  parser.addHelpOption();
  parser.addVersionOption();
  parser.addOptions({o.screenshot, o.model, o.prompt, o.example, o.lambda, o.tab, o.select, o.calibrate, o.examples,
                     o.size, o.mode, o.draft, o.playbackStep, o.tourStep, o.measure, o.delta, o.noRepeatNgram});
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  // --help and --version need no display: answer them from a core application.
  if (asksForHelpOrVersion(argc, argv)) {
    QCoreApplication core(argc, argv);
    QCoreApplication::setApplicationVersion(QString::fromLatin1(kVersion));
    QCommandLineParser parser;
    addOptions(parser);
    parser.process(core);  // prints and exits
    return 0;
  }
  if (!haveDisplay()) {
    // A screenshot needs no screen; the interactive app does.
    if (asksForScreenshot(argc, argv)) {
      qputenv("QT_QPA_PLATFORM", "offscreen");
    } else {
      fail(QStringLiteral("no display: neither DISPLAY nor WAYLAND_DISPLAY is set, so the window cannot open "
                          "(--screenshot FILE renders without one; --help lists the options)"));
      return kBadArguments;
    }
  }
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("calm-studio"));
  QGuiApplication::setDesktopFileName(QStringLiteral("org.calmstudio.CalmStudio"));  // matches packaging/*.desktop
  QApplication::setOrganizationName(QStringLiteral("calm-studio"));
  QApplication::setApplicationVersion(QString::fromLatin1(kVersion));

  QCommandLineParser parser;
  const Options o = addOptions(parser);
  // --help and --version were answered above; an unknown option or a missing
  // value is a bad argument (exit 2), named by Qt's message.
  if (!parser.parse(QApplication::arguments())) {
    fail(parser.errorText());
    return kBadArguments;
  }

  if (!parser.isSet(o.screenshot)) {
    calm::ui::SettingsStore settings;
    calm::ui::StudioSession session;
    // Finished calibration examples are kept, so a cancelled calibration resumes.
    session.calibrator().setCacheDirectory(
        QStandardPaths::writableLocation(QStandardPaths::CacheLocation) + QStringLiteral("/calibration"));
    calm::ui::MainWindow window(session, settings);
    window.restore();
    if (parser.isSet(o.model)) {
      QString dir = parser.value(o.model);
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
  plan.output = parser.value(o.screenshot);
  try {
    plan.model = QString::fromStdString(parser.isSet(o.model) ? calm::resolve_model_dir(parser.value(o.model).toStdString())
                                                            : calm::default_model_dir());
  } catch (const std::exception& e) {
    fail(QString::fromUtf8(e.what()));
    return kModelFailed;
  }
  plan.prompt = parser.value(o.prompt);
  // Every number is bounded up front, with the option named.
  const auto number = [&](const QCommandLineOption& option, int lo, int hi, int& into) {
    if (!parser.isSet(option)) return true;
    const std::optional<int> v = boundedInt(parser.value(option), lo, hi);
    if (!v) {
      fail(QStringLiteral("--%1 must be a whole number from %2 to %3, got '%4'")
               .arg(option.names().first())
               .arg(lo)
               .arg(hi)
               .arg(parser.value(option)));
      return false;
    }
    into = *v;
    return true;
  };
  if (!number(o.example, 0, 1000000, plan.example) || !number(o.select, 0, 1000000, plan.select) ||
      !number(o.examples, 1, 100000, plan.examples) || !number(o.draft, 1, 16, plan.draft) ||
      !number(o.playbackStep, 0, 1000000, plan.playbackStep) || !number(o.tourStep, 0, 1000, plan.tourStep) ||
      !number(o.noRepeatNgram, 0, calm::OptionBounds::kMaxNoRepeatNgram, plan.noRepeatNgram))
    return kBadArguments;
  if (plan.prompt.isEmpty() && plan.example < 0) {
    fail(QStringLiteral("--screenshot needs --prompt TEXT or --example N"));
    return kBadArguments;
  }
  // A number in [0, 1] (`open`: strictly between 0 and 1), else `message`.
  const auto fraction = [&](const QCommandLineOption& option, bool open, const QString& message,
                            std::optional<double>& into) {
    if (!parser.isSet(option)) return true;
    bool ok = false;
    const double v = parser.value(option).toDouble(&ok);
    if (!ok || !(open ? v > 0.0 && v < 1.0 : v >= 0.0 && v <= 1.0)) {
      fail(message);
      return false;
    }
    into = v;
    return true;
  };
  if (!fraction(o.lambda, false, QStringLiteral("--lambda must be a number in [0, 1]"), plan.lambda) ||
      !fraction(o.delta, true,
                QStringLiteral("--delta must be a number between 0 and 1, got '%1'").arg(parser.value(o.delta)),
                plan.delta))
    return kBadArguments;
  if (parser.isSet(o.measure)) {
    try {
      plan.measure = calm::parse_measure(parser.value(o.measure).toStdString());
    } catch (const std::exception& e) {
      fail(QStringLiteral("--measure: %1").arg(QString::fromUtf8(e.what())));
      return kBadArguments;
    }
  }
  if (parser.isSet(o.mode)) {
    plan.mode = parser.value(o.mode);
    if (plan.mode != QLatin1String("calm") && plan.mode != QLatin1String("catch-up") &&
        plan.mode != QLatin1String("verify")) {
      fail(QStringLiteral("--mode must be calm, catch-up or verify"));
      return kBadArguments;
    }
  }
  plan.tab = parser.value(o.tab);
  // MainWindow's tab names (ui/MainWindow.cpp).
  const QStringList tabs{QStringLiteral("heatmap"), QStringLiteral("comparison"), QStringLiteral("schedule"),
                         QStringLiteral("measures"), QStringLiteral("calibration"), QStringLiteral("help")};
  if (parser.isSet(o.tab) && !tabs.contains(plan.tab)) {
    fail(QStringLiteral("--tab must be one of %1, got '%2'").arg(tabs.join(QStringLiteral(", ")), plan.tab));
    return kBadArguments;
  }
  plan.calibrationSet = parser.value(o.calibrate);
  if (parser.isSet(o.size)) {
    const QStringList wh = parser.value(o.size).split(QLatin1Char('x'));
    const std::optional<int> w = wh.size() == 2 ? boundedInt(wh[0], 1, kMaxScreenshotSide) : std::nullopt;
    const std::optional<int> h = wh.size() == 2 ? boundedInt(wh[1], 1, kMaxScreenshotSide) : std::nullopt;
    if (!w || !h) {
      fail(QStringLiteral("--size must be WxH with each side from 1 to %1, got '%2'")
               .arg(kMaxScreenshotSide)
               .arg(parser.value(o.size)));
      return kBadArguments;
    }
    plan.size = QSize(*w, *h);
  }
  // Before loading and running: the screenshot must not replace an input.
  try {
    std::vector<calm::LabelledPath> inputs = calm::model_input_files(plan.model.toStdString());
    if (!plan.calibrationSet.isEmpty()) inputs.push_back({"--calibrate", plan.calibrationSet.toStdString()});
    calm::check_distinct_files({{"--screenshot", plan.output.toStdString()}}, inputs);
  } catch (const std::exception& e) {
    fail(QString::fromUtf8(e.what()));
    return kWriteFailed;
  }
  return runScreenshot(app, plan);
}
