// libFuzzer target: a losses file (`calm calibrate --losses`), read and, when
// it is accepted, certified the way the CLI does it. The first byte picks the
// guarantee asked of it (consistency, metric, unit, delta); the rest is the
// file. Every input must be certified or refused with calm::Error.
#include <cmath>
#include <cstdint>

#include "calibrate/losses_file.h"
#include "fuzz_input.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  calm::Guarantee g;
  if (size > 0) {
    g.consistency = (data[0] & 1) ? calm::Consistency::Risk : calm::Consistency::Textual;
    g.metric = (data[0] & 2) ? calm::Metric::Bleu : calm::Metric::RougeL;
    g.unit = (data[0] & 4) ? calm::TextUnit::Pieces : calm::TextUnit::Words;
    g.delta = 0.05 + 0.05 * ((data[0] >> 3) & 7);
    ++data;
    --size;
  }
  const std::string& path = calm::fuzz::write_input("losses", data, size);
  try {
    const calm::ImportedLosses imported = calm::read_losses_file(path);
    const std::vector<double>& lambdas = imported.about.settings.grid;
    const std::size_t grid = lambdas.size();
    if (grid < 2 || lambdas.front() != 1.0) __builtin_trap();  // the grid starts at the full model
    for (std::size_t i = 1; i < grid; ++i)
      if (!(lambdas[i] < lambdas[i - 1])) __builtin_trap();  // and descends strictly
    if (imported.examples() == 0) __builtin_trap();
    for (const auto& row : imported.losses) {
      if (row.size() != grid) __builtin_trap();
      for (double loss : row)
        if (!(loss >= 0.0 && loss <= 1.0)) __builtin_trap();
    }
    const calm::CalibrationReport report = calm::build_report(imported, {g});
    (void)report;
  } catch (const calm::Error&) {
  }
  return 0;
}
