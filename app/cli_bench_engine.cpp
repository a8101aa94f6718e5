// `calm bench --engine`: the engine's own speed on one model, single stream,
// full model: load time, tokens/s, the bytes of weights streamed per second
// against the machine's memory bandwidth measured in the same run, the cost
// of a verification pass over K rows relative to one, and peak memory.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_bench.h"
#include "cli_common.h"
#include "decode/decoder.h"
#include "kernels/matvec.h"
#include "kernels/thread_pool.h"
#include "nn/forward.h"

namespace calm::cli {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::ordered_json;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double peak_rss_gb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0 / 1e9;
}

// Bytes one token's full-depth decode reads of the weights: every decoder
// layer's matrices and the vocabulary projection (the embedding gives one row).
double weight_bytes_per_token(const Model& model) {
  const Weights& w = model.weights;
  double bytes = double(w.output_projection().bytes());
  for (const LayerWeights& l : w.decoder)
    for (const WeightMatrix* m : {&l.self_attn.q, &l.self_attn.k, &l.self_attn.v, &l.self_attn.o, &l.cross_attn.q,
                                  &l.cross_attn.o, &l.ffn.gate, &l.ffn.up, &l.ffn.down})
      bytes += double(m->bytes());
  return bytes;
}

// A STREAM-like measurement over `bytes` per array (far past the caches):
// "read" sums an array (what a matrix-vector product does to its weights),
// "copy" is STREAM's copy (read + write counted). Best of `repeats`, in GB/s.
struct Bandwidth {
  double read = 0, copy = 0;
};
Bandwidth memory_bandwidth(ThreadPool* pool, size_t bytes, int repeats) {
  const size_t n = bytes / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> a(new uint64_t[n]), b(new uint64_t[n]);
  const int threads = pool ? pool->size() : 1;
  const size_t per = (n + threads - 1) / threads;
  auto parallel = [&](auto&& body) {
    if (pool) pool->run(threads, [&](int t) { body(std::min(n, t * per), std::min(n, (t + 1) * per)); });
    else body(size_t(0), n);
  };
  parallel([&](size_t begin, size_t end) {  // touch every page first, from the threads that will use it
    for (size_t i = begin; i < end; ++i) a[i] = i, b[i] = 0;
  });
  Bandwidth best;
  std::vector<uint64_t> sums(size_t(threads), 0);
  for (int r = 0; r < repeats; ++r) {
    Clock::time_point start = Clock::now();
    parallel([&](size_t begin, size_t end) {
      uint64_t sum = 0;
      for (size_t i = begin; i < end; ++i) sum += a[i];
      sums[begin / std::max<size_t>(per, 1)] += sum;
    });
    best.read = std::max(best.read, double(n * sizeof(uint64_t)) / seconds_since(start) / 1e9);
    start = Clock::now();
    parallel([&](size_t begin, size_t end) { std::copy(a.get() + begin, a.get() + end, b.get() + begin); });
    best.copy = std::max(best.copy, 2.0 * double(n * sizeof(uint64_t)) / seconds_since(start) / 1e9);
  }
  if (sums[0] == 42 && b[1] == 42) std::cerr << "";  // the sums are used: nothing is optimised away
  return best;
}

// Seconds for one verification pass over `k` drafted positions after a
// prompt: all k rows through every layer, then every row's exit logits.
double verification_seconds(const Model& model, ThreadPool* pool, int prompt_length, int k, int repeats) {
  RunState state(model.config);
  state.pool = pool;
  std::vector<int> ids(static_cast<size_t>(prompt_length + k));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int(i * 7919 % size_t(std::max(1, model.tokenizer.size())));
  std::vector<int> positions(static_cast<size_t>(prompt_length));
  for (int p = 0; p < prompt_length; ++p) positions[size_t(p)] = p;
  Matrix hidden;
  if (model.config.arch == Arch::EncoderDecoder) encode(model, state, std::vector<int>(ids.begin(), ids.begin() + prompt_length));
  embed_rows(model, std::vector<int>(ids.begin(), ids.begin() + prompt_length), hidden);
  for (int l = 0; l < model.config.decoder_layers; ++l) decoder_layer_rows(model, state, l, positions, hidden);

  std::vector<int> drafted(static_cast<size_t>(k));
  for (int i = 0; i < k; ++i) drafted[size_t(i)] = prompt_length + i;
  std::vector<double> times;
  Matrix normed, logits;
  for (int r = 0; r < repeats; ++r) {
    embed_rows(model, std::vector<int>(ids.begin() + prompt_length, ids.end()), hidden);
    const Clock::time_point start = Clock::now();
    for (int l = 0; l < model.config.decoder_layers; ++l) decoder_layer_rows(model, state, l, drafted, hidden);
    exit_logits_rows(model, hidden, normed, logits, pool);
    times.push_back(seconds_since(start));
  }
  return median(times);
}

std::vector<int> parse_rows(const std::string& text) {
  std::vector<int> rows;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const long k = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end || k < 1 || k > 64) throw UsageError("--verify-rows takes counts from 1 to 64, like 1,2,4,8");
    rows.push_back(int(k));
  }
  if (rows.empty()) throw UsageError("--verify-rows takes counts from 1 to 64, like 1,2,4,8");
  return rows;
}

}  // namespace

