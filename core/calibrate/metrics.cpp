#include "calibrate/metrics.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <unordered_map>

#include "util/error.h"

namespace calm {

namespace {

constexpr int kBleuOrder = 4;

using NgramCounts = std::map<std::vector<int>, int>;

NgramCounts count_ngrams(const TokenIds& tokens, int order) {
  NgramCounts counts;
  const std::size_t n = static_cast<std::size_t>(order);
  for (std::size_t i = 0; i + n <= tokens.size(); ++i)
    ++counts[std::vector<int>(tokens.begin() + i, tokens.begin() + i + n)];
  return counts;
}

// Candidate n-grams matched in the reference, each capped at its reference
// count ("clipped"), so repeating a correct word earns nothing extra.
int clipped_matches(const NgramCounts& candidate, const NgramCounts& reference) {
  int matches = 0;
  for (const auto& [ngram, count] : candidate) {
    auto it = reference.find(ngram);
    if (it != reference.end()) matches += std::min(count, it->second);
  }
  return matches;
}

int ngram_total(std::size_t length, int order) {
  return length >= static_cast<std::size_t>(order) ? static_cast<int>(length) - order + 1 : 0;
}

// BP = 1 if c > r else exp(1 - r / c); c > 0 here.
double brevity_penalty(double candidate_length, double reference_length) {
  if (candidate_length > reference_length) return 1.0;
  return std::exp(1.0 - reference_length / candidate_length);
}

// Length of the longest common subsequence; two rows of the DP table suffice.
std::size_t lcs_length(const TokenIds& a, const TokenIds& b) {
  std::vector<std::size_t> previous(b.size() + 1, 0), current(b.size() + 1, 0);
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      current[j] = a[i - 1] == b[j - 1] ? previous[j - 1] + 1
                                        : std::max(previous[j], current[j - 1]);
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

}  // namespace

Metric parse_metric(std::string_view name) {
  if (name == "token") return Metric::Token;
  if (name == "rougeL") return Metric::RougeL;
  if (name == "bleu") return Metric::Bleu;
  if (name == "f1") return Metric::F1;
  if (name == "exact") return Metric::Exact;
  throw Error("unknown metric \"" + std::string(name) +
              "\" (expected token, rougeL, bleu, f1 or exact)");
}

const char* metric_name(Metric metric) {
  switch (metric) {
    case Metric::Token: return "token";
    case Metric::RougeL: return "rougeL";
    case Metric::Bleu: return "bleu";
    case Metric::F1: return "f1";
    case Metric::Exact: return "exact";
  }
  return "unknown";
}

double token_agreement(const TokenIds& candidate, const TokenIds& reference) {
  const std::size_t longest = std::max(candidate.size(), reference.size());
  if (longest == 0) return 1.0;
  const std::size_t shortest = std::min(candidate.size(), reference.size());
  std::size_t same = 0;
  for (std::size_t i = 0; i < shortest; ++i) same += candidate[i] == reference[i];
  return static_cast<double>(same) / static_cast<double>(longest);
}

double rouge_l(const TokenIds& candidate, const TokenIds& reference) {
  if (candidate.empty() && reference.empty()) return 1.0;
  if (candidate.empty() || reference.empty()) return 0.0;
  // With beta = 1, 2 P R / (P + R) where P = lcs/|c| and R = lcs/|r| reduces
  // to 2 lcs / (|c| + |r|), which is also 0 without a common token.
  const double lcs = static_cast<double>(lcs_length(candidate, reference));
  return 2.0 * lcs / static_cast<double>(candidate.size() + reference.size());
}

double sentence_bleu(const TokenIds& candidate, const TokenIds& reference) {
  if (candidate.empty() && reference.empty()) return 1.0;
  if (candidate.empty() || reference.empty()) return 0.0;
  double log_precision_sum = 0.0;
  for (int order = 1; order <= kBleuOrder; ++order) {
    const int matches = clipped_matches(count_ngrams(candidate, order),
                                        count_ngrams(reference, order));
    const int total = ngram_total(candidate.size(), order);
    if (order == 1) {
      if (matches == 0) return 0.0;  // nothing in common: no smoothing rescues it
      log_precision_sum += std::log(static_cast<double>(matches) / total);
    } else {
      log_precision_sum += std::log((matches + 1.0) / (total + 1.0));
    }
  }
  const double bp = brevity_penalty(static_cast<double>(candidate.size()),
                                    static_cast<double>(reference.size()));
  return bp * std::exp(log_precision_sum / kBleuOrder);
}

double token_f1(const TokenIds& candidate, const TokenIds& reference) {
  if (candidate.empty() && reference.empty()) return 1.0;
  if (candidate.empty() || reference.empty()) return 0.0;
  std::unordered_map<int, int> reference_bag;
  for (int token : reference) ++reference_bag[token];
  int common = 0;
  for (int token : candidate) {
    auto it = reference_bag.find(token);
    if (it != reference_bag.end() && it->second > 0) {
      --it->second;
      ++common;
    }
  }
  if (common == 0) return 0.0;
  const double precision = static_cast<double>(common) / candidate.size();
  const double recall = static_cast<double>(common) / reference.size();
  return 2.0 * precision * recall / (precision + recall);
}

double exact_match(const TokenIds& candidate, const TokenIds& reference) {
  return candidate == reference ? 1.0 : 0.0;
}

double similarity(Metric metric, const TokenIds& candidate, const TokenIds& reference) {
  switch (metric) {
    case Metric::Token: return token_agreement(candidate, reference);
    case Metric::RougeL: return rouge_l(candidate, reference);
    case Metric::Bleu: return sentence_bleu(candidate, reference);
    case Metric::F1: return token_f1(candidate, reference);
    case Metric::Exact: return exact_match(candidate, reference);
  }
  throw Error("similarity: unknown metric value " + std::to_string(static_cast<int>(metric)));
}

std::vector<std::string> split_whitespace(std::string_view text) {
  std::vector<std::string> words;
  std::size_t i = 0;
  auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    const std::size_t start = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i > start) words.emplace_back(text.substr(start, i - start));
  }
  return words;
}

