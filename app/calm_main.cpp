// calm: the command-line face of CALM Studio. One thin main over calm_core.
// Exit codes: 0 success, 1 a failure the message explains (bad model, bad
// input), 2 a usage error, 3 cancelled.
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_args.h"
#include "cli_calibrate.h"
#include "decode/decoder.h"
#include "model/catalog.h"
#include "model/error.h"
#include "model/model.h"

using calm::cli::Args;
using calm::cli::UsageError;
using nlohmann::json;

namespace {

constexpr const char* kUsage = R"(calm: confident adaptive language modeling from the command line

usage:
  calm info     [--model DIR|NAME]
  calm generate [--model DIR|NAME] --prompt TEXT [--measure softmax|softmax-max|state|classifier]
                [--lambda X] [--tau T] [--max-new-tokens N] [--policy calm|full|static|oracle]
                [--static-layer K] [--first-exit-layer K] [--check-interval K] [--kv propagate|exact]
                [--temperature X] [--top-k K] [--seed S] [--truncate] [--json]

--model takes a model directory (config.json, model.safetensors, tokenizer.model)
or the name of a bundled model; without it the default bundled model is used.
lambda = 1 (the default) is exactly the full model; smaller lambdas exit earlier.
)";

calm::Model load(const Args& args) {
  const std::string dir = args.has("model") ? calm::resolve_model_dir(args.get("model")) : calm::default_model_dir();
  return calm::load_model(dir);
}

int cmd_info(const Args& args) {
  const calm::Model model = load(args);
  const calm::ModelConfig& c = model.config;
  std::cout << "model:          " << model.name << " (" << model.dir << ")\n"
            << "architecture:   " << c.arch_name() << "\n";
  if (c.arch == calm::Arch::EncoderDecoder) std::cout << "encoder layers: " << c.encoder_layers << "\n";
  std::cout << "decoder layers: " << c.decoder_layers << " (every one an exit)\n"
            << "d_model:        " << c.d_model << "\n"
            << "heads:          " << c.num_heads << " (key/value heads " << c.num_kv_heads << ", head dim "
            << c.head_dim << ")\n"
            << "feed-forward:   " << c.d_ff << "\n"
            << "vocabulary:     " << c.vocab_size << " (tokenizer " << model.tokenizer.size() << " pieces)\n"
            << "context:        " << c.max_positions << " positions\n"
            << "embeddings:     " << (c.tied_embeddings ? "tied" : "untied") << "\n"
            << "parameters:     " << model.parameter_count() << "\n"
            << "classifier:     " << (c.has_classifier() ? "yes (early-exit head)" : "no") << "\n";
  return 0;
}

calm::DecodeOptions decode_options(const Args& args) {
  calm::DecodeOptions o;
  o.measure = calm::parse_measure(args.get("measure", "softmax"));
  o.policy = calm::parse_policy(args.get("policy", "calm"));
  o.lambda = static_cast<float>(args.get_double("lambda", 1.0));
  o.tau = static_cast<float>(args.get_double("tau", 4.0));
  o.max_new_tokens = args.get_int("max-new-tokens", 64);
  o.static_layer = args.get_int("static-layer", 1);
  o.first_exit_layer = args.get_int("first-exit-layer", 1);
  o.check_interval = args.get_int("check-interval", 1);
  const std::string kv = args.get("kv", "propagate");
  if (kv != "propagate" && kv != "exact") throw UsageError("--kv takes propagate or exact, got '" + kv + "'");
  o.kv_mode = kv == "exact" ? calm::KvMode::Exact : calm::KvMode::Propagate;
  o.temperature = static_cast<float>(args.get_double("temperature", 0.0));
  o.top_k = args.get_int("top-k", 0);
  o.seed = static_cast<uint64_t>(args.get_int("seed", 0));
  o.truncate_prompt = args.flag("truncate");
  return o;
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
    tokens.push_back({{"id", t.token},
                      {"piece", model.tokenizer.piece(t.token)},
                      {"exit_layer", t.exit_layer},
                      {"threshold", t.threshold},
                      {"confidence", number_or_null(t.exit_confidence)},
                      {"layers", layers}});
  }
  return tokens;
}

int cmd_generate(const Args& args) {
  if (!args.has("prompt")) throw UsageError("generate needs --prompt TEXT");
  calm::DecodeOptions options = decode_options(args);
  options.trace = args.flag("json");
  const calm::Model model = load(args);
  calm::Decoder decoder(model);
  const calm::DecodeResult r = decoder.generate(args.get("prompt"), options);
  if (!args.flag("json")) {
    std::cout << r.text << std::endl;
    std::cerr << r.tokens.size() << " tokens, " << r.average_layers() << " of " << r.num_layers
              << " layers on average, " << r.seconds << " s"
              << (r.prompt_truncated ? " (prompt truncated to fit the context)" : "") << "\n";
    return 0;
  }
  json out = {{"model", model.dir},
              {"prompt", args.get("prompt")},
              {"prompt_ids", r.prompt_ids},
              {"prompt_truncated", r.prompt_truncated},
              {"measure", calm::measure_name(options.measure)},
              {"policy", calm::policy_name(options.policy)},
              {"lambda", options.lambda},
              {"tau", options.tau},
              {"max_new_tokens", options.max_new_tokens},
              {"text", r.text},
              {"token_ids", r.tokens},
              {"exit_layers", r.exit_layers},
              {"num_layers", r.num_layers},
              {"average_layers", r.average_layers()},
              {"stopped_at_eos", r.stopped_at_eos},
              {"seconds", r.seconds},
              {"flops", r.flops},
              {"full_flops", r.full_flops},
              {"tokens", trace_json(model, r)}};
  std::cout << out.dump(2) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> rest(argv + 1, argv + argc);
  if (rest.empty() || rest[0] == "--help" || rest[0] == "-h" || rest[0] == "help") {
    std::cout << kUsage << calm::cli::kCalibrateUsage;
    return rest.empty() ? 2 : 0;
  }
  const std::string command = rest[0];
  rest.erase(rest.begin());
  try {
    if (command == "info") return cmd_info(Args(rest, {"model"}, {}));
    if (command == "generate")
      return cmd_generate(Args(rest,
                               {"model", "prompt", "measure", "lambda", "tau", "max-new-tokens", "policy",
                                "static-layer", "first-exit-layer", "check-interval", "kv", "temperature", "top-k",
                                "seed"},
                               {"json", "truncate"}));
    if (command == "calibrate") return calm::cli::cmd_calibrate(rest);
    if (command == "eval") return calm::cli::cmd_eval(rest);
    if (command == "validate") return calm::cli::cmd_validate(rest);
    throw UsageError("unknown command '" + command + "'");
  } catch (const UsageError& e) {
    std::cerr << "calm: " << e.what() << "\n\n" << kUsage << calm::cli::kCalibrateUsage;
    return 2;
  } catch (const calm::Error& e) {
    std::cerr << "calm: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "calm: unexpected error: " << e.what() << "\n";
    return 1;
  }
}
