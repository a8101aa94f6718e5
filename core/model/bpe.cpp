// The merge loop keeps the word as a linked list of symbols and a min-heap of
// candidate merges (rank, position), so a word of n characters costs
// O(n log n): a prompt without spaces under a tokenizer that does not split
// words (Llama 2's tokenizer.json) is one long word.
#include "bpe.h"

#include <cstdio>
#include <queue>

#include "util/error.h"
#include "utf8.h"

namespace calm {

Bpe::Bpe(std::unordered_map<std::string, int> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
         BpeOptions options, const std::string& source)
    : vocab_(std::move(vocab)), options_(options) {
  for (std::size_t rank = 0; rank < merges.size(); rank++) {
    const auto& [left, right] = merges[rank];
    const int l = id(left), r = id(right), m = id(left + right);
    const std::string which = source + ": merge " + std::to_string(rank) + " ('" + left + "' '" + right + "')";
    if (l < 0 || r < 0) throw Error(which + " names a token missing from model.vocab");
    if (m < 0) throw Error(which + " makes a token missing from model.vocab");
    merges_.try_emplace(key(l, r), Merge{int(rank), m});  // the first (lowest) rank wins
  }
  for (int b = 0; b < 256; b++) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    byte_ids_[b] = id(name);
  }
}

int Bpe::id(std::string_view token) const {
  const auto it = vocab_.find(std::string(token));
  return it == vocab_.end() ? -1 : it->second;
}

void Bpe::encode(std::string_view word, std::vector<int>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (const int whole = id(word); whole >= 0) {
      out.push_back(whole);
      return;
    }
  }
  struct Symbol {
    int id;
    int prev;
    int next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  bool last_unknown = false;
  const auto push = [&](int token) {
    symbols.push_back({token, int(symbols.size()) - 1, int(symbols.size()) + 1, true});
  };
  for (std::size_t pos = 0; pos < word.size();) {
    std::size_t len = utf8::next(word, pos).length;
    if (len == 0) len = 1;  // callers pass valid UTF-8; a stray byte is one symbol
    const std::string_view ch = word.substr(pos, len);
    pos += len;
    if (const int token = id(ch); token >= 0) {
      push(token);
      last_unknown = false;
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (char c : ch) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        for (char c : ch) push(byte_ids_[static_cast<unsigned char>(c)]);
        last_unknown = false;
        continue;
      }
    }
    if (options_.unk_id < 0) continue;
    if (!(options_.fuse_unk && last_unknown)) push(options_.unk_id);
    last_unknown = true;
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  struct Candidate {
    int rank;
    int pos;
    int merged;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  const auto consider = [&](int pos) {
    const int next = symbols[pos].next;
    if (next < 0) return;
    const auto it = merges_.find(key(symbols[pos].id, symbols[next].id));
    if (it != merges_.end()) heap.push({it->second.rank, pos, it->second.id});
  };
  for (int i = 0; i + 1 < int(symbols.size()); i++) consider(i);
  while (!heap.empty()) {
    const Candidate top = heap.top();
    heap.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    // The pair may have changed since this candidate was queued.
    const auto it = merges_.find(key(left.id, symbols[left.next].id));
    if (it == merges_.end() || it->second.id != top.merged) continue;
    Symbol& right = symbols[left.next];
    left.id = top.merged;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) consider(left.prev);
    consider(top.pos);
  }
  for (const Symbol& s : symbols)
    if (s.alive) out.push_back(s.id);
}

}  // namespace calm
