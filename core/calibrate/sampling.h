// Seeded random orders and subsets of examples. Learn then Test assumes the
// calibration examples are exchangeable with the inputs the guarantee is about,
// so a smaller set is a random subset, never the first lines of a file (the
// shipped sets were built in corpus order: the first lines are a few
// chapters). The same seed gives the same order on every platform: our own
// Fisher-Yates over std::mt19937_64, whose output the standard fixes (the
// standard's distributions are not fixed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "calibrate/jsonl.h"

namespace calm {

// Shuffles `order` in place (Fisher-Yates from the back, index random() % (i + 1)).
void shuffle_in_place(std::vector<std::size_t>& order, std::mt19937_64& random);

// A random permutation of 0..n-1.
std::vector<std::size_t> shuffled_indices(std::size_t n, std::uint64_t seed);

// `count` of the indices 0..n-1, drawn without replacement: the first `count`
// of shuffled_indices(n, seed), in that (random) order. All n, shuffled, when
// count >= n.
std::vector<std::size_t> random_subset(std::size_t n, std::size_t count, std::uint64_t seed);

// `limit` examples drawn at random with `seed` (random_subset), when the set
// has more than that; otherwise the set as it is. limit 0 means no limit.
std::vector<Example> random_examples(std::vector<Example> examples, std::size_t limit, std::uint64_t seed);

}  // namespace calm
