// `calm serve`: an HTTP server with the OpenAI-style endpoints (POST
// /v1/completions, GET /v1/models) plus /health and /metrics, decoding with
// CALM. Requests wait in a bounded queue for one of K decoders; HTTP and JSON
// stay here, out of the core. A fraction of the requests is audited by the
// guarantee monitor; /metrics and /status show what it found.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <memory>
#include <optional>
#include <string>

#include "serve/completion_json.h"
#include "serve/decoder_pool.h"
#include "serve/guarantee_monitor.h"
#include "serve/serve_metrics.h"
#include "serve/serve_settings.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace calm::serve {

struct Completion;

class CalmServer {
 public:
  // Allocates the K decoders; `log` receives one line per event worth a log
  // (start, a client that left, a drift alarm); the caller decides where it goes.
  CalmServer(const Model& model, ServeSettings settings, std::optional<ServedThresholds> thresholds,
             std::function<void(const std::string&)> log);
  ~CalmServer();

  // Binds settings.host:settings.port (port 0: any free one); returns the
  // port, or throws calm::Error saying why it could not bind.
  int bind();
  // Serves until stop(); then finishes every request already accepted
  // (queued, decoding or streaming) before it returns.
  void run();
  // Drains: new completion requests get 503 at once, /health says
  // "draining"; once every accepted request has been answered (streams to
  // their last event) the server stops listening and run() returns. Safe
  // from any thread, idempotent.
  void stop();

  const ServeMetrics& metrics() const { return metrics_; }
  MonitorState monitor_state() const { return monitor_.state(); }

 private:
  bool authorized(const httplib::Request& req, httplib::Response& res);
  void handle_completion(const httplib::Request& req, httplib::Response& res);
  void decode(Decoder& decoder, Completion& c);
  std::string models_body() const;
  std::string metrics_text() const;
  std::string status_page() const;
  void finished_one();

  const Model& model_;
  const ServeSettings settings_;
  const std::optional<ServedThresholds> thresholds_;
  std::function<void(const std::string&)> log_;
  ServeMetrics metrics_;
  std::atomic<uint64_t> next_id_{1};
  std::atomic<bool> draining_{false};
  // Completion requests accepted and not yet answered to the end.
  std::mutex in_flight_mutex_;
  std::condition_variable in_flight_changed_;
  std::size_t in_flight_ = 0;
  GuaranteeMonitor monitor_;  // before pool_: the decoders offer it their results until they stop
  DecoderPool pool_;
  std::unique_ptr<httplib::Server> http_;
  int listen_socket_ = -1;  // the listening socket, once bound (for its backlog)
};

}  // namespace calm::serve
