// Similarities m in [0, 1] between two token sequences, and the two CALM
// consistency losses built on them (Schuster et al. 2022): textual 1 - m(early, full)
// and risk max(0, (1 - m(early, ref)) - (1 - m(full, ref))).
//
// Every metric takes (candidate, reference). Only BLEU is asymmetric; for the
// others the order does not matter. Two empty sequences are identical, so every
// metric gives them 1.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace calm {

using TokenIds = std::vector<int>;

enum class Metric { Token, RougeL, Bleu, F1, Exact };

// "token", "rougeL", "bleu", "f1", "exact"; parse throws calm::Error on anything else.
Metric parse_metric(std::string_view name);
const char* metric_name(Metric metric);

// Fraction of positions i < max(len) where both sequences hold the same token;
// a position past the end of the shorter one counts as a disagreement.
double token_agreement(const TokenIds& candidate, const TokenIds& reference);

// ROUGE-L F-measure with beta = 1: 2 LCS / (|c| + |r|). 0 when exactly one is empty.
double rouge_l(const TokenIds& candidate, const TokenIds& reference);

// Sentence BLEU, uniform weights over 1..4-grams, one reference.
// Smoothing: "add-1 for n > 1" (Lin & Och 2004, Chen & Cherry 2014 method 2):
// p_1 = clipped matches / candidate unigrams (unsmoothed, so no shared token
// gives 0), p_n = (clipped matches + 1) / (candidate n-grams + 1) for n = 2..4;
// an order the candidate is too short for gives p_n = 1/1 and so is neutral.
// Brevity penalty BP = 1 if |c| > |r| else exp(1 - |r| / |c|).
// BLEU = BP * exp(sum_n log(p_n) / 4). 0 when exactly one is empty.
double sentence_bleu(const TokenIds& candidate, const TokenIds& reference);

// SQuAD-style token F1 over bags of tokens: common = size of the multiset
// intersection, F1 = 2 P R / (P + R). 0 when exactly one is empty.
double token_f1(const TokenIds& candidate, const TokenIds& reference);

// 1 when the sequences are equal, else 0.
double exact_match(const TokenIds& candidate, const TokenIds& reference);

double similarity(Metric metric, const TokenIds& candidate, const TokenIds& reference);

// Convenience for text: both strings are split on whitespace and the words are
// compared as tokens (a shared word gets the same id in both).
double similarity(Metric metric, std::string_view candidate, std::string_view reference);
std::vector<std::string> split_whitespace(std::string_view text);

// Corpus BLEU (Papineni et al. 2002) for reporting model quality: clipped
// n-gram matches and counts summed over the corpus, no smoothing, one brevity
// penalty from the summed lengths. 0 when some order has no match; 1 for a
// corpus of empty pairs only. Throws calm::Error when the sizes differ.
double corpus_bleu(const std::vector<TokenIds>& candidates,
                   const std::vector<TokenIds>& references);

// Textual consistency loss 1 - m(early, full), in [0, 1].
double textual_loss(Metric metric, const TokenIds& early, const TokenIds& full);

// Risk consistency loss max(0, (1 - m(early, ref)) - (1 - m(full, ref))), in [0, 1]:
// only the quality lost by exiting early counts, not the full model's own errors.
double risk_loss(Metric metric, const TokenIds& early, const TokenIds& full,
                 const TokenIds& reference);

}  // namespace calm
