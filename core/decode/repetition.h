// The two usual remedies against the loops of greedy decoding, with the
// meanings of Hugging Face transformers' logits processors:
//
// - repetition penalty p (RepetitionPenaltyLogitsProcessor; Keskar et al.
//   2019, CTRL): every token id present in the sequence, once however often
//   it occurs, has its logit x replaced by x * p when x < 0 and x / p
//   otherwise (p > 1 discourages repeats, p < 1 encourages them, 1 is off);
// - no repeated n-grams of size n (NoRepeatNGramLogitsProcessor, from
//   fairseq): once the sequence holds at least n - 1 tokens, every token that
//   would complete an n-gram already in the sequence gets logit -infinity.
//
// "The sequence" is what transformers passes as input_ids: for a
// decoder-only model the prompt as fed (bos included, after truncation) and
// the tokens generated so far; for an encoder-decoder model (T5) the
// decoder's ids, its start token and the tokens generated so far (the
// encoder's input is not part of it).
//
// In CALM every exit's logits go through the same processing before the
// confidence measure and the token choice see them, so an exit is decided on
// the distribution it would emit, and the full model's run (the reference of
// the consistency loss) is processed alike.
#pragma once

#include <vector>

#include "decode/exit_rule.h"
#include "nn/ops.h"

namespace calm {

class RepetitionProcessor {
 public:
  // `capacity`: the longest sequence it will hold (the prompt and the new
  // tokens); all memory is taken here, none per token.
  RepetitionProcessor(const ExitRule& rule, int vocab_size, int capacity);

  // Whether either remedy is on (otherwise apply() changes nothing).
  bool active() const { return penalty_ != 1.0f || ngram_ > 0; }

  // The sequence so far: set, extended by one token, or cut back to its
  // first `size` tokens (verify mode rewinds over its drafts).
  void reset(const std::vector<int>& ids);
  void push(int id);
  void truncate(int size);
  int size() const { return static_cast<int>(sequence_.size()); }
  const std::vector<int>& sequence() const { return sequence_; }

  // The tokens the n-gram rule bans at the next position, from the sequence
  // as it is now: computed once per position, before any apply().
  void prepare();
  const std::vector<int>& banned() const { return banned_; }

  // Processes one exit's logits in place (vocab_size of them).
  void apply(Vector& logits) const;

 private:
  float penalty_;
  int ngram_;
  std::vector<int> sequence_;
  std::vector<int> count_;     // (vocab_size): occurrences of each id in sequence_
  std::vector<int> distinct_;  // the ids present, in order of first occurrence
  std::vector<int> banned_;    // from prepare(); may repeat an id
};

}  // namespace calm
