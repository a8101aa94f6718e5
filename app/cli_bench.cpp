#include "cli_bench.h"


#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "calibrate/sampling.h"
#include "calibrate/thresholds.h"
#include "cli_common.h"
#include "kernels/matvec.h"
#include "decode/option_bounds.h"
#include "io/utf8.h"
#include "util/hash.h"
#include "nn/forward.h"

namespace calm::cli {

const char* const kBenchUsage = R"(
benchmark:
  calm bench    [--model DIR|NAME] [--data test.jsonl] [--limit 50] [--repeats 3] [--threads 1]
                [--thresholds FILE | --lambda X [decoding options of generate] | --oracle] [--json]

bench decodes each example with the full model and with CALM (at the thresholds file's settings,
at --lambda, or replaying the local oracle's exits), alternating which goes first, and reports
tokens/s and the measured speedup per token of the token loop (the prompt, the same work for both,
is left out and shown in the breakdown), the ideal speedup from the FLOPs CALM spent, their
ratio, where the time went, the GFLOP/s of the loop against the kernels alone on the same shapes, and the
peak memory. --threads N decodes N examples at a time (one decoder each). With --lambda 1 the full
model runs once per example (there is no second, identical pass to compare).

  calm bench --engine [--model DIR|NAME] [--weights W] [--threads N] [--tokens 64] [--repeats 3]
                      [--prompt TEXT] [--verify-rows 1,2,4,8] [--json]

--engine measures the engine alone: load time, full-model tokens/s for one decode on N threads
(every run decodes --tokens tokens, end of sequence ignored), the weights streamed per second
against the memory bandwidth measured in the same run, a verification pass over K rows
relative to one row, and peak memory.
)";

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::ordered_json;

// One example, one repeat: the full run and the CALM run.
struct Pair {
  int full_tokens = 0, calm_tokens = 0;
  double full_seconds = 0, calm_seconds = 0;
  double full_flops = 0;       // spent by the full run
  double calm_flops = 0;       // spent by the CALM run
  double calm_full_flops = 0;  // the full model's cost of the CALM run's tokens
  double calm_layers = 0;      // summed exit layers
  int drafted = 0, accepted = 0;
  DecodeProfile full_profile, calm_profile;
};

void add(DecodeProfile& a, const DecodeProfile& b) {
  a.prompt += b.prompt;
  a.layers += b.layers;
  a.vocabulary += b.vocabulary;
  a.confidence += b.confidence;
  a.propagation += b.propagation;
  a.verification += b.verification;
  a.analysis += b.analysis;
  a.sampling += b.sampling;
  a.tokenizer += b.tokenizer;
}

ordered_json profile_json(const DecodeProfile& p) {
  return {{"prompt", p.prompt},         {"layers", p.layers},           {"vocabulary", p.vocabulary},
          {"confidence", p.confidence}, {"propagation", p.propagation}, {"verification", p.verification},
          {"analysis", p.analysis},     {"sampling", p.sampling},       {"tokenizer", p.tokenizer}};
}

// GFLOP/s that the weight kernels reach on the decoder's own matrix-vector
// shapes, each product timed alone in a loop: the ceiling the token loop is
// measured against.
double isolated_gflops(const Model& model) {
  const Weights& w = model.weights;
  std::vector<const WeightMatrix*> shapes;
  for (const LayerWeights& l : w.decoder) {
    for (const WeightMatrix* m : {&l.self_attn.q, &l.self_attn.k, &l.self_attn.v, &l.self_attn.o, &l.cross_attn.q,
                                  &l.cross_attn.o, &l.ffn.gate, &l.ffn.up, &l.ffn.down})
      if (!m->empty()) shapes.push_back(m);
  }
  shapes.push_back(&w.output_projection());
  Vector in = Vector::Ones(std::max(model.config.d_model, model.config.d_ff));
  Vector out(std::max(model.config.vocab_size, std::max(model.config.d_model, model.config.d_ff)));
  double flops = 0;
  const Clock::time_point start = Clock::now();
  double seconds = 0;
  while (seconds < 0.3) {
    for (const WeightMatrix* m : shapes) {
      matvec(*m, in.data(), out.data());
      in[0] += out[0] * 1e-30f;  // a dependency, so nothing is optimised away
      flops += 2.0 * static_cast<double>(m->rows) * static_cast<double>(m->cols);
    }
    seconds = std::chrono::duration<double>(Clock::now() - start).count();
  }
  return flops / seconds / 1e9;
}

}  // namespace

