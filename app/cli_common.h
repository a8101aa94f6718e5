// What the subcommands of `calm` share: the model and data arguments, the
// decoding options, and turning a mistyped name into a usage error.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "calibrate/bundled.h"
#include "calibrate/jsonl.h"
#include "cli_args.h"
#include "decode/decoder.h"
#include "io/output_file.h"
#include "util/error.h"
#include "model/model.h"

namespace calm::cli {

// A core parse function's calm::Error becomes a usage error: the name was mistyped.
template <typename Parse>
auto parse_name(Parse parse, const std::string& text) {
  try {
    return parse(text);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

// --model DIR|NAME, or the default bundled model, held as --weights
// auto|f32|f16|bf16|q8 says (auto, the default: as the checkpoint stores it).
Model load_model_arg(const Args& args);
LoadOptions load_options(const Args& args);

// --threads N within [lo, OptionBounds::kMaxThreads]; `fallback` when absent.
int threads_of(const Args& args, int fallback, int lo);

// --limit N (0 when absent); a usage error unless positive.
int limit_of(const Args& args);
// --limit-seed S (default 0): which random subset --limit takes.
uint64_t limit_seed_of(const Args& args);

// The file `option` names, or the model's bundled `split` set ("calibration", "test").
std::string data_file(const Args& args, const std::string& option, const Model& model, const std::string& split);

// The examples of a JSONL file, honouring --skip-bad-lines, and --limit N
// with --limit-seed S: N examples drawn at random (seeded), not the first N.
std::vector<Example> read_examples(const std::string& path, const Args& args);

// The prompt of `calm generate`: --prompt TEXT, or the contents of
// --prompt-file PATH ("-" reads standard input; one final line break is
// dropped, so a file written by an editor equals the same text as --prompt).
// A usage error when both or neither are given; calm::Error naming the file
// when it cannot be read.
std::string prompt_arg(const Args& args);
// `inputs` and every file of the model's directory: what no output may replace.
std::vector<LabelledPath> with_model_files(std::vector<LabelledPath> inputs, const Model& model);

// The decoding options of `calm generate` and `calm bench`; the option names
// are kDecodeOptionNames (valued) and "truncate" (flag).
DecodeOptions decode_options(const Args& args);

// Without --lambda, a calm decode starts from the model's bundled certified
// lambda (DIR/thresholds/: textual ROUGE-L, delta 0.1, epsilon 0.05, Learn
// then Test) when one certifies exactly these settings: sets options.lambda
// and returns one line saying where it came from; else changes nothing and
// returns "" (lambda stays 1, the full model).
std::string apply_bundled_lambda(const Args& args, const Model& model, DecodeOptions& options);
// The bundled file that apply_bundled_lambda takes its lambda from; nullopt
// when it would change nothing.
std::optional<BundledThresholds> bundled_certification(const Args& args, const Model& model,
                                                       const DecodeOptions& options);
// When apply_bundled_lambda finds nothing although the model ships a
// calibration of this measure: one line saying which settings it was made
// with instead (e.g. "no repetition penalty"); "" otherwise.
std::string bundled_lambda_missing(const Args& args, const Model& model, const DecodeOptions& options);
extern const std::vector<std::string> kDecodeOptionNames;

// x with `digits` decimals ("1.84"), for the programs' tables.
std::string fixed(double x, int digits);
// The median of `values` (0 for none): what a repeated measurement reports.
double median(std::vector<double> values);

}  // namespace calm::cli
