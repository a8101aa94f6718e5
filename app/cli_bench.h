// `calm bench`: full model against CALM on one data set, interleaved in one
// process so that their ratio holds on a noisy machine.
#pragma once

#include <string>
#include <vector>

namespace calm::cli {

extern const char* const kBenchUsage;

int cmd_bench(const std::vector<std::string>& argv);

class Args;
// `calm bench --engine` (cli_bench_engine.cpp).
int cmd_bench_engine(const Args& args);

}  // namespace calm::cli
