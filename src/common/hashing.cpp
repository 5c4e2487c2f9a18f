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
  // Error-code forms throughout: a directory that cannot be read (permissions, a symlink loop)
  // fingerprints as "unreadable" instead of throwing.
  std::vector<fs::path> files;
  for (fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_regular_file(type_ec)) files.push_back(it->path());
  }
  if (ec) return fnv1a("unreadable");
  std::sort(files.begin(), files.end());
  uint64_t hash = fnv1a("directory");
  for (const auto& file : files) {
    hash = fnv1a(file.lexically_relative(path).string(), hash);
    hash = file_fingerprint(file, hash);
  }
  return hash;
}

}  // namespace uoe
