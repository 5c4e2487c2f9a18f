#pragma once
// Cheap non-cryptographic hashes: FNV-1a for names and configs, and file fingerprints with which
// the ranks check that they read the same inputs.
#include <cstdint>
#include <string>
#include <string_view>

namespace uoe {

uint64_t fnv1a(std::string_view bytes, uint64_t seed = 0);
std::string hex64(uint64_t value);  // 16 lower-case hex digits

// Hash of a file (size and its first and last MiB) or of a directory (every regular file under it,
// by relative path, in sorted order); "" and missing paths hash to a fixed value. Reads at most
// 2 MiB per file, so multi-GB checkpoints are fingerprinted in milliseconds.
uint64_t path_fingerprint(const std::string& path);

}  // namespace uoe
