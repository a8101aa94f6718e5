#include "cli_serve.h"

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <pthread.h>
#include <random>
#include <thread>

#include "calibrate/thresholds.h"
#include "cli_common.h"
#include "decode/option_bounds.h"
#include "model/catalog.h"
#include "serve/server.h"
#include "util/hash.h"

namespace calm::cli {

const char* const kServeUsage = R"(
  calm serve    [--model DIR|NAME] [--thresholds FILE | decoding options of generate]
                [--host 127.0.0.1] [--port 8080] [--decoders K] [--threads N] [--queue Q]
                [--api-key-file FILE] [--allow-lambda] [--force]
                [--max-body-bytes B] [--max-prompt-bytes B] [--timeout S]
                [--audit-fraction F] [--audit-seed S]

serve answers OpenAI-style completion requests over HTTP (POST /v1/completions, GET
/v1/models, /health, /metrics, /status) with K decoders (--threads each) fed from a
queue of Q waiting requests (a full queue answers 429). It decodes with the thresholds
file's exit rule (the model is the file's unless --model names one; another model's file
is refused unless --force), or else with the decoding options of generate (without
--lambda, as there, the model's bundled certified lambda, whose file then backs the
answers). It listens on loopback unless --host says otherwise; --port 0 takes any free
port. SIGTERM or Ctrl-C stops accepting and finishes the requests in flight. With a
thresholds file, a fraction F (default 0.1) of the requests is decoded again with the
full model on a low-priority thread; /metrics and /status show the consistency loss
against the file's delta, and a drift alarm when the traffic breaks it.
docs/serving.md has the details.
)";

namespace {

void log_line(const std::string& line) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  std::cerr << "calm serve: " << line << std::endl;
}

std::string read_api_key(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the API key file (missing or unreadable)");
  std::string key;
  char c;
  while (in.get(c) && key.size() <= 4096) key += c;
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (key.size() > 4096) throw Error(path + ": longer than 4096 bytes; not an API key file");
  if (key.empty()) throw Error(path + ": the API key file is empty");
  if (key.find_first_of(" \t\r\n") != std::string::npos)
    throw Error(path + ": the API key must be one line without spaces");
  return key;
}

// The model and exit rule: the thresholds file's (checked against the model's
// hash, as eval does) or the options of `calm generate`.
struct Served {
  Model model;
  std::optional<serve::ServedThresholds> thresholds;
  DecodeOptions rule;
};

Served load_served(const Args& args) {
  if (!args.has("thresholds")) {
    // As `calm generate`: without --lambda, the model's bundled certified
    // lambda for these settings, whose file then stands behind the answers.
    DecodeOptions rule = decode_options(args);
    Model model = load_model_arg(args);
    std::optional<serve::ServedThresholds> served;
    if (const std::optional<BundledThresholds> b = bundled_certification(args, model, rule)) {
      rule.lambda = b->thresholds.lambda;
      served = serve::ServedThresholds{b->thresholds, file_hash(b->path)};
      log_line("lambda " + fixed(rule.lambda, 2) + " certified by the model's bundled calibration " + b->path);
    } else if (const std::string why = bundled_lambda_missing(args, model, rule); !why.empty()) {
      log_line(why);
    }
    return {std::move(model), std::move(served), rule};
  }
  for (const std::string& name : kDecodeOptionNames)
    if (args.has(name))
      throw UsageError("--thresholds sets the exit rule (max_new_tokens included: requests ask for fewer with "
                       "max_tokens); --" + name + " cannot be combined with it");
  const std::string path = args.get("thresholds");
  serve::ServedThresholds t{read_thresholds(path), file_hash(path)};
  std::error_code ec;
  const std::string dir = args.has("model")                                   ? resolve_model_dir(args.get("model"))
                          : std::filesystem::is_directory(t.file.model_dir, ec) ? t.file.model_dir
                                                                              : resolve_model_dir(t.file.model_name);
  Model model = load_model(dir, load_options(args));
  const std::string hash = file_hash(model.dir + "/model.safetensors");
  if (hash != t.file.model_hash && !args.flag("force"))
    throw Error(path + " was calibrated for model '" + t.file.model_name + "' (hash " + t.file.model_hash + ") but " +
                model.dir + "/model.safetensors has hash " + hash +
                ": its guarantee does not carry over; calibrate this model, or pass --force to serve anyway");
  DecodeOptions rule = t.file.decode_options();
  return {std::move(model), std::move(t), rule};
}

