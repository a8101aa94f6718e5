// Which tokens two outputs do not share, by the longest common subsequence:
// the highlighted words of the side-by-side comparison.
#pragma once

#include <vector>

namespace calm::ui {

class TokenDiff {
 public:
  // marks[i] is true when a[i] is outside the longest common subsequence of a
  // and b; likewise for b. O(|a| |b|) time and memory: outputs are short.
  TokenDiff(const std::vector<int>& a, const std::vector<int>& b);

  const std::vector<bool>& changedInA() const { return a_; }
  const std::vector<bool>& changedInB() const { return b_; }
  int common() const { return common_; }
  bool identical() const;

 private:
  std::vector<bool> a_, b_;
  int common_ = 0;
};

}  // namespace calm::ui
