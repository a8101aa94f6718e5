#include "decode/repetition.h"

#include <algorithm>
#include <limits>
#include <string>

#include "util/error.h"

namespace calm {

RepetitionProcessor::RepetitionProcessor(const ExitRule& rule, int vocab_size, int capacity)
    : penalty_(static_cast<float>(rule.repetition_penalty)), ngram_(rule.no_repeat_ngram),
      count_(static_cast<std::size_t>(vocab_size), 0) {
  sequence_.reserve(static_cast<std::size_t>(std::max(capacity, 0)));
  distinct_.reserve(std::min(static_cast<std::size_t>(std::max(capacity, 0)), count_.size()));
  banned_.reserve(sequence_.capacity());
}

void RepetitionProcessor::reset(const std::vector<int>& ids) {
  truncate(0);
  for (int id : ids) push(id);
}

void RepetitionProcessor::push(int id) {
  if (id < 0 || id >= static_cast<int>(count_.size()))
    throw Error("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(count_.size()));
  sequence_.push_back(id);
  if (count_[id]++ == 0) distinct_.push_back(id);
}

void RepetitionProcessor::truncate(int size) {
  while (static_cast<int>(sequence_.size()) > std::max(size, 0)) {
    // Tokens leave last in, first out, so an id whose count drops to 0 here
    // had its first occurrence after every other present id's: it is the
    // last of distinct_.
    if (--count_[sequence_.back()] == 0) distinct_.pop_back();
    sequence_.pop_back();
  }
}

void RepetitionProcessor::prepare() {
  banned_.clear();
  const int len = size();
  const int context = ngram_ - 1;  // the tokens an n-gram's last one follows
  if (ngram_ <= 0 || len < context) return;
  const int* seq = sequence_.data();
  const int* tail = seq + len - context;
  // Every complete n-gram seq[i .. i + n - 1] whose first n - 1 tokens are
  // the sequence's last n - 1 bans its last token.
  for (int i = 0; i + ngram_ <= len; ++i)
    if (std::equal(seq + i, seq + i + context, tail)) banned_.push_back(seq[i + context]);
}

void RepetitionProcessor::apply(Vector& logits) const {
  if (penalty_ != 1.0f)
    for (int id : distinct_) {
      const float x = logits[id];
      logits[id] = x < 0.0f ? x * penalty_ : x / penalty_;
    }
  for (int id : banned_) logits[id] = -std::numeric_limits<float>::infinity();
}

}  // namespace calm
