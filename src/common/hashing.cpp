#include "common/hashing.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

namespace uoe {
namespace fs = std::filesystem;
namespace {

constexpr std::streamoff kEdgeBytes = 1 << 20;

uint64_t file_fingerprint(const fs::path& path, uint64_t seed) {
  std::error_code ec;
  const auto size = static_cast<std::streamoff>(fs::file_size(path, ec));
  if (ec) return fnv1a("unreadable", seed);
  uint64_t hash = fnv1a(std::to_string(size), seed);
  std::ifstream in(path, std::ios::binary);
  std::string buffer;
  for (const std::streamoff offset :
       {std::streamoff(0), std::max<std::streamoff>(size - kEdgeBytes, 0)}) {
    buffer.resize(static_cast<size_t>(std::min(kEdgeBytes, size)));
    in.seekg(offset);
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    hash = fnv1a(buffer, hash);
  }
  return hash;
}

}  // namespace

uint64_t fnv1a(std::string_view bytes, uint64_t seed) {
  uint64_t hash = 1469598103934665603ull ^ (seed * 0x9E3779B97F4A7C15ull);
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

std::string hex64(uint64_t value) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(value));
  return buf;
}

uint64_t path_fingerprint(const std::string& path) {
  std::error_code ec;
  if (path.empty() || !fs::exists(path, ec)) return fnv1a("missing");
  if (!fs::is_directory(path, ec)) return file_fingerprint(path, 0);
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(path, ec)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  uint64_t hash = fnv1a("directory");
  for (const auto& file : files) {
    hash = fnv1a(fs::relative(file, path).string(), hash);
    hash = file_fingerprint(file, hash);
  }
  return hash;
}

}  // namespace uoe
