#include "calibrate/sampling.h"

#include <numeric>
#include <random>
#include <utility>

namespace calm {

void shuffle_in_place(std::vector<std::size_t>& order, std::mt19937_64& random) {
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[random() % i]);
}

std::vector<std::size_t> shuffled_indices(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::mt19937_64 random(seed);
  shuffle_in_place(order, random);
  return order;
}

std::vector<std::size_t> random_subset(std::size_t n, std::size_t count, std::uint64_t seed) {
  std::vector<std::size_t> order = shuffled_indices(n, seed);
  if (count < n) order.resize(count);
  return order;
}

std::vector<Example> random_examples(std::vector<Example> examples, std::size_t limit, std::uint64_t seed) {
  if (limit == 0 || examples.size() <= limit) return examples;
  std::vector<Example> kept;
  kept.reserve(limit);
  for (std::size_t i : random_subset(examples.size(), limit, seed)) kept.push_back(std::move(examples[i]));
  return kept;
}

}  // namespace calm
