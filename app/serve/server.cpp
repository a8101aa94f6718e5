#include "serve/server.h"

#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <sstream>

#include <httplib.h>
#include <sys/socket.h>

#include "io/utf8.h"
#include "serve/completion_text.h"
#include "util/error.h"
#include "util/json_limits.h"

namespace calm::serve {

using nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// One request between its HTTP handler and the decoder that serves it. The
// handler owns it with the decoder job (shared), so either may finish first.
struct Completion {
  CompletionRequest request;
  std::string id;       // "cmpl-7"
  std::int64_t created = 0;
  Clock::time_point deadline;

  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::string> events;  // server-sent events not yet written (streaming)
  bool done = false;
  int status = 200;
  std::string body;                // the response (not streaming)
  // Set by the handler (client gone, deadline passed); the decoder stops at
  // its next token.
  std::atomic<bool> cancel{false};
  std::atomic<bool> client_left{false};
};

namespace {

constexpr const char* kJson = "application/json";

bool equal_constant_time(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() != b.size();
  const std::string& longer = a.size() >= b.size() ? a : b;
  for (size_t i = 0; i < longer.size(); ++i)
    diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

std::string sse(const std::string& data) { return "data: " + data + "\n\n"; }

ordered_json chunk_json(const Completion& c, const std::string& model, const std::string& text) {
  return {{"id", c.id},
          {"object", "text_completion"},
          {"created", c.created},
          {"model", model},
          {"choices", ordered_json::array({{{"text", text}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", nullptr}}})}};
}

}  // namespace

CalmServer::CalmServer(const Model& model, ServeSettings settings, std::optional<ServedThresholds> thresholds,
                       std::function<void(const std::string&)> log)
    : model_(model),
      settings_(std::move(settings)),
      thresholds_(std::move(thresholds)),
      log_(std::move(log)),
      monitor_(model, thresholds_ ? std::optional<Thresholds>(thresholds_->file) : std::nullopt,
               settings_.audit_fraction, settings_.audit_seed, log_),
      pool_(model, settings_.decoders, settings_.threads, settings_.queue),
      http_(std::make_unique<httplib::Server>()) {
  httplib::Server& http = *http_;
  // Enough connection threads for every decoder, every queue slot and a few
  // more to answer 429, /health and /metrics while all of those are taken.
  const size_t connections = static_cast<size_t>(settings_.decoders) + settings_.queue + 8;
  http.new_task_queue = [connections] { return new httplib::ThreadPool(connections); };
  // The listening socket: SO_REUSEADDR only (httplib's default adds
  // SO_REUSEPORT, with which a second server on a port in use starts without
  // an error and takes half the connections), and kept to raise its backlog.
  http.set_socket_options([this](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_socket_ = sock;
  });
  http.set_payload_max_length(settings_.limits.max_body_bytes);
  http.set_read_timeout(10, 0);
  http.set_write_timeout(10, 0);
  http.set_keep_alive_timeout(5);

  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    const bool draining = draining_.load();
    res.status = draining ? 503 : 200;
    res.set_content(dump_json(ordered_json{{"status", draining ? "draining" : "ok"}}), kJson);
  });
  http.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
    if (authorized(req, res)) res.set_content(models_body(), kJson);
  });
  http.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
    if (authorized(req, res)) res.set_content(metrics_text(), "text/plain; version=0.0.4");
  });
  http.Get("/status", [this](const httplib::Request& req, httplib::Response& res) {
    if (authorized(req, res)) res.set_content(status_page(), "text/html; charset=utf-8");
  });
  http.Post("/v1/completions",
            [this](const httplib::Request& req, httplib::Response& res) { handle_completion(req, res); });
  // httplib's own answers (404, 413 for a body over the limit, 400 for
  // malformed HTTP) get a message in the same JSON form as ours.
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = "HTTP " + std::to_string(res.status);
    if (res.status == 404) message = "no such endpoint: " + excerpt(req.path, 200);
    if (res.status == 413) message = "request body too large";
    res.set_content(error_body(message, "invalid_request_error"), kJson);
  });
  http.set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr e) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      what = x.what();
    } catch (...) {
    }
    ++metrics_.failed;
    res.status = 500;
    res.set_content(error_body("internal error: " + what, "server_error"), kJson);
  });
}

CalmServer::~CalmServer() {
  stop();
  pool_.shutdown();
}

