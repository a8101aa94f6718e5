#include "calibrate/calibrator.h"

#include <filesystem>
#include <fstream>
#include <mutex>
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

nlohmann::json outputs_to_json(size_t index, const ExampleOutputs& o) {
  return {{"i", index},         {"full", o.full},     {"full_s", o.full_seconds}, {"full_f", o.full_flops},
          {"early", o.early},   {"layers", o.layers}, {"seconds", o.seconds},     {"flops", o.flops}};
}

ExampleOutputs outputs_from_json(const nlohmann::json& j, size_t grid) {
  ExampleOutputs o;
  o.full = j.at("full").get<std::vector<int>>();
  o.full_seconds = j.at("full_s").get<double>();
  o.full_flops = j.at("full_f").get<double>();
  o.early = j.at("early").get<std::vector<std::vector<int>>>();
  o.layers = j.at("layers").get<std::vector<double>>();
  o.seconds = j.at("seconds").get<std::vector<double>>();
  o.flops = j.at("flops").get<std::vector<double>>();
  if (o.early.size() != grid || o.layers.size() != grid || o.seconds.size() != grid || o.flops.size() != grid)
    throw Error("grid size differs");
  return o;
}

nlohmann::json cache_header(const CalibrationRun& run) {
  return {{"calm_calibration_cache", 1},
          {"model_hash", run.model_hash},
          {"data_hash", run.data_hash},
          {"examples", run.examples.size()},
          {"settings", run.settings.to_json()}};
}

// The same header as written while tau and the gate threshold were floats
// (0.3 as 0.30000001192092896): such caches hold the same runs.
nlohmann::json float_era_cache_header(const CalibrationRun& run) {
  nlohmann::json header = cache_header(run);
  nlohmann::json& settings = header["settings"];
  settings["tau"] = static_cast<double>(static_cast<float>(run.settings.tau));
  if (settings.contains("gate_threshold"))
    settings["gate_threshold"] = static_cast<double>(static_cast<float>(run.settings.gate_threshold));
  return header;
}

// Loads the finished examples of a matching cache into `run`. Drops a torn
// last line (a crash mid-write) by truncating the file to its last whole line.
size_t load_cache(const std::string& path, CalibrationRun& run) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot read the calibration cache");
  std::string line;
  uint64_t good_bytes = 0;
  if (!std::getline(in, line) || in.eof()) {  // empty or a torn header: start afresh
    in.close();
    std::filesystem::resize_file(path, 0, ec);
    return 0;
  }
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(line);
  } catch (const std::exception&) {
    throw Error(path + ":1: not a calibration cache (its first line is not the expected JSON header)");
  }
  if (header != cache_header(run) && header != float_era_cache_header(run))
    throw Error(path + ": this calibration cache was made for another model, data set or settings; "
                "delete it or choose another cache file");
  good_bytes = line.size() + 1;
  size_t loaded = 0;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no newline: torn by a crash
    try {
      const auto j = nlohmann::json::parse(line);
      const size_t index = j.at("i").get<size_t>();
      if (index >= run.outputs.size()) throw Error("index out of range");
      run.outputs[index] = outputs_from_json(j, run.settings.grid.size());
      ++loaded;
    } catch (const std::exception&) {
      break;  // keep what came before; the rest is rewritten
    }
    good_bytes += line.size() + 1;
  }
  in.close();
  if (std::filesystem::file_size(path, ec) != good_bytes) std::filesystem::resize_file(path, good_bytes, ec);
  return loaded;
}

}  // namespace

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
  state.total = run.examples.size();
  std::ofstream cache;
  if (!cache_path.empty()) {
    state.resumed = load_cache(cache_path, run);
    const bool fresh = !std::filesystem::exists(cache_path) || std::filesystem::file_size(cache_path) == 0;
    cache.open(cache_path, std::ios::app | std::ios::binary);
    if (!cache) throw Error(cache_path + ": cannot write the calibration cache");
    if (fresh) cache << cache_header(run).dump() << "\n" << std::flush;
  }
  std::vector<size_t> pending;
  for (size_t i = 0; i < run.outputs.size(); ++i)
    if (!run.outputs[i]) pending.push_back(i);
  state.done = run.examples.size() - pending.size();
  if (progress) progress(state);

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
        if (cache.is_open()) cache << outputs_to_json(index, o).dump() << "\n" << std::flush;
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
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (!error.empty()) throw Error(error);
  return run.complete();
}

}  // namespace calm