serve::ServeSettings serve_settings(const Args& args) {
  using B = OptionBounds;
  serve::ServeSettings s;
  s.host = args.get("host", s.host);
  s.port = args.get_int("port", s.port, 0, 65535);
  s.decoders = args.get_int("decoders", s.decoders, 1, B::kMaxThreads);
  s.threads = args.get_int("threads", s.threads, 1, B::kMaxThreads);
  s.queue = static_cast<size_t>(args.get_int("queue", static_cast<int>(s.queue), 0, 4096));
  s.allow_lambda = args.flag("allow-lambda");
  s.limits.max_body_bytes =
      static_cast<size_t>(args.get_int("max-body-bytes", static_cast<int>(s.limits.max_body_bytes), 1024, 64 << 20));
  s.limits.max_prompt_bytes = static_cast<size_t>(
      args.get_int("max-prompt-bytes", static_cast<int>(s.limits.max_prompt_bytes), 1, 64 << 20));
  s.limits.timeout_seconds = args.get_double("timeout", s.limits.timeout_seconds, 0.1, 86400.0);
  s.audit_fraction = args.get_double("audit-fraction", s.audit_fraction, 0.0, 1.0);
  const int audit_seed = args.get_int("audit-seed", -1, -1, INT32_MAX);
  s.audit_seed = audit_seed >= 0 ? static_cast<uint64_t>(audit_seed) : std::random_device{}();
  if (args.has("api-key-file")) s.api_key = read_api_key(args.get("api-key-file"));
  return s;
}

}  // namespace

int cmd_serve(const std::vector<std::string>& argv) {
  std::set<std::string> valued{"model",    "weights", "thresholds",     "host",             "port",   "decoders",
                               "threads",  "queue",   "api-key-file",   "max-body-bytes",   "max-prompt-bytes",
                               "timeout",  "audit-fraction", "audit-seed"};
  valued.insert(kDecodeOptionNames.begin(), kDecodeOptionNames.end());
  const Args args(argv, valued, {"allow-lambda", "force", "truncate"});
  if (args.flag("truncate")) throw UsageError("serve refuses over-long prompts; --truncate does not apply");
  serve::ServeSettings settings = serve_settings(args);
  Served served = load_served(args);
  settings.rule = served.rule;
  settings.rule.validate();

  // SIGTERM and SIGINT are taken by one thread that waits for them (sigwait),
  // never by a handler interrupting a decoder: blocked here, before any
  // thread starts, so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  serve::CalmServer server(served.model, settings, served.thresholds, log_line);
  const int port = server.bind();
  std::atomic<bool> finished{false};
  std::thread signals([&] {
    const timespec poll{0, 100'000'000};
    while (!finished) {
      const int signal = sigtimedwait(&stop_signals, nullptr, &poll);
      if (signal == SIGTERM || signal == SIGINT) {
        log_line(std::string(signal == SIGTERM ? "SIGTERM" : "SIGINT") +
                 ": no new connections; finishing the requests in flight");
        server.stop();
        return;
      }
    }
  });
  log_line("model " + served.model.name + " (" + std::to_string(served.model.config.decoder_layers) +
           " layers), " + (served.thresholds ? "thresholds " + served.thresholds->hash : std::string("no thresholds file")) +
           ", lambda " + fixed(settings.rule.lambda, 3) + ", " + std::to_string(settings.decoders) + " decoders, queue " +
           std::to_string(settings.queue));
  log_line("listening on http://" + settings.host + ":" + std::to_string(port));
  server.run();
  const serve::MonitorState m = server.monitor_state();
  const auto general = [](double x) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.4g", x);
    return std::string(buf);
  };
  if (m.enabled)
    log_line("guarantee monitor: " + std::to_string(m.bounds.n) + " requests audited, mean loss " +
             general(m.bounds.mean) + ", expected loss in [" + general(m.bounds.lower) + ", " +
             general(m.bounds.upper) + "] against delta " + general(m.delta) +
             (m.alarm ? ": DRIFT ALARM raised" : ": no drift"));
  finished = true;
  signals.join();
  log_line("stopped");
  return 0;
}

}  // namespace calm::cli