int CalmServer::bind() {
  int port = settings_.port;
  if (port == 0) {
    port = http_->bind_to_any_port(settings_.host);
    if (port <= 0) throw Error("cannot listen on " + settings_.host + " (any port): is the address this machine's?");
  } else if (!http_->bind_to_port(settings_.host, port)) {
    throw Error("cannot listen on " + settings_.host + ":" + std::to_string(port) +
                " (in use, or not this machine's address)");
  }
  // The library listens with a backlog of 5 (compiled into Debian's build):
  // clients connecting at once beyond it, while the accept loop is slow, are
  // reset. Listening again on the bound socket sets the backlog.
  if (listen_socket_ >= 0) ::listen(listen_socket_, SOMAXCONN);
  return port;
}

void CalmServer::run() {
  http_->listen_after_bind();  // returns after stop(), once every connection thread has finished
  pool_.shutdown();            // nothing is queued by then; joins the decoders
}

void CalmServer::stop() {
  draining_ = true;
  // httplib cuts a chunked response short once the server stops, so wait
  // for the streams to end first.
  std::unique_lock lock(in_flight_mutex_);
  in_flight_changed_.wait(lock, [&] { return in_flight_ == 0; });
  lock.unlock();
  http_->stop();
}

void CalmServer::finished_one() {
  {
    std::lock_guard lock(in_flight_mutex_);
    --in_flight_;
  }
  in_flight_changed_.notify_all();
}

bool CalmServer::authorized(const httplib::Request& req, httplib::Response& res) {
  if (settings_.api_key.empty()) return true;
  if (equal_constant_time(req.get_header_value("Authorization"), "Bearer " + settings_.api_key)) return true;
  ++metrics_.unauthorized;
  res.status = 401;
  res.set_header("WWW-Authenticate", "Bearer");
  res.set_content(error_body("missing or wrong API key (Authorization: Bearer KEY)", "invalid_request_error"), kJson);
  return false;
}

void CalmServer::handle_completion(const httplib::Request& req, httplib::Response& res) {
  if (!authorized(req, res)) return;
  auto c = std::make_shared<Completion>();
  try {
    c->request = parse_completion_request(req.body, settings_, model_.name);
  } catch (const Error& e) {
    ++metrics_.bad_request;
    res.status = 400;
    res.set_content(error_body(e.what(), "invalid_request_error"), kJson);
    return;
  }
  {
    std::lock_guard lock(in_flight_mutex_);
    if (draining_) {
      res.status = 503;
      res.set_content(error_body("the server is shutting down", "server_unavailable"), kJson);
      return;
    }
    ++in_flight_;
  }
  c->id = "cmpl-" + std::to_string(next_id_++);
  c->created = static_cast<std::int64_t>(std::time(nullptr));
  c->deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(settings_.limits.timeout_seconds));
  if (!pool_.try_submit([this, c](Decoder& decoder) { decode(decoder, *c); })) {
    finished_one();
    ++metrics_.queue_full;
    res.status = 429;
    res.set_header("Retry-After", "1");
    res.set_content(error_body("all " + std::to_string(pool_.decoders()) + " decoders are busy and " +
                                   std::to_string(pool_.capacity()) + " requests are waiting; retry later",
                               "server_busy"),
                    kJson);
    return;
  }

  if (!c->request.stream) {
    std::unique_lock lock(c->mutex);
    if (!c->changed.wait_until(lock, c->deadline, [&] { return c->done; })) {
      c->cancel = true;  // the decoder stops within a token
      c->changed.wait(lock, [&] { return c->done; });
    }
    res.status = c->status;
    res.set_content(c->body, kJson);
    finished_one();
    return;
  }

  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [c](size_t, httplib::DataSink& sink) {
        std::unique_lock lock(c->mutex);
        const auto ready = [&] { return c->done || !c->events.empty(); };
        // Past the deadline the decoder stops (or, still queued, gives up when
        // it starts) and sends a last event: wait for it without a deadline,
        // rather than spin on one that has passed.
        if (!c->cancel && !c->changed.wait_until(lock, c->deadline, ready)) c->cancel = true;
        c->changed.wait(lock, ready);
        while (!c->events.empty()) {
          const std::string event = std::move(c->events.front());
          c->events.pop_front();
          lock.unlock();
          if (!sink.write(event.data(), event.size())) {
            c->client_left = true;
            c->cancel = true;  // the client is gone: free the decoder at its next token
            return false;
          }
          lock.lock();
        }
        if (c->done) sink.done();
        return true;
      },
      [this, c](bool success) {
        if (!success) {
          c->client_left = true;
          c->cancel = true;
        }
        finished_one();
      });
}

