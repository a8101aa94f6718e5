#include "cli_generate_batch.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "calibrate/jsonl.h"
#include "cli_common.h"
#include "cli_progress.h"
#include "decode/decoder.h"
#include "io/output_file.h"
#include "io/utf8.h"
#include "kernels/thread_pool.h"
#include "util/error.h"
#include "model/model.h"

namespace calm::cli {
namespace {

using nlohmann::json;

// One output line: the example's own fields first (an id survives), then what was decoded.
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

int generate_batch(const Args& args) {
  if (args.has("prompt") || args.has("prompt-file")) throw UsageError("--data takes the prompts from the file: drop --prompt");
  if (!args.has("out")) throw UsageError("generate --data needs --out out.jsonl");
  if (args.flag("json")) throw UsageError("generate --data writes JSON lines to --out: drop --json");
  DecodeOptions options = decode_options(args);
  options.truncate_prompt = args.flag("truncate");
  int threads = threads_of(args, 0, 0);  // 0, the default: every core, as calibrate
  if (threads == 0) threads = hardware_threads();
  limit_of(args);
  const Model model = load_model_arg(args);
  const std::string data = args.get("data");
  const std::string out = args.get("out");
  check_distinct_files({{"--out", out}}, with_model_files({{"--data", data}}, model));
  check_output_path(out, "--out");
  const std::string certified = apply_bundled_lambda(args, model, options);
  if (!certified.empty()) std::cerr << certified << "\n";
  const std::vector<Example> examples = read_examples(data, args);
  if (examples.empty()) throw Error(data + ": no examples in the file");

  // Examples in parallel, one decoder each (as calibrate does); outputs kept by index.
  std::vector<std::optional<DecodeResult>> results(examples.size());
  std::vector<std::string> errors(examples.size());
  std::vector<char> done(examples.size(), 0);
  std::atomic<size_t> next{0}, finished{0};
  std::mutex progress_mutex;
  bool cancelled = false;
  {
    ProgressLine progress("generate");
    const CtrlC ctrl_c;
    const auto work = [&] {
      Decoder decoder(model);
      for (size_t i; !CtrlC::cancelled() && (i = next.fetch_add(1)) < examples.size();) {
        try {
          results[i] = decoder.generate(examples[i].input, options);
        } catch (const std::exception& e) {  // e.g. a prompt too long without --truncate
          errors[i] = e.what();
        }
        done[i] = 1;
        const size_t count = finished.fetch_add(1) + 1;
        const std::lock_guard<std::mutex> lock(progress_mutex);
        progress.update(count, examples.size());
      }
    };
    const int workers = std::max(1, std::min<int>(threads, static_cast<int>(examples.size())));
    std::vector<std::thread> pool;
    for (int t = 1; t < workers; ++t) pool.emplace_back(work);
    work();
    for (std::thread& t : pool) t.join();
    cancelled = finished.load() < examples.size();
  }

  std::string text;
  size_t written = 0, failed = 0, tokens = 0;
  double layers = 0.0, seconds = 0.0;
  for (size_t i = 0; i < examples.size(); ++i) {
    if (!done[i]) continue;
    text += dump_json(output_line(examples[i], results[i], errors[i])) + "\n";
    ++written;
    if (!results[i]) {
      ++failed;
      continue;
    }
    tokens += results[i]->exit_layers.size();
    layers += results[i]->average_layers() * static_cast<double>(results[i]->exit_layers.size());
    seconds += results[i]->seconds;
  }
  write_output_file(out, text, "--out");

  std::cerr << "generate: " << written << " of " << examples.size() << " examples written to " << out;
  if (tokens > 0)
    std::cerr << "; " << tokens << " tokens, " << fixed(layers / static_cast<double>(tokens), 2) << " of "
              << model.config.decoder_layers << " layers on average, " << fixed(seconds, 2) << " s decoding ("
              << fixed(static_cast<double>(tokens) / std::max(seconds, 1e-9), 1) << " tokens/s per thread)";
  std::cerr << "\n";
  if (failed > 0) {
    std::cerr << "generate: " << failed << " examples failed; their lines in " << out
              << " hold \"error\" (e.g. line " << [&] {
                   for (size_t i = 0; i < examples.size(); ++i)
                     if (done[i] && !results[i]) return std::to_string(examples[i].line) + ": " + errors[i];
                   return std::string();
                 }()
              << ")\n";
  }
  if (cancelled) {
    std::cerr << "generate: cancelled: the " << written << " finished examples are in " << out << "\n";
    return 3;
  }
  return failed > 0 ? 1 : 0;
}

}  // namespace calm::cli
