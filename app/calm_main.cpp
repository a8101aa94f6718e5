// calm: the command-line face of CALM Studio. One thin main over calm_core.
// Exit codes: 0 success, 1 a failure the message explains (bad model, bad
// input), 2 a usage error, 3 cancelled.
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "cli_args.h"
#include "cli_bench.h"
#include "cli_common.h"
#include "cli_calibrate.h"
#include "cli_serve.h"
#include "decode/decoder.h"
#include "kernels/matvec.h"
#include "io/utf8.h"
#include "model/catalog.h"
#include "util/error.h"
#include "model/model.h"
#include "cli_generate_batch.h"

using calm::cli::Args;
using calm::cli::UsageError;
using nlohmann::json;

namespace {

constexpr const char* kUsage = R"(calm: confident adaptive language modeling from the command line

usage:
  calm info     [--model DIR|NAME] [--weights auto|f32|f16|bf16|q8]
  calm generate [--model DIR|NAME] [--weights W] [--threads N] (--prompt TEXT | --prompt-file PATH)
                [--measure softmax|softmax-max|state|classifier]
                [--lambda X] [--tau T] [--max-new-tokens N] [--policy calm|full|static|oracle]
                [--static-layer K] [--first-exit-layer K] [--check-interval K]
                [--kv propagate|exact|catch-up] [--gate none|state|classifier] [--gate-threshold G]
                [--verify K] [--temperature X] [--top-k K] [--seed S]
                [--repetition-penalty P] [--no-repeat-ngram N] [--truncate] [--json]
  calm generate --data in.jsonl --out out.jsonl [--threads N] [--limit N [--limit-seed S]] [--skip-bad-lines]
                [the decoding options above]

--model takes a model directory (config.json, model.safetensors, tokenizer.json or
tokenizer.model) or the name of a bundled model; without it the default bundled model is used.
--prompt-file reads the prompt from a file ("-": standard input), for prompts too long
for the command line. --data decodes every line of a JSONL set ({"input": ..., other fields kept})
and writes one JSON line per example to --out, in input order (text, token ids, exit layers,
average layers, seconds; "error" for an example that failed, exit code 1); --threads runs that
many examples at once; Ctrl+C writes the finished ones and exits 3.
--weights holds the large matrices as the checkpoint stores them (auto, the default: F32, F16
or BF16, copied once into memory) or converted at load (q8: 8 bits with a scale per 32 weights, half
of F16's memory traffic; every command takes it). --threads N splits one decode's products
over N cores (calibrate, eval, validate and bench use their threads for examples instead).
lambda = 1 is exactly the full model; smaller lambdas exit earlier. Without --lambda, a bundled
model starts from its certified lambda (textual rougeL, delta 0.1, epsilon 0.05) when its bundled
calibration used the same settings (measure, tau, max new tokens, K/V mode, exit checks, gate,
repetition remedies), and says so on stderr; otherwise lambda is 1.
--gate asks a cheap measure first and pays for the softmax check only when it passes.
--kv catch-up runs skipped layers later, batched with the next deeper token (exact cache).
--verify K drafts K tokens with exits and verifies them in one batched pass: the output is
the full model's greedy output.
--repetition-penalty P (above 0; 1, the default, is off) divides the positive logits of every token
already in the sequence (the prompt included) by P and multiplies the negative ones by P;
--no-repeat-ngram N (0, the default, is off) forbids any token that would repeat an N-gram of
the sequence. Both reshape every exit's distribution before the confidence measure and the
token choice see it, so a calibration (and the bundled one) holds only for the same values.
)";

// "bf16, 2.20 GB" (the large matrices as held in memory).
std::string weights_summary(const calm::Model& model) {
  const calm::WeightMatrix& w = model.weights.embedding;
  char bytes[32];
  std::snprintf(bytes, sizeof bytes, "%.2f", double(model.weights.matrix_bytes()) / 1e9);
  return std::string(calm::weight_type_name(w.type)) + ", " + bytes + " GB";
}

int cmd_info(const Args& args) {
  const calm::Model model = calm::cli::load_model_arg(args);
  const calm::ModelConfig& c = model.config;
  std::cout << "model:          " << model.name << " (" << model.dir << ")\n"
            << "architecture:   " << c.arch_name() << ", model_type " << c.model_type << "\n";
  if (c.arch == calm::Arch::DecoderOnly) std::cout << "biases:         " << c.biases_name() << "\n";
  if (c.arch == calm::Arch::EncoderDecoder) std::cout << "encoder layers: " << c.encoder_layers << "\n";
  std::cout << "decoder layers: " << c.decoder_layers << " (every one an exit)\n"
            << "d_model:        " << c.d_model << "\n"
            << "heads:          " << c.num_heads << " (key/value heads " << c.num_kv_heads << ", head dim "
            << c.head_dim << ")\n"
            << "feed-forward:   " << c.d_ff << "\n"
            << "vocabulary:     " << c.vocab_size << " (tokenizer " << model.tokenizer.size() << " pieces, "
            << model.tokenizer.kind() << ")\n"
            << "context:        " << c.max_positions << " positions\n"
            << "embeddings:     " << (c.tied_embeddings ? "tied" : "untied") << "\n"
            << "parameters:     " << model.parameter_count() << "\n"
            << "weights:        " << weights_summary(model) << " (" << calm::kernel_isa() << " kernels)\n"
            << "classifier:     " << (c.has_classifier() ? "yes (early-exit head)" : "no") << "\n";
  return 0;
}

json number_or_null(float x) { return std::isfinite(x) ? json(x) : json(nullptr); }

json trace_json(const calm::Model& model, const calm::DecodeResult& r) {
  json tokens = json::array();
  for (const auto& t : r.trace) {
    json layers = json::array();
    for (size_t l = 0; l < t.confidence.size(); ++l) {
      json top = json::array();
      for (const auto& tt : t.top[l])
        top.push_back({{"id", tt.id}, {"piece", model.tokenizer.piece(tt.id)}, {"p", tt.probability}});
      layers.push_back({{"layer", l + 1}, {"confidence", number_or_null(t.confidence[l])}, {"top", top}});
    }
    json token = {{"id", t.token},
                  {"piece", model.tokenizer.piece(t.token)},
                  {"exit_layer", t.exit_layer},
                  {"threshold", t.threshold},
                  {"confidence", number_or_null(t.exit_confidence)},
                  {"layers", layers}};
    if (r.verify_passes > 0 || r.drafted > 0) {
      token["verified"] = t.verified;
      token["rejected_drafts"] = t.rejected_drafts;
    }
    tokens.push_back(std::move(token));
  }
  return tokens;
}

int cmd_generate(const Args& args) {
  if (args.has("data")) return calm::cli::generate_batch(args);
  const std::string prompt = calm::cli::prompt_arg(args);
  calm::DecodeOptions options = calm::cli::decode_options(args);
  options.trace = args.flag("json") && options.verify_draft == 0;  // verify mode records no layer trace
  const calm::Model model = calm::cli::load_model_arg(args);
  const std::string certified = calm::cli::apply_bundled_lambda(args, model, options);
  const std::string note = certified.empty() ? calm::cli::bundled_lambda_missing(args, model, options) : certified;
  if (!note.empty()) std::cerr << note << "\n";
  const int threads = args.get_int("threads", 1);
  if (threads < 1 || threads > 256) throw UsageError("--threads must be between 1 and 256");
  calm::Decoder decoder(model, threads);
  const calm::DecodeResult r = decoder.generate(prompt, options);
  if (!args.flag("json")) {
    std::cout << r.text << std::endl;
    std::cerr << r.tokens.size() << " tokens, " << r.average_layers() << " of " << r.num_layers
              << " layers on average, " << r.seconds << " s"
              << (r.prompt_truncated ? " (prompt truncated to fit the context)" : "") << "\n";
    if (options.verify_draft > 0)
      std::cerr << "verify mode: " << r.accepted << " of " << r.drafted << " drafted tokens accepted in "
                << r.verify_passes << " verification passes\n";
    return 0;
  }
  json out = {{"model", model.dir},
              {"prompt", prompt},
              {"prompt_ids", r.prompt_ids},
              {"prompt_truncated", r.prompt_truncated},
              {"measure", calm::measure_name(options.measure)},
              {"policy", calm::policy_name(options.policy)},
              {"lambda", options.lambda},
              {"lambda_certified_by", certified.empty() ? json(nullptr) : json(certified)},
              {"tau", options.tau},
              {"max_new_tokens", options.max_new_tokens},
              {"repetition_penalty", options.repetition_penalty},
              {"no_repeat_ngram_size", options.no_repeat_ngram},
              {"text", r.text},
              {"token_ids", r.tokens},
              {"exit_layers", r.exit_layers},
              {"num_layers", r.num_layers},
              {"average_layers", r.average_layers()},
              {"stopped_at_eos", r.stopped_at_eos},
              {"seconds", r.seconds},
              {"flops", r.flops},
              {"full_flops", r.full_flops},
              {"kv_mode", calm::kv_mode_name(options.kv_mode)},
              {"gate", calm::gate_name(options.gate)},
              {"verify_draft", options.verify_draft},
              {"verify_passes", r.verify_passes},
              {"drafted", r.drafted},
              {"accepted", r.accepted},
              {"tokens", trace_json(model, r)}};
  std::cout << calm::dump_json(out, 2) << "\n";  // a piece may be part of a UTF-8 character
  return 0;
}

std::set<std::string> with_decode_options(std::set<std::string> names) {
  names.insert(calm::cli::kDecodeOptionNames.begin(), calm::cli::kDecodeOptionNames.end());
  return names;
}

void print_usage(std::ostream& out) { out << kUsage << calm::cli::kCalibrateUsage << calm::cli::kBenchUsage << calm::cli::kServeUsage; }

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> rest(argv + 1, argv + argc);
  if (rest.empty() || rest[0] == "--help" || rest[0] == "-h" || rest[0] == "help") {
    print_usage(std::cout);
    return rest.empty() ? 2 : 0;
  }
  const std::string command = rest[0];
  rest.erase(rest.begin());
  for (const std::string& a : rest)
    if (a == "--help" || a == "-h") {  // `calm calibrate --help`: the usage, on stdout, not an error
      print_usage(std::cout);
      return 0;
    }
  try {
    if (command == "info") return cmd_info(Args(rest, {"model", "weights"}, {}));
    if (command == "generate")
      return cmd_generate(
          Args(rest, with_decode_options({"model", "weights", "prompt", "prompt-file", "threads", "data", "out", "limit", "limit-seed"}),
               {"json", "truncate", "skip-bad-lines"}));
    if (command == "bench") return calm::cli::cmd_bench(rest);
    if (command == "calibrate") return calm::cli::cmd_calibrate(rest);
    if (command == "eval") return calm::cli::cmd_eval(rest);
    if (command == "validate") return calm::cli::cmd_validate(rest);
    if (command == "serve") return calm::cli::cmd_serve(rest);
    throw UsageError("unknown command '" + command + "'");
  } catch (const UsageError& e) {
    std::cerr << "calm: " << e.what() << "\n\n";
    print_usage(std::cerr);
    return 2;
  } catch (const calm::Error& e) {
    std::cerr << "calm: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "calm: unexpected error: " << e.what() << "\n";
    return 1;
  }
}
