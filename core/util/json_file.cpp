#include "util/json_file.h"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace calm {

using nlohmann::json;

namespace {

// 16 MiB, 1 KiB or 300 bytes, as a limit reads best.
std::string size_text(std::size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace

json read_json_file(const std::string& path, const JsonFileKind& kind) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(path + ": is a directory, not " + kind.name);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open " + kind.name + " (missing or unreadable)");
  const auto too_large = [&] {
    return Error(path + ": larger than " + size_text(kind.max_bytes) + ", too large for " + kind.name);
  };
  const uint64_t size = std::filesystem::is_regular_file(path, ec) ? std::filesystem::file_size(path, ec) : 0;
  if (!ec && size > kind.max_bytes) throw too_large();
  // Read in chunks and stop past the limit, so even a file that grows (or a
  // device that never ends) cannot exhaust memory.
  std::string text;
  char chunk[1 << 16];
  text.reserve(ec ? 0 : static_cast<std::size_t>(size) + 1);
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kind.max_bytes) throw too_large();
  }
  if (in.bad()) throw Error(path + ": read failed");
  return parse_json_object(text, kind, path);
}

json parse_json_object(std::string_view text, const JsonFileKind& kind, const std::string& source) {
  if (text.size() > kind.max_bytes)
    throw Error(source + ": larger than " + size_text(kind.max_bytes) + ", too large for " + kind.name);
  const JsonExtent extent = json_extent(text, kMaxJsonDepth, kind.max_values);
  if (extent.depth > kMaxJsonDepth)
    throw Error(source + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels; not " + kind.name);
  if (extent.values > kind.max_values)
    throw Error(source + ": holds more than " + std::to_string(kind.max_values) + " JSON values; not " + kind.name);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
    throw Error(source + ": not valid JSON (" + excerpt(e.what(), 300) + ")");
  }
  if (!j.is_object()) throw Error(source + ": expected a JSON object, found " + j.type_name());
  return j;
}

JsonReader::JsonReader(const json& object, std::string source, std::string prefix)
    : object_(object), source_(std::move(source)), prefix_(std::move(prefix)) {}

void JsonReader::fail(const std::string& name, const std::string& what) const {
  throw Error(source_ + ": key '" + key(name) + "' " + what);
}

bool JsonReader::has(const std::string& name) const {
  const auto it = object_.find(name);
  return it != object_.end() && !it->is_null();
}

const json& JsonReader::get(const std::string& name) const {
  const auto it = object_.find(name);
  if (it == object_.end()) fail(name, "missing");
  return *it;
}

JsonReader JsonReader::object(const std::string& name) const {
  const json& v = get(name);
  if (!v.is_object()) fail(name, "must be an object, got " + json_excerpt(v));
  return JsonReader(v, source_, key(name));
}

std::string JsonReader::string(const std::string& name, bool allow_empty) const {
  const json& v = get(name);
  if (!v.is_string()) fail(name, "must be a string, got " + json_excerpt(v));
  std::string s = v.get<std::string>();
  if (!allow_empty && s.empty()) fail(name, "must not be empty");
  return s;
}

double JsonReader::number(const std::string& name, double low, double high) const {
  const json& v = get(name);
  if (!v.is_number()) fail(name, "must be a number, got " + json_excerpt(v));
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < low || x > high) {
    std::ostringstream range;
    range << "is out of range: " << x << " is outside [" << low << ", " << high << "]";
    fail(name, range.str());
  }
  return x;
}

long long JsonReader::integer(const std::string& name, long long low, long long high) const {
  return integer(name, get(name), low, high);
}

long long JsonReader::integer(const std::string& name, const json& v, long long low, long long high) const {
  if (!v.is_number_integer())
    fail(name, v.is_number() ? "must be a whole number, got " + json_excerpt(v)
                             : "must be an integer, got " + json_excerpt(v));
  const bool too_big = v.is_number_unsigned() && v.get<unsigned long long>() > static_cast<unsigned long long>(high);
  const long long x = too_big ? high : v.get<long long>();
  if (too_big || x < low || x > high)
    fail(name, "is out of range: " + json_excerpt(v) + " is outside [" + std::to_string(low) + ", " +
                   std::to_string(high) + "]");
  return x;
}

bool JsonReader::boolean(const std::string& name) const {
  const json& v = get(name);
  if (!v.is_boolean()) fail(name, "must be true or false, got " + json_excerpt(v));
  return v.get<bool>();
}

}  // namespace calm