void CalmServer::decode(Decoder& decoder, Completion& c) {
  const CompletionRequest& q = c.request;
  const auto publish = [&](std::string event) {
    {
      std::lock_guard lock(c.mutex);
      c.events.push_back(std::move(event));
    }
    c.changed.notify_all();
  };
  const auto finish = [&](int status, std::string body) {
    {
      std::lock_guard lock(c.mutex);
      c.status = status;
      c.body = std::move(body);
      c.done = true;
    }
    c.changed.notify_all();
  };
  const auto fail = [&](int status, const std::string& message, const std::string& type) {
    if (q.stream) {
      publish(sse(error_body(message, type)));
      publish(sse("[DONE]"));
    }
    finish(status, error_body(message, type));
  };
  if (c.cancel) {  // the deadline passed while it waited
    ++metrics_.timed_out;
    return fail(504, "request timed out waiting for a decoder", "timeout");
  }

  CompletionText text(model_.tokenizer, q.stop);
  const bool follow_text = q.stream || !q.stop.empty();
  std::vector<int> ids;
  int generated = 0;
  std::vector<int> pending_layers;  // exit layers of tokens not yet in a chunk
  const TokenCallback on_token = [&](const TokenTrace& t) {
    ++generated;
    if (!model_.config.is_eos(t.token)) ids.push_back(t.token);
    const bool stop = follow_text && text.update(ids);
    if (q.stream) {
      pending_layers.push_back(t.exit_layer);
      const std::string settled = text.take_settled();
      if (!settled.empty()) {
        ordered_json chunk = chunk_json(c, model_.name, settled);
        chunk["calm"] = {{"exit_layers", pending_layers}};
        pending_layers.clear();
        publish(sse(dump_json(chunk)));
      }
    }
    return !stop && generated < q.max_tokens && !c.cancel;
  };

  DecodeResult r;
  try {
    r = decoder.generate(q.prompt, q.options, on_token);
  } catch (const Error& e) {  // the prompt too long for the context, options the model cannot serve
    ++metrics_.bad_request;
    return fail(400, e.what(), "invalid_request_error");
  } catch (const std::exception& e) {
    ++metrics_.failed;
    return fail(500, std::string("internal error: ") + e.what(), "server_error");
  }
  metrics_.tokens += r.tokens.size();
  for (int layer : r.exit_layers) metrics_.token_layers += static_cast<uint64_t>(layer);
  metrics_.prompt_tokens += r.prompt_ids.size();
  metrics_.decode_microseconds += static_cast<uint64_t>(r.seconds * 1e6);

  if (c.client_left) {
    ++metrics_.disconnected;
    log_(c.id + ": the client left after " + std::to_string(r.tokens.size()) +
         " tokens; its decoder is free again");
    return finish(499, "");
  }
  const bool timed_out = c.cancel && !text.stopped();
  if (timed_out) ++metrics_.timed_out;
  const char* finish_reason = timed_out                                 ? "timeout"
                              : (text.stopped() || r.stopped_at_eos) ? "stop"
                                                                        : "length";
  const std::string full_text = follow_text ? text.text() : r.text;
  ordered_json calm = calm_json(q, r, thresholds_);
  const ordered_json usage = {{"prompt_tokens", r.prompt_ids.size()},
                              {"completion_tokens", r.tokens.size()},
                              {"total_tokens", r.prompt_ids.size() + r.tokens.size()}};
  if (q.stream) {
    ordered_json last = chunk_json(c, model_.name, text.take_rest());
    last["choices"][0]["finish_reason"] = finish_reason;
    calm["exit_layers"] = pending_layers;  // this chunk's; the whole list came chunk by chunk
    last["calm"] = calm;
    last["usage"] = usage;
    publish(sse(dump_json(last)));
    publish(sse("[DONE]"));
  }
  if (!timed_out) {
    ++metrics_.completed;
    if (!r.cancelled || generated >= q.max_tokens) monitor_.offer(q, r.text_tokens());
  }
  ordered_json body = {{"id", c.id},
                       {"object", "text_completion"},
                       {"created", c.created},
                       {"model", model_.name},
                       {"choices", ordered_json::array({{{"text", full_text},
                                                         {"index", 0},
                                                         {"logprobs", nullptr},
                                                         {"finish_reason", finish_reason}}})},
                       {"usage", usage},
                       {"calm", calm}};
  if (timed_out && !q.stream)
    return finish(504, error_body("request timed out after " + std::to_string(settings_.limits.timeout_seconds) +
                                      " s (--timeout) with " + std::to_string(r.tokens.size()) + " tokens generated",
                                  "timeout"));
  finish(timed_out ? 504 : 200, dump_json(body));
}

