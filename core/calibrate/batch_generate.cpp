#include "calibrate/batch_generate.h"

#include <algorithm>
#include <exception>
#include <mutex>
#include <thread>

#include "io/utf8.h"
#include "model/model.h"

namespace calm {
namespace {

using nlohmann::json;

json output_line(const Example& e, const std::optional<DecodeResult>& r, const std::string& error) {
  json line = e.extra;
  line["line"] = e.line;
  line["input"] = e.input;
  if (e.reference) line["reference"] = *e.reference;
  if (!r) {
    line["error"] = error;
    return line;
  }
  line["text"] = r->text;
  line["token_ids"] = r->tokens;
  line["exit_layers"] = r->exit_layers;
  line["average_layers"] = r->average_layers();
  line["num_layers"] = r->num_layers;
  line["stopped_at_eos"] = r->stopped_at_eos;
  line["prompt_truncated"] = r->prompt_truncated;
  line["seconds"] = r->seconds;
  if (r->verify_passes > 0 || r->drafted > 0) {
    line["drafted"] = r->drafted;
    line["accepted"] = r->accepted;
  }
  return line;
}

}  // namespace

std::size_t BatchGeneration::finished() const { return static_cast<std::size_t>(std::count(done.begin(), done.end(), 1)); }

std::size_t BatchGeneration::failed() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < done.size(); ++i) n += done[i] && !results[i];
  return n;
}

std::size_t BatchGeneration::tokens() const {
  std::size_t n = 0;
  for (const auto& r : results)
    if (r) n += r->exit_layers.size();
  return n;
}

double BatchGeneration::average_layers() const {
  double layers = 0.0;
  for (const auto& r : results)
    if (r) layers += r->average_layers() * static_cast<double>(r->exit_layers.size());
  const std::size_t n = tokens();
  return n > 0 ? layers / static_cast<double>(n) : 0.0;
}

double BatchGeneration::seconds() const {
  double s = 0.0;
  for (const auto& r : results)
    if (r) s += r->seconds;
  return s;
}

std::string BatchGeneration::first_error(const std::vector<Example>& examples) const {
  for (std::size_t i = 0; i < done.size(); ++i)
    if (done[i] && !results[i]) return "line " + std::to_string(examples[i].line) + ": " + errors[i];
  return {};
}

BatchGeneration generate_batch(const Model& model, const std::vector<Example>& examples,
                               const DecodeOptions& options, int threads,
                               const std::function<bool()>& cancelled,
                               const std::function<void(std::size_t, std::size_t)>& progress) {
  BatchGeneration batch;
  batch.results.resize(examples.size());
  batch.errors.resize(examples.size());
  batch.done.assign(examples.size(), 0);
  std::atomic<std::size_t> next{0}, finished{0};
  std::mutex progress_mutex;
  const auto work = [&] {
    Decoder decoder(model);
    for (std::size_t i; !cancelled() && (i = next.fetch_add(1)) < examples.size();) {
      try {
        batch.results[i] = decoder.generate(examples[i].input, options);
      } catch (const std::exception& e) {  // e.g. a prompt too long without truncation
        batch.errors[i] = e.what();
      }
      batch.done[i] = 1;
      const std::size_t count = finished.fetch_add(1) + 1;
      const std::lock_guard<std::mutex> lock(progress_mutex);
      if (progress) progress(count, examples.size());
    }
  };
  const int workers = std::max(1, std::min<int>(threads, static_cast<int>(examples.size())));
  std::vector<std::thread> pool;
  for (int t = 1; t < workers; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  batch.cancelled = finished.load() < examples.size();
  return batch;
}

std::string batch_jsonl(const std::vector<Example>& examples, const BatchGeneration& batch) {
  std::string text;
  for (std::size_t i = 0; i < examples.size(); ++i)
    if (batch.done[i]) text += dump_json(output_line(examples[i], batch.results[i], batch.errors[i])) + "\n";
  return text;
}

}  // namespace calm
