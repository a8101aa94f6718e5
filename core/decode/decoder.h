// The token loop with early exits. A Decoder owns one RunState (the K/V caches)
// for a shared, read-only Model; use one Decoder per thread.
//
// For each output position the decoder runs layer after layer; after each
// layer allowed to exit it computes the confidence measure and leaves when it
// clears the threshold lambda_t. The skipped layers then get this position's
// K/V from the exit state (propagation) or are run for real (exact cache).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "decode/exit_rule.h"
#include "decode/measure.h"
#include "kernels/thread_pool.h"
#include "model/model.h"
#include "nn/ops.h"
#include "nn/run_state.h"

namespace calm {

// An exit rule (its fields are the rule's) and how the token is chosen and recorded.
struct DecodeOptions : ExitRule {
  std::vector<int> exit_schedule;  // Static: the exit layer of output position t, where given
                                   // (replays another run's exits, e.g. the oracle's, at its cost)
  float temperature = 0.0f;   // 0 = greedy
  int top_k = 0;              // sampling: 0 = whole vocabulary
  uint64_t seed = 0;
  bool trace = false;         // record every layer's confidence and top tokens
  int trace_top_k = 3;
  bool truncate_prompt = false;  // otherwise an over-long prompt is refused
  bool ignore_eos = false;       // benchmarks: always decode max_new_tokens tokens

  // The full model's run of the same tokens (ExitRule::full_model), untraced:
  // what an early-exit run is compared with.
  DecodeOptions full_model() const;
};

// What happened at one output position.
struct TokenTrace {
  int token = -1;
  int position = 0;             // 0-based output position t
  int exit_layer = 0;           // 1-based layer whose prediction was emitted
  float threshold = 1.0f;       // lambda_t in force (1 when never exiting)
  float exit_confidence = 0.0f; // the measure at the exit layer (NaN when not measured)
  // With DecodeOptions::trace, for every layer 1..L (index layer-1), as the
  // full depth would have seen it at this position given the decoded past:
  std::vector<float> confidence;          // the chosen measure
  std::vector<std::vector<TopToken>> top; // top-k tokens of that layer's exit
  // Verify mode: whether the full model agreed with the drafted token, and
  // for a corrected token the drafts it replaced (the disagreeing one first).
  bool verified = false;
  std::vector<int> rejected_drafts;
  // The highest confidence measured at a layer that did not exit (NaN when
  // none was): a lower threshold first changes this token's exit when it
  // drops to this value (see Decoder::shared_prefix).
  float best_below_exit = std::numeric_limits<float>::quiet_NaN();
  double flops = 0.0;    // spent on this token
  double seconds = 0.0;  // spent on this token
};

// Where the token loop's time went, in seconds.
struct DecodeProfile {
  double prompt = 0;        // encoder (T5) or prompt prefill (Llama)
  double layers = 0;        // decoder layers of emitted tokens (catch-up included)
  double vocabulary = 0;    // exit logits: checks and the emitted token's
  double confidence = 0;    // the measure and the gate, beyond the vocabulary projection
  double propagation = 0;   // K/V of skipped layers
  double verification = 0;  // verify mode: the batched pass over drafted tokens
  double analysis = 0;      // trace and oracle work beyond what decoding needs
  double sampling = 0;
  double tokenizer = 0;     // encoding the prompt and decoding the text

  double total() const {
    return prompt + layers + vocabulary + confidence + propagation + verification + analysis + sampling + tokenizer;
  }
};

struct DecodeResult {
  std::vector<int> prompt_ids;   // as fed to the model (after truncation)
  bool prompt_truncated = false;
  std::vector<int> tokens;       // generated ids, eos included when produced
  std::vector<int> exit_layers;  // (tokens.size()), 1-based
  std::vector<TokenTrace> trace; // one per token (light unless options.trace)
  std::string text;              // decoded text, eos excluded
  bool stopped_at_eos = false;
  bool cancelled = false;
  int num_layers = 0;            // L
  double seconds = 0.0;          // wall time of the token loop (encoder/prompt included)
  double flops = 0.0;            // spent (trace-only work excluded)
  double full_flops = 0.0;       // what the full model would spend on these tokens
  DecodeProfile profile;
  int verify_passes = 0;         // verify mode: batched verification passes
  int drafted = 0;               // drafted tokens that were verified
  int accepted = 0;              // of those, the ones the full model agreed with
  uint64_t run_id = 0;           // which run of which Decoder made it (for resume)

  double average_layers() const;
  // The generated ids without a final end-of-sequence token: what the text
  // is made of and what metrics compare.
  std::vector<int> text_tokens() const;
};

// Called after every token; return false to stop decoding.
using TokenCallback = std::function<bool(const TokenTrace&)>;

class Decoder {
 public:
  // `threads` > 1 splits every product of this decoder's runs over a pool of
  // that many threads (the caller included); see kernels/thread_pool.h for
  // how that composes with one decoder per example.
  explicit Decoder(const Model& model, int threads = 1);

  const Model& model() const { return model_; }

  // Encodes `prompt` with the model's tokenizer and decodes. Throws calm::Error
  // for an empty prompt, an over-long one (unless truncation is asked for) or
  // options the model cannot serve (the classifier measure without a head).
  DecodeResult generate(const std::string& prompt, const DecodeOptions& options,
                        const TokenCallback& on_token = {});
  DecodeResult generate_ids(std::vector<int> prompt_ids, const DecodeOptions& options,
                            const TokenCallback& on_token = {});

  // How many leading tokens of `previous` (a run of the same prompt and
  // settings at a higher lambda) a run with `next` would reproduce exactly:
  // up to the first token where a layer it did not exit at clears next's
  // lower threshold. Greedy runs only; 0 when nothing can be shared.
  static int shared_prefix(const DecodeResult& previous, const DecodeOptions& next);
  // Decodes with `options`, keeping the first `keep` tokens of `previous`,
  // which must be this decoder's latest run (its K/V for those positions are
  // still in the cache): the calibration sweep's shortcut down its lambda
  // grid. The kept tokens' time and FLOPs are carried over from `previous`.
  DecodeResult resume(const DecodeResult& previous, int keep, const DecodeOptions& options,
                      const TokenCallback& on_token = {});

  // Teacher forcing through the full depth: the logits of every exit at every
  // position of `decoder_ids` (T5: after encoding `encoder_ids`; Llama:
  // `encoder_ids` must be empty). Returns layers x (positions, vocab);
  // `layer_hidden`, when given, receives layers x (positions, d_model), the
  // raw residual stream after each layer.
  std::vector<Matrix> layer_logits(const std::vector<int>& encoder_ids, const std::vector<int>& decoder_ids,
                                   std::vector<Matrix>* layer_hidden = nullptr);

  // The ids the model is fed for `prompt` (Llama: bos + text; T5: text + eos).
  std::vector<int> prompt_ids(const std::string& prompt) const;

 private:
  DecodeResult run(std::vector<int> ids, const DecodeOptions& options, const TokenCallback& on_token,
                   const DecodeResult* previous, int keep);

  const Model& model_;
  std::unique_ptr<ThreadPool> pool_;  // before state_, which points at it
  RunState state_;
  uint64_t run_id_ = 0;  // of the latest run; ids are unique across decoders
};

}  // namespace calm
