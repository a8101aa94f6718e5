// A JSONL set decoded example by example with the same options (`calm
// generate --data` and the app's File > Run a JSONL file): examples in
// parallel, one decoder per thread, results kept in input order; an example
// that fails keeps its error; a cancel stops after the examples in flight,
// and what finished can still be written.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "calibrate/jsonl.h"
#include "decode/decoder.h"

namespace calm {

class Model;

struct BatchGeneration {
  std::vector<std::optional<DecodeResult>> results;  // per example; empty when it failed or did not run
  std::vector<std::string> errors;                   // per example, when it failed
  std::vector<char> done;                            // per example: finished (decoded or failed)
  bool cancelled = false;                            // stopped before every example finished

  std::size_t finished() const;
  std::size_t failed() const;
  std::size_t tokens() const;
  double average_layers() const;  // over every decoded token; 0 without any
  double seconds() const;         // decoding time summed over examples
  // The first failed example as "line N: message", or "".
  std::string first_error(const std::vector<Example>& examples) const;
};

// `progress(finished, total)` is called from the worker threads, one at a
// time; `cancelled()` is polled between examples.
BatchGeneration generate_batch(const Model& model, const std::vector<Example>& examples,
                               const DecodeOptions& options, int threads,
                               const std::function<bool()>& cancelled,
                               const std::function<void(std::size_t, std::size_t)>& progress);

// One JSON line per finished example in input order: the example's own fields
// (an id survives), its line, input and reference, then text, token ids,
// exit layers, average layers, layers, whether it stopped at EOS or had its
// prompt cut, seconds (and drafted/accepted in verify mode), or "error".
std::string batch_jsonl(const std::vector<Example>& examples, const BatchGeneration& batch);

}  // namespace calm
