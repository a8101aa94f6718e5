// `calm generate --data in.jsonl --out out.jsonl`: every example of a JSONL
// set decoded with the same options, one output line per example in input
// order, with a progress line, a summary, and Ctrl+C keeping what finished.
#pragma once

#include "cli_args.h"

namespace calm::cli {

int generate_batch(const Args& args);

}  // namespace calm::cli
