#include "calibrate/calibrator.h"

#include "calibrate/cache_file.h"
#include "decode/option_bounds.h"

#include <filesystem>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include "util/error.h"
#include "util/hash.h"

namespace calm {

Consistency parse_consistency(const std::string& name) {
  if (name == "textual") return Consistency::Textual;
  if (name == "risk") return Consistency::Risk;
  throw Error("unknown consistency '" + name + "' (expected textual or risk)");
}

const char* consistency_name(Consistency c) { return c == Consistency::Textual ? "textual" : "risk"; }

void require_references(const std::vector<Example>& examples, const std::string& data_path) {
  for (const Example& e : examples)
    if (!e.reference)
      throw Error(data_path + ":" + std::to_string(e.line) +
                  ": risk consistency needs a \"reference\" for every example; this one has none "
                  "(use textual consistency, which needs no references)");
}

DecodeOptions RunSettings::decode_options(double lambda) const {
  DecodeOptions o;
  o.rule() = *this;
  o.lambda = lambda;
  if (lambda >= 1.0) o = o.full_model();
  o.truncate_prompt = true;  // a long calibration input is cut to fit, not dropped
  return o;
}

RunSettings RunSettings::from(const ExitRule& rule) {
  RunSettings s;
  static_cast<ExitRule&>(s) = rule;
  s.policy = ExitPolicy::Calm;
  s.lambda = 1.0;
  s.static_layer = 1;
  s.verify_draft = 0;
  return s;
}

nlohmann::json RunSettings::to_json() const {
  nlohmann::json j = ExitRule::to_json();
  j.erase("lambda");
  j["grid"] = grid;
  if (limit > 0) j["random_subset"] = {{"limit", limit}, {"seed", limit_seed}};  // absent when unused, so older caches still match
  return j;
}

size_t CalibrationRun::finished() const {
  size_t n = 0;
  for (const auto& o : outputs) n += o.has_value();
  return n;
}

std::vector<size_t> CalibrationRun::assigned() const {
  if (shard) return shard->indices(examples.size());
  std::vector<size_t> all(examples.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  return all;
}

namespace {

std::vector<size_t> finished_subset(const CalibrationRun& run, const std::vector<size_t>& subset) {
  if (!subset.empty()) {
    for (size_t i : subset)
      if (i >= run.outputs.size() || !run.outputs[i])
        throw Error("calibration example " + std::to_string(i) + " has not been run");
    return subset;
  }
  std::vector<size_t> all;
  for (size_t i = 0; i < run.outputs.size(); ++i)
    if (run.outputs[i]) all.push_back(i);
  return all;
}

}  // namespace

double textual_consistency_loss(const Tokenizer& tokenizer, Metric metric, TextUnit unit,
                                const std::vector<int>& early, const std::vector<int>& full) {
  if (unit == TextUnit::Pieces) return textual_loss(metric, early, full);
  WordIds words;  // one word vocabulary for both texts, as in loss_table
  const TokenIds early_words = words(tokenizer.decode(early));
  return textual_loss(metric, early_words, words(tokenizer.decode(full)));
}

LossTable CalibrationRun::loss_table(const Tokenizer& tokenizer, Consistency consistency, Metric metric,
                                     const std::vector<size_t>& subset, TextUnit unit) const {
  const auto indices = finished_subset(*this, subset);
  for (size_t i : indices)
    if (consistency == Consistency::Risk && !examples[i].reference)
      throw Error(data_path + ":" + std::to_string(examples[i].line) +
                  ": risk consistency needs a \"reference\" for every example; this one has none "
                  "(use textual consistency, which needs no references)");
  // What the metric compares: the ids as generated, or the words of the text
  // (one word vocabulary shared by every output and reference).
  WordIds words;
  const auto units = [&](const std::vector<int>& ids) {
    return unit == TextUnit::Pieces ? ids : words(tokenizer.decode(ids));
  };
  LossTable table;
  table.lambdas = settings.grid;
  table.losses.assign(settings.grid.size(), std::vector<double>(indices.size()));
  table.layers.assign(settings.grid.size(), std::vector<double>(indices.size()));
  for (size_t k = 0; k < indices.size(); ++k) {
    const ExampleOutputs& o = *outputs[indices[k]];
    const TokenIds full = units(o.full);
    TokenIds reference;
    if (consistency == Consistency::Risk) {
      const std::string& text = *examples[indices[k]].reference;
      reference = unit == TextUnit::Pieces ? tokenizer.encode(text) : words(text);
    }
    for (size_t p = 0; p < settings.grid.size(); ++p) {
      const TokenIds early = units(o.early[p]);
      table.losses[p][k] = consistency == Consistency::Textual ? textual_loss(metric, early, full)
                                                               : risk_loss(metric, early, full, reference);
      table.layers[p][k] = o.layers[p];
    }
  }
  return table;
}

double CalibrationRun::measured_speedup(size_t point, const std::vector<size_t>& subset) const {
  double full = 0.0, early = 0.0;
  for (size_t i : finished_subset(*this, subset)) {
    full += outputs[i]->full_seconds;
    early += outputs[i]->seconds.at(point);
  }
  return early > 0.0 ? full / early : 1.0;
}

double CalibrationRun::flops_speedup(size_t point, const std::vector<size_t>& subset) const {
  double full = 0.0, early = 0.0;
  for (size_t i : finished_subset(*this, subset)) {
    full += outputs[i]->full_flops;
    early += outputs[i]->flops.at(point);
  }
  return early > 0.0 ? full / early : 1.0;
}

CalibrationRun Calibrator::prepare(const Model& model, const std::string& data_path, std::vector<Example> examples,
                                   const RunSettings& settings) {
  if (examples.empty()) throw Error(data_path + ": the calibration set has no examples");
  if (settings.grid.empty() || settings.grid.front() != 1.0)
    throw Error("the lambda grid must start at 1 (the full model), the safest point");
  // Checked here, before any example runs, so a bad setting is not blamed on
  // the first data line.
  if (settings.grid.size() > size_t(OptionBounds::kMaxGridPoints))
    throw Error("the lambda grid has " + std::to_string(settings.grid.size()) + " points; at most " +
                std::to_string(OptionBounds::kMaxGridPoints) + " (a grid step of at least 0.001)");
  if (settings.max_new_tokens < 1 || settings.max_new_tokens > OptionBounds::kMaxNewTokens)
    throw Error("max new tokens must be from 1 to " + std::to_string(OptionBounds::kMaxNewTokens) + ", got " +
                std::to_string(settings.max_new_tokens));
  CalibrationRun run;
  run.model_name = model.name;
  run.model_hash = file_hash(model.dir + "/model.safetensors");
  run.data_path = data_path;
  uint64_t data_hash = fnv1a64("");
  for (const Example& e : examples) {
    data_hash = fnv1a64(e.input, data_hash);
    data_hash = fnv1a64(e.reference ? "\x01" + *e.reference : std::string("\x02"), data_hash);
  }
  run.data_hash = hash_hex(data_hash);
  run.settings = settings;
  run.examples = std::move(examples);
  run.outputs.assign(run.examples.size(), std::nullopt);
  return run;
}

bool Calibrator::run(const Model& model, CalibrationRun& run, const std::string& cache_path, int threads,
                     const ProgressCallback& progress, const std::atomic<bool>* cancel) {
  CalibrationProgress state;
  const std::vector<size_t> assigned = run.assigned();
  state.total = assigned.size();
  std::optional<CalibrationCache> cache;  // locked until the run ends
  if (!cache_path.empty()) {
    cache.emplace(cache_path, run);
    state.resumed = cache->loaded();
    state.cache_bad_lines = cache->bad_lines();
  }
  std::vector<size_t> pending;
  for (size_t i : assigned)
    if (!run.outputs[i]) pending.push_back(i);
  state.done = assigned.size() - pending.size();
  if (progress) progress(state);

  if (threads > OptionBounds::kMaxThreads)
    throw Error("at most " + std::to_string(OptionBounds::kMaxThreads) + " calibration threads, asked for " +
                std::to_string(threads));
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = std::min<int>(threads, static_cast<int>(std::max<size_t>(pending.size(), 1)));
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;  // guards run.outputs, the cache file, progress and `error`
  std::string error;
  auto stop = [&] { return failed.load() || (cancel && cancel->load()); };

  auto worker = [&] {
    Decoder decoder(model);
    const TokenCallback keep_going = [&](const TokenTrace&) { return !stop(); };
    while (!stop()) {
      const size_t k = next.fetch_add(1);
      if (k >= pending.size()) break;
      const size_t index = pending[k];
      const Example& example = run.examples[index];
      try {
        ExampleOutputs o;
        const DecodeResult full = decoder.generate(example.input, run.settings.decode_options(1.0), keep_going);
        o.full = full.text_tokens();
        o.full_seconds = full.seconds;
        o.full_flops = full.full_flops;
        // Down the grid, each run keeps the tokens on which it agrees with
        // the one before by construction (Decoder::shared_prefix).
        std::optional<DecodeResult> previous;
        for (double lambda : run.settings.grid) {
          if (stop()) break;
          if (lambda >= 1.0) {  // the full model itself: no second run
            o.early.push_back(o.full);
            o.layers.push_back(full.average_layers());
            o.seconds.push_back(full.seconds);
            o.flops.push_back(full.flops);
            continue;
          }
          const DecodeOptions options = run.settings.decode_options(lambda);
          const DecodeResult r =
              previous ? decoder.resume(*previous, Decoder::shared_prefix(*previous, options), options, keep_going)
                       : decoder.generate(example.input, options, keep_going);
          previous = r;
          o.early.push_back(r.text_tokens());
          o.layers.push_back(r.average_layers());
          o.seconds.push_back(r.seconds);
          o.flops.push_back(r.flops);
        }
        if (stop()) break;  // an unfinished example is dropped, not kept half-done
        std::lock_guard<std::mutex> lock(mutex);
        if (cache) cache->append(index, o);
        run.outputs[index] = std::move(o);
        ++state.done;
        if (progress) progress(state);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mutex);
        if (error.empty()) error = run.data_path + ":" + std::to_string(example.line) + ": " + e.what();
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  try {
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  } catch (const std::system_error& e) {  // the system refused a thread: stop the ones started, then say so
    failed = true;
    for (auto& t : pool) t.join();
    throw Error("cannot start " + std::to_string(threads) + " calibration threads (" + e.what() +
                "); use fewer threads");
  }
  for (auto& t : pool) t.join();
  if (!error.empty()) throw Error(error);
  for (size_t i : assigned)
    if (!run.outputs[i]) return false;
  return true;
}

}  // namespace calm