std::string CalmServer::models_body() const {
  const DecodeOptions& rule = settings_.rule;
  ordered_json calm = {{"num_layers", model_.config.decoder_layers},
                       {"rule", rule.to_json()},
                       {"modes", {"calm", "verify", "full"}},
                       {"lambda_override", settings_.allow_lambda},
                       {"max_tokens", rule.max_new_tokens},
                       {"thresholds", thresholds_json(thresholds_)}};
  ordered_json model = {{"id", model_.name}, {"object", "model"}, {"created", 0}, {"owned_by", "calm-studio"},
                        {"calm", calm}};
  return dump_json(ordered_json{{"object", "list"}, {"data", ordered_json::array({model})}});
}

std::string CalmServer::metrics_text() const {
  std::ostringstream out;
  const auto counter = [&](const char* name, const char* help, uint64_t value, const char* labels = "") {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n"
        << name << labels << " " << value << "\n";
  };
  const auto gauge = [&](const char* name, const char* help, double value) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n" << name << " " << value << "\n";
  };
  out << "# HELP calm_requests_total Completion requests answered, by HTTP status.\n"
      << "# TYPE calm_requests_total counter\n";
  const std::pair<const char*, uint64_t> outcomes[] = {
      {"200", metrics_.completed},  {"400", metrics_.bad_request}, {"401", metrics_.unauthorized},
      {"429", metrics_.queue_full}, {"499", metrics_.disconnected}, {"500", metrics_.failed},
      {"504", metrics_.timed_out}};
  for (const auto& [status, n] : outcomes) out << "calm_requests_total{status=\"" << status << "\"} " << n << "\n";
  counter("calm_generated_tokens_total", "Tokens generated for served requests.", metrics_.tokens);
  counter("calm_token_layers_total", "Decoder layers run by those tokens (over the tokens: the average depth).",
          metrics_.token_layers);
  counter("calm_prompt_tokens_total", "Prompt tokens of served requests.", metrics_.prompt_tokens);
  out << "# HELP calm_decode_seconds_total Time spent decoding served requests.\n"
      << "# TYPE calm_decode_seconds_total counter\n"
      << "calm_decode_seconds_total " << double(metrics_.decode_microseconds) / 1e6 << "\n";
  gauge("calm_decoders", "Decoders (requests decoded at once).", double(pool_.decoders()));
  gauge("calm_decoders_busy", "Decoders decoding now.", double(pool_.busy()));
  gauge("calm_queue_waiting", "Requests waiting for a decoder.", double(pool_.waiting()));
  gauge("calm_queue_capacity", "Requests that may wait; beyond them the server answers 429.",
        double(pool_.capacity()));
  gauge("calm_model_layers", "Decoder layers of the model.", double(model_.config.decoder_layers));
  gauge("calm_lambda", "The exit rule's lambda.", settings_.rule.lambda);
  if (thresholds_) gauge("calm_guarantee_delta", "The thresholds file's delta.", thresholds_->file.delta);
  const MonitorState m = monitor_.state();
  if (!m.enabled) return out.str();
  counter("calm_audit_offered_total", "Served requests the guarantee monitor could audit (calm mode, greedy, no stop).",
          m.offered);
  counter("calm_audit_queued_total", "Of those, drawn for an audit (--audit-fraction).", m.queued);
  counter("calm_audit_dropped_total", "Drawn but skipped: the audit backlog was full.", m.dropped);
  counter("calm_audit_completed_total", "Audits done: served output compared with the full model's.",
          static_cast<uint64_t>(m.bounds.n));
  gauge("calm_audit_backlog", "Audits waiting for the low-priority audit thread.", double(m.backlog));
  gauge("calm_audit_mean_loss", "Mean consistency loss of the audited requests (the thresholds file's metric).",
        m.bounds.mean);
  gauge("calm_audit_loss_lower_bound", "Anytime lower confidence bound on the expected loss (level epsilon).",
        m.bounds.lower);
  gauge("calm_audit_loss_upper_bound", "Anytime upper confidence bound on the expected loss (level epsilon).",
        m.bounds.upper);
  gauge("calm_guarantee_epsilon", "The level of those bounds (the thresholds file's epsilon).", m.epsilon);
  gauge("calm_guarantee_alarm", "1 once the lower bound has passed delta: the traffic breaks the guarantee.",
        m.alarm ? 1.0 : 0.0);
  return out.str();
}

