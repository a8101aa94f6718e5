#include "session/TokenDiff.h"

#include <algorithm>

namespace calm::ui {

TokenDiff::TokenDiff(const std::vector<int>& a, const std::vector<int>& b)
    : a_(a.size(), true), b_(b.size(), true) {
  const std::size_t n = a.size(), m = b.size();
  // lcs[i][j]: LCS length of a[i..] and b[j..].
  std::vector<std::vector<int>> lcs(n + 1, std::vector<int>(m + 1, 0));
  for (std::size_t i = n; i-- > 0;)
    for (std::size_t j = m; j-- > 0;)
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  std::size_t i = 0, j = 0;
  while (i < n && j < m) {
    if (a[i] == b[j]) {
      a_[i++] = false;
      b_[j++] = false;
      ++common_;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      ++i;
    } else {
      ++j;
    }
  }
}

bool TokenDiff::identical() const {
  return common_ == static_cast<int>(a_.size()) && common_ == static_cast<int>(b_.size());
}

}  // namespace calm::ui
