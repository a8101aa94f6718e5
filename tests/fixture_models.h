// Shared by the engine tests: the tiny random models that training/make_fixtures.py
// made with the PyTorch twin, and the values PyTorch computed for them.
#pragma once

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/safetensors.h"
#include "model/weights.h"

namespace calm::testing {

inline std::string fixture_models_dir() { return std::string(CALM_FIXTURES_DIR) + "/models"; }

// Every fixture model directory, sorted.
inline std::vector<std::string> fixture_model_dirs() {
  std::vector<std::string> dirs;
  for (const auto& e : std::filesystem::directory_iterator(fixture_models_dir()))
    if (std::filesystem::exists(e.path() / "config.json")) dirs.push_back(e.path().string());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// A (rows, cols) slice `index` of a 3-D F32 tensor (n, rows, cols).
inline Matrix slice(const SafeTensors& file, const std::string& name, int index) {
  const auto& info = file.tensors().at(name);
  const int64_t rows = info.shape.at(1), cols = info.shape.at(2);
  const std::vector<float> all = file.read_f32(name);
  Matrix m(rows, cols);
  std::copy(all.begin() + index * rows * cols, all.begin() + (index + 1) * rows * cols, m.data());
  return m;
}

// max |a - b| / max(1, max |b|): relative to the reference's scale.
inline double relative_error(const Matrix& a, const Matrix& b) {
  const double scale = std::max(1.0, static_cast<double>(b.cwiseAbs().maxCoeff()));
  return static_cast<double>((a - b).cwiseAbs().maxCoeff()) / scale;
}

}  // namespace calm::testing