std::string CalmServer::status_page() const {
  const MonitorState m = monitor_.state();
  const auto html = [](const std::string& text) {
    std::string out;
    for (char ch : text) {
      switch (ch) {
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '&': out += "&amp;"; break;
        case '"': out += "&quot;"; break;
        default: out += ch;
      }
    }
    return out;
  };
  const auto number = [](double x, int digits) {
    std::ostringstream s;
    s.setf(std::ios::fixed);
    s.precision(digits);
    s << x;
    return s.str();
  };
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">"
      << "<title>calm serve: " << html(model_.name) << "</title>"
      << "<style>body{font-family:sans-serif;max-width:46em;margin:2em auto}td{padding:2px 12px}"
      << ".alarm{color:#b00;font-weight:bold}.ok{color:#070}</style></head><body>\n"
      << "<h1>calm serve: " << html(model_.name) << "</h1>\n<table>\n";
  const auto row = [&](const std::string& name, const std::string& value) {
    out << "<tr><td>" << name << "</td><td>" << value << "</td></tr>\n";
  };
  const uint64_t tokens = metrics_.tokens;
  row("exit rule", "lambda " + number(settings_.rule.lambda, 3) + ", " + measure_name(settings_.rule.measure) +
                       ", tau " + number(settings_.rule.tau, 2));
  row("thresholds file", thresholds_ ? html(thresholds_->hash) + " (" +
                                           (thresholds_->file.exploratory ? "exploratory" : "certified") + ")"
                                     : "none");
  if (thresholds_) row("guarantee", html(guarantee_sentence(thresholds_->file)));
  row("requests answered", std::to_string(metrics_.completed.load()) + " (429: " +
                               std::to_string(metrics_.queue_full.load()) + ", 400: " +
                               std::to_string(metrics_.bad_request.load()) + ")");
  row("average layers", tokens ? number(double(metrics_.token_layers) / double(tokens), 2) + " of " +
                                     std::to_string(model_.config.decoder_layers)
                               : "-");
  row("decoders", std::to_string(pool_.busy()) + " busy of " + std::to_string(pool_.decoders()) + ", " +
                      std::to_string(pool_.waiting()) + " waiting");
  out << "</table>\n<h2>Guarantee monitor</h2>\n";
  if (!m.enabled) {
    out << "<p>Off: " << html(m.why_disabled) << ".</p>\n";
  } else {
    out << "<table>\n";
    row("audited", std::to_string(m.bounds.n) + " of " + std::to_string(m.offered) + " eligible requests (" +
                       number(100.0 * m.fraction, 1) + "% drawn, " + std::to_string(m.dropped) + " skipped, " +
                       std::to_string(m.backlog) + " waiting)");
    row("mean consistency loss", number(m.bounds.mean, 4));
    row("expected loss lies in", "[" + number(m.bounds.lower, 4) + ", " + number(m.bounds.upper, 4) +
                                     "] (anytime, level " + number(m.epsilon, 3) + ")");
    row("delta", number(m.delta, 4));
    out << "</table>\n";
    if (m.alarm)
      out << "<p class=\"alarm\">DRIFT ALARM: the lower bound passed delta. The served traffic shows a "
          << "higher expected loss than the thresholds file certifies; recalibrate on data like it.</p>\n";
    else if (m.bounds.n > 0 && m.bounds.upper <= m.delta)
      out << "<p class=\"ok\">No drift: the audited traffic itself bounds the expected loss below delta.</p>\n";
    else
      out << "<p class=\"ok\">No drift seen: the lower bound is below delta (the upper bound narrows as "
          << "audits accumulate).</p>\n";
  }
  out << "</body></html>\n";
  return out.str();
}

}  // namespace calm::serve