int cmd_bench_engine(const Args& args) {
  const int threads = args.get_int("threads", 1);
  const int tokens = args.get_int("tokens", 64);
  const int repeats = args.get_int("repeats", 3);
  if (threads < 1 || threads > 256) throw UsageError("--threads must be between 1 and 256");
  if (tokens < 1 || tokens > 4096) throw UsageError("--tokens must be between 1 and 4096");
  if (repeats < 1 || repeats > 100) throw UsageError("--repeats must be between 1 and 100");
  const std::vector<int> verify_rows = parse_rows(args.has("verify-rows") ? args.get("verify-rows") : "1,2,4,8");
  const std::string prompt =
      args.has("prompt") ? args.get("prompt") : "The quick brown fox jumps over the lazy dog, and then it runs";

  const Clock::time_point load_start = Clock::now();
  const Model model = load_model_arg(args);
  const double load_seconds = seconds_since(load_start);
  const double load_rss = peak_rss_gb();

  Decoder decoder(model, threads);
  DecodeOptions options;
  options.max_new_tokens = tokens;
  options.ignore_eos = true;
  options.truncate_prompt = true;
  DecodeOptions warm = options;
  warm.max_new_tokens = std::min(tokens, 4);
  decoder.generate(prompt, warm);  // page faults of a mapped file, the allocator
  std::vector<double> speeds, prompt_seconds;
  int prompt_tokens = 0;
  for (int r = 0; r < repeats; ++r) {
    const DecodeResult result = decoder.generate(prompt, options);
    speeds.push_back(double(result.tokens.size()) / (result.seconds - result.profile.prompt - result.profile.tokenizer));
    prompt_seconds.push_back(result.profile.prompt);
    prompt_tokens = int(result.prompt_ids.size());
    std::cerr << "\rcalm bench: decode " << r + 1 << "/" << repeats << std::flush;
  }
  std::cerr << "\n";
  const double tokens_per_second = median(speeds);
  const double streamed = weight_bytes_per_token(model) * tokens_per_second / 1e9;

  std::unique_ptr<ThreadPool> pool = threads > 1 ? std::make_unique<ThreadPool>(threads) : nullptr;
  std::vector<double> verify_seconds;
  for (int k : verify_rows) verify_seconds.push_back(verification_seconds(model, pool.get(), 16, k, 5));
  const double peak = peak_rss_gb();  // before the bandwidth arrays
  const Bandwidth bandwidth = memory_bandwidth(pool.get(), size_t(512) << 20, 5);

  const double kv_mb = double(model.config.decoder_layers) * 2 * model.config.kv_dim() *
                       (prompt_tokens + tokens + 1) * 4 / 1e6;
  if (args.flag("json")) {
    ordered_json verify = ordered_json::array();
    for (size_t i = 0; i < verify_rows.size(); ++i)
      verify.push_back({{"rows", verify_rows[i]}, {"seconds", verify_seconds[i]},
                        {"relative_to_one_row", verify_seconds[i] / verify_seconds[0]}});
    const ordered_json j = {{"model", model.name},
                            {"weights", weight_type_name(model.weights.embedding.type)},
                            {"weight_gb", double(model.weights.matrix_bytes()) / 1e9},
                            {"kernels", kernel_isa()},
                            {"threads", threads},
                            {"load_seconds", load_seconds},
                            {"rss_after_load_gb", load_rss},
                            {"prompt_tokens", prompt_tokens},
                            {"prompt_seconds", median(prompt_seconds)},
                            {"new_tokens", tokens},
                            {"tokens_per_second", tokens_per_second},
                            {"weights_streamed_gb_per_s", streamed},
                            {"memory_read_gb_per_s", bandwidth.read},
                            {"memory_copy_gb_per_s", bandwidth.copy},
                            {"fraction_of_read_bandwidth", streamed / bandwidth.read},
                            {"verification", verify},
                            {"kv_cache_mb", kv_mb},
                            {"peak_rss_gb", peak}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "model:            " << model.name << ", " << weight_type_name(model.weights.embedding.type) << " weights "
            << fixed(double(model.weights.matrix_bytes()) / 1e9, 2) << " GB, " << kernel_isa() << " kernels, "
            << threads << " thread" << (threads > 1 ? "s" : "") << "\n"
            << "load:             " << fixed(load_seconds, 2) << " s (peak RSS " << fixed(load_rss, 2) << " GB)\n"
            << "decode:           " << fixed(tokens_per_second, 2) << " tokens/s (full model, " << tokens
            << " new tokens after a " << prompt_tokens << "-token prompt, median of " << repeats << ")\n"
            << "weights streamed: " << fixed(streamed, 1) << " GB/s = " << fixed(100 * streamed / bandwidth.read, 0)
            << "% of the memory's read bandwidth, " << fixed(bandwidth.read, 1) << " GB/s (copy "
            << fixed(bandwidth.copy, 1) << " GB/s) with the same threads\n"
            << "verification:     ";
  for (size_t i = 0; i < verify_rows.size(); ++i)
    std::cout << (i ? ", " : "") << "K=" << verify_rows[i] << " " << fixed(verify_seconds[i] / verify_seconds[0], 2)
              << "x";
  std::cout << " the time of K=1 (" << fixed(verify_seconds[0] * 1e3, 1) << " ms)\n"
            << "peak memory:      " << fixed(peak, 2) << " GB RSS (K/V cache " << fixed(kv_mb, 1) << " MB)\n";
  return 0;
}

}  // namespace calm::cli
