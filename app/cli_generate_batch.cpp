#include "cli_generate_batch.h"

#include <algorithm>
#include <iostream>
#include <vector>

#include "calibrate/batch_generate.h"
#include "calibrate/jsonl.h"
#include "cli_common.h"
#include "cli_progress.h"
#include "io/output_file.h"
#include "kernels/thread_pool.h"
#include "util/error.h"
#include "model/model.h"

namespace calm::cli {

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
  const std::string note = certified.empty() ? bundled_lambda_missing(args, model, options) : certified;
  if (!note.empty()) std::cerr << note << "\n";
  const std::vector<Example> examples = read_examples(data, args);
  if (examples.empty()) throw Error(data + ": no examples in the file");

  BatchGeneration batch;
  {
    ProgressLine progress("generate");
    const CtrlC ctrl_c;
    batch = calm::generate_batch(model, examples, options, threads, [] { return CtrlC::cancelled(); },
                                 [&](size_t done, size_t total) { progress.update(done, total); });
  }
  write_output_file(out, batch_jsonl(examples, batch), "--out");

  const size_t written = batch.finished(), failed = batch.failed(), tokens = batch.tokens();
  std::cerr << "generate: " << written << " of " << examples.size() << " examples written to " << out;
  if (tokens > 0)
    std::cerr << "; " << tokens << " tokens, " << fixed(batch.average_layers(), 2) << " of "
              << model.config.decoder_layers << " layers on average, " << fixed(batch.seconds(), 2)
              << " s decoding (" << fixed(static_cast<double>(tokens) / std::max(batch.seconds(), 1e-9), 1)
              << " tokens/s per thread)";
  std::cerr << "\n";
  if (failed > 0)
    std::cerr << "generate: " << failed << " examples failed; their lines in " << out << " hold \"error\" (e.g. "
              << batch.first_error(examples) << ")\n";
  if (batch.cancelled) {
    std::cerr << "generate: cancelled: the " << written << " finished examples are in " << out << "\n";
    return 3;
  }
  return failed > 0 ? 1 : 0;
}

}  // namespace calm::cli