double similarity(Metric metric, std::string_view candidate, std::string_view reference) {
  // Give each distinct word an id shared by both texts, then compare ids.
  std::unordered_map<std::string, int> ids;
  auto to_ids = [&ids](std::string_view text) {
    TokenIds out;
    for (auto& word : split_whitespace(text)) {
      auto [it, inserted] = ids.try_emplace(std::move(word), static_cast<int>(ids.size()));
      out.push_back(it->second);
    }
    return out;
  };
  const TokenIds c = to_ids(candidate);
  const TokenIds r = to_ids(reference);
  return similarity(metric, c, r);
}

double corpus_bleu(const std::vector<TokenIds>& candidates,
                   const std::vector<TokenIds>& references) {
  if (candidates.size() != references.size())
    throw Error("corpus_bleu: " + std::to_string(candidates.size()) + " candidates but " +
                std::to_string(references.size()) + " references");
  std::array<long long, kBleuOrder> matches{}, totals{};
  double candidate_length = 0.0, reference_length = 0.0;
  for (std::size_t s = 0; s < candidates.size(); ++s) {
    candidate_length += static_cast<double>(candidates[s].size());
    reference_length += static_cast<double>(references[s].size());
    for (int order = 1; order <= kBleuOrder; ++order) {
      matches[order - 1] += clipped_matches(count_ngrams(candidates[s], order),
                                            count_ngrams(references[s], order));
      totals[order - 1] += ngram_total(candidates[s].size(), order);
    }
  }
  if (candidate_length == 0.0) return reference_length == 0.0 ? 1.0 : 0.0;
  double log_precision_sum = 0.0;
  for (int k = 0; k < kBleuOrder; ++k) {
    // A corpus too short to hold any n-gram of an order has no evidence
    // against it either; like sacreBLEU we then report 0 rather than guess.
    if (matches[k] == 0) return 0.0;
    log_precision_sum += std::log(static_cast<double>(matches[k]) / totals[k]);
  }
  return brevity_penalty(candidate_length, reference_length) *
         std::exp(log_precision_sum / kBleuOrder);
}

double textual_loss(Metric metric, const TokenIds& early, const TokenIds& full) {
  return std::clamp(1.0 - similarity(metric, early, full), 0.0, 1.0);
}

double risk_loss(Metric metric, const TokenIds& early, const TokenIds& full,
                 const TokenIds& reference) {
  const double early_risk = 1.0 - similarity(metric, early, reference);
  const double full_risk = 1.0 - similarity(metric, full, reference);
  return std::clamp(early_risk - full_risk, 0.0, 1.0);
}

}  // namespace calm