int cmd_bench(const std::vector<std::string>& argv) {
  std::set<std::string> valued{"model", "weights", "data", "limit", "limit-seed", "repeats", "threads", "thresholds"};
  if (std::find(argv.begin(), argv.end(), "--engine") != argv.end())
    return cmd_bench_engine(Args(argv, {"model", "weights", "threads", "tokens", "repeats", "prompt", "verify-rows"},
                                 {"engine", "json"}));
  valued.insert(kDecodeOptionNames.begin(), kDecodeOptionNames.end());
  const Args args(argv, valued, {"json", "oracle", "skip-bad-lines", "truncate"});
  const int repeats = args.get_int("repeats", 3, 1, OptionBounds::kMaxRepeats);
  const int threads = threads_of(args, 1, 1);
  if (args.has("thresholds") + args.has("lambda") + args.flag("oracle") > 1)
    throw UsageError("give one of --thresholds, --lambda and --oracle");

  const Model model = load_model_arg(args);
  const std::string data = data_file(args, "data", model, "test");
  std::vector<Example> examples = read_examples(data, args);
  if (!args.has("limit")) examples = random_examples(std::move(examples), 50, limit_seed_of(args));

  DecodeOptions calm_options;
  std::string setting;
  if (args.has("thresholds")) {
    const Thresholds t = read_thresholds(args.get("thresholds"));
    // eval refuses another model's thresholds; a benchmark still measures
    // speed at that lambda, so it warns instead.
    const std::string hash = file_hash(model.dir + "/model.safetensors");
    if (hash != t.model_hash)
      std::cerr << "calm: warning: " << args.get("thresholds") << " was calibrated for model '" << t.model_name
                << "' (hash " << t.model_hash << ") but " << model.dir << "/model.safetensors has hash " << hash
                << ": its guarantee does not carry over; the speed below is this model's at that lambda\n";
    calm_options = t.decode_options();
    setting = args.get("thresholds") + " (lambda " + fixed(t.lambda, 3) + ")";
  } else {
    calm_options = decode_options(args);
    if (args.flag("oracle")) calm_options.policy = ExitPolicy::Oracle;
    setting = args.flag("oracle") ? std::string("local oracle (replayed exits)")
                                  : "lambda " + fixed(calm_options.lambda, 3);
  }
  calm_options.truncate_prompt = true;
  calm_options.trace = false;
  const DecodeOptions full_options = calm_options.full_model();
  const bool oracle = calm_options.policy == ExitPolicy::Oracle;
  // lambda 1 never exits: the CALM run would be the full model's, run twice.
  const bool calm_is_full = (calm_options.policy == ExitPolicy::Calm || calm_options.policy == ExitPolicy::Full) &&
                            calm_options.lambda >= 1.0f && calm_options.verify_draft == 0;

  // repeats x examples, filled by the worker threads.
  std::vector<std::vector<Pair>> pairs(repeats, std::vector<Pair>(examples.size()));
  std::vector<double> wall(repeats);
  auto work = [&](int repeat, size_t first) {
    Decoder decoder(model);
    for (size_t i = first; i < examples.size(); i += static_cast<size_t>(threads)) {
      DecodeOptions o = calm_options;
      if (oracle) {  // the oracle's exits, then a timed run that takes exactly those
        const DecodeResult probe = decoder.generate(examples[i].input, calm_options);
        o.policy = ExitPolicy::Static;
        o.exit_schedule = probe.exit_layers;
      }
      Pair& p = pairs[repeat][i];
      for (int k = 0; k < (calm_is_full ? 1 : 2); ++k) {
        const bool full_turn = (k == 0) == ((repeat + i) % 2 == 0);  // alternate who goes first
        const DecodeResult r = decoder.generate(examples[i].input, full_turn ? full_options : o);
        if (calm_is_full) {  // one run stands for both
          p.full_tokens = p.calm_tokens = int(r.tokens.size());
          p.full_seconds = p.calm_seconds = r.seconds - r.profile.prompt;
          p.full_flops = p.calm_flops = p.calm_full_flops = r.flops;
          p.full_profile = p.calm_profile = r.profile;
          p.calm_layers = r.average_layers() * double(r.tokens.size());
          continue;
        }
        const int n = static_cast<int>(r.tokens.size());
        // The prompt is the same work for both (and outside the FLOPs): its
        // time is reported in the breakdown but left out of the token loop's.
        const double seconds = r.seconds - r.profile.prompt;
        if (full_turn) {
          p.full_tokens = n, p.full_seconds = seconds, p.full_flops = r.flops, p.full_profile = r.profile;
        } else {
          p.calm_tokens = n, p.calm_seconds = seconds, p.calm_flops = r.flops, p.calm_full_flops = r.full_flops;
          p.calm_layers = r.average_layers() * n, p.calm_profile = r.profile;
          p.drafted = r.drafted, p.accepted = r.accepted;
        }
      }
    }
  };
  {  // warm-up: caches, page faults, the allocator
    Decoder decoder(model);
    decoder.generate(examples[0].input, full_options);
    if (!oracle) decoder.generate(examples[0].input, calm_options);
  }
  for (int repeat = 0; repeat < repeats; ++repeat) {
    const Clock::time_point start = Clock::now();
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work, repeat, static_cast<size_t>(t));
    work(repeat, 0);
    for (auto& th : pool) th.join();
    wall[repeat] = std::chrono::duration<double>(Clock::now() - start).count();
    std::cerr << "\rcalm bench: repeat " << repeat + 1 << "/" << repeats << std::flush;
  }
  std::cerr << "\n";

  // Per repeat: speeds and the per-token speedup; medians over repeats.
  std::vector<double> full_speed, calm_speed, speedup, wall_speed;
  double full_flops = 0, calm_flops = 0, calm_full_flops = 0, layers = 0;
  long calm_tokens = 0, drafted = 0, accepted = 0;
  DecodeProfile full_profile, calm_profile;
  for (int repeat = 0; repeat < repeats; ++repeat) {
    double fs = 0, cs = 0;
    long ft = 0, ct = 0;
    for (const Pair& p : pairs[repeat]) {
      fs += p.full_seconds, cs += p.calm_seconds, ft += p.full_tokens, ct += p.calm_tokens;
      full_flops += p.full_flops, calm_flops += p.calm_flops, calm_full_flops += p.calm_full_flops;
      layers += p.calm_layers, drafted += p.drafted, accepted += p.accepted;
      add(full_profile, p.full_profile);
      add(calm_profile, p.calm_profile);
    }
    full_speed.push_back(ft / fs);
    calm_speed.push_back(ct / cs);
    speedup.push_back((fs / ft) / (cs / ct));
    wall_speed.push_back((ft + ct) / wall[repeat]);
    calm_tokens += ct;
  }
  const double ideal = calm_full_flops / calm_flops;
  const double measured = median(speedup);
  const double loop_gflops = full_flops / (full_profile.layers + full_profile.vocabulary) / 1e9;
  const double kernel_gflops = isolated_gflops(model);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double peak_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;

  ordered_json j = {{"model", model.name},
                    {"data", data},
                    {"examples", examples.size()},
                    {"repeats", repeats},
                    {"threads", threads},
                    {"setting", setting},
                    {"measure", measure_name(calm_options.measure)},
                    {"gate", gate_name(calm_options.gate)},
                    {"kv_mode", kv_mode_name(calm_options.kv_mode)},
                    {"verify_draft", calm_options.verify_draft},
                    {"full_tokens_per_second", median(full_speed)},
                    {"calm_tokens_per_second", median(calm_speed)},
                    {"tokens_per_second_all_threads", median(wall_speed)},
                    {"measured_speedup", measured},
                    {"ideal_speedup", ideal},
                    {"measured_over_ideal", measured / ideal},
                    {"average_layers", layers / static_cast<double>(calm_tokens)},
                    {"num_layers", model.config.decoder_layers},
                    {"acceptance", drafted ? static_cast<double>(accepted) / drafted : 0.0},
                    {"loop_gflops", loop_gflops},
                    {"kernel_gflops", kernel_gflops},
                    {"peak_memory_mb", peak_mb},
                    {"full_profile_seconds", profile_json(full_profile)},
                    {"calm_profile_seconds", profile_json(calm_profile)}};
  if (args.flag("json")) {
    std::cout << dump_json(j, 2) << "\n";
    return 0;
  }
  auto share = [](double part, double total) { return fixed(100.0 * part / total, 1) + "%"; };
  const double ct = calm_profile.total(), ft = full_profile.total();
  std::cout << "model " << model.name << ", " << examples.size() << " examples of " << data << ", " << repeats
            << " repeats, " << threads << " thread(s)\n"
            << "CALM: " << setting << ", measure " << measure_name(calm_options.measure)
            << (calm_options.gate != Gate::None ? std::string(", gate ") + gate_name(calm_options.gate) + " >= " +
                                                      fixed(calm_options.gate_threshold, 2)
                                                : "")
            << ", kv " << kv_mode_name(calm_options.kv_mode)
            << (calm_options.verify_draft ? ", verify " + std::to_string(calm_options.verify_draft) : "") << "\n"
            << "full model:       " << fixed(median(full_speed), 0) << " tokens/s\n"
            << "CALM:             " << fixed(median(calm_speed), 0) << " tokens/s, "
            << fixed(layers / static_cast<double>(calm_tokens), 2) << " of " << model.config.decoder_layers
            << " layers on average\n"
            << "speedup:          " << fixed(measured, 2) << "x measured (per token, median of repeats), "
            << fixed(ideal, 2) << "x ideal from FLOPs, ratio " << fixed(measured / ideal, 2) << "\n";
  if (drafted)
    std::cout << "verify mode:      " << fixed(100.0 * accepted / drafted, 1) << "% of drafted tokens accepted\n";
  std::cout << "all threads:      " << fixed(median(wall_speed), 0) << " tokens/s over wall time\n"
            << "time (full/CALM): layers " << share(full_profile.layers, ft) << "/" << share(calm_profile.layers, ct)
            << ", vocabulary " << share(full_profile.vocabulary, ft) << "/" << share(calm_profile.vocabulary, ct)
            << ", confidence " << share(full_profile.confidence, ft) << "/" << share(calm_profile.confidence, ct)
            << ", propagation " << share(full_profile.propagation, ft) << "/"
            << share(calm_profile.propagation, ct) << ", verification " << share(calm_profile.verification, ct)
            << ", prompt " << share(full_profile.prompt, ft) << "/" << share(calm_profile.prompt, ct)
            << ", sampling " << share(full_profile.sampling, ft) << "/" << share(calm_profile.sampling, ct)
            << ", tokenizer " << share(full_profile.tokenizer, ft) << "/" << share(calm_profile.tokenizer, ct)
            << ", oracle probe/trace " << share(calm_profile.analysis, ct) << "\n"
            << "layer math:       " << fixed(loop_gflops, 2) << " GFLOP/s in the loop vs " << fixed(kernel_gflops, 2)
            << " GFLOP/s for the kernels on the same shapes alone (" << fixed(100.0 * loop_gflops / kernel_gflops, 0)
            << "%)\n"
            << "peak memory:      " << fixed(peak_mb, 1) << " MB\n";
  return 0;
}

}  // namespace calm::cli
