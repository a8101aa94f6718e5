// The bounds of every numeric option that sizes memory or time, in one place:
// the CLI checks its options against them up front (naming the option), the
// decoder and the calibrator check again for library callers, and the
// thresholds reader checks its fields. docs/hardening.md lists them.
#pragma once

namespace calm {

struct OptionBounds {
  // New tokens per output. Calibration keeps (grid points + 1) outputs of
  // this length per example: 8192 x 21 points x 4 bytes = 688 KB per example.
  static constexpr int kMaxNewTokens = 8192;
  // Tokens drafted per verification pass; each holds every layer's state.
  static constexpr int kMaxVerifyDraft = 64;
  // Layer numbers given as options (the model's depth is checked at decode
  // time; this bounds what is checked before the model is loaded).
  static constexpr int kMaxLayerOption = 1024;
  // The lambda grid: one early-exit run per point per example, so the step
  // bounds the time (0.001: 1001 points, 50 times the default 0.05).
  static constexpr double kMinGridStep = 0.001;
  static constexpr int kMaxGridPoints = 1001;
  // Worker threads (calibrate, validate, bench): more than any machine this
  // runs on has cores; each holds a decoder's run state.
  static constexpr int kMaxThreads = 256;
  // validate --splits: each split holds a permutation of the pooled examples.
  static constexpr int kMaxSplits = 100000;
  // bench --repeats.
  static constexpr int kMaxRepeats = 1000;
  // The threshold schedule's temperature and the sampling temperature:
  // beyond these the schedule and the distribution no longer change.
  static constexpr double kMaxTau = 1000.0;
  static constexpr double kMaxTemperature = 1000.0;
  // The repetition penalty (above 0; 1 = off): past 1000 a penalised token
  // is as good as banned. The no-repeat n-gram size: each position scans the
  // sequence once per n-gram length, and no demo needs more than a sentence.
  static constexpr double kMaxRepetitionPenalty = 1000.0;
  static constexpr int kMaxNoRepeatNgram = 64;
};

}  // namespace calm
