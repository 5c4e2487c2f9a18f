#pragma once
// File output that never leaves a half-written result: write to "<path>.tmp.<pid>", then rename.
// Queries on user-given paths that fail as input errors.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

namespace uoe {

// Calls `write` with a binary stream on "<path>.tmp.<pid>" and renames that file to `path` when
// `write` returns and the stream is good; otherwise removes it and throws (InputError naming it).
void write_file_atomic(const std::string& path, const std::function<void(std::ofstream&)>& write);
void write_text_atomic(const std::string& path, const std::string& content);
void write_json_atomic(const std::string& path, const nlohmann::json& value);
// Creates the directory and its parents; throws InputError naming the path on failure.
void make_directories(const std::string& path, const std::string& what);
// Removes a file or a directory tree if it is there; throws InputError naming the path on failure.
void remove_path(const std::string& path);

// What is at a user-given path. std::filesystem's throwing queries raise filesystem_error when the
// system cannot look a path up at all (a name too long, no permission on a parent, a symlink
// loop); path_kind throws InputError naming the path and the reason instead, so a bad path in a
// config is a one-line input error like a missing one. A path under a non-directory is kMissing.
// (The short names are not std::filesystem's, which argument-dependent lookup would also find.)
enum class PathKind { kMissing, kFile, kDirectory, kOther };
PathKind path_kind(const std::filesystem::path& path);
inline bool is_file(const std::filesystem::path& path) {
  return path_kind(path) == PathKind::kFile;
}
inline bool is_dir(const std::filesystem::path& path) {
  return path_kind(path) == PathKind::kDirectory;
}
inline bool path_exists(const std::filesystem::path& path) {
  return path_kind(path) != PathKind::kMissing;
}

// Appends one JSON object per line (metrics.jsonl). Each line is flushed when written.
class JsonLinesWriter {
 public:
  JsonLinesWriter() = default;
  // Truncates `path`, or appends to it when `append`.
  explicit JsonLinesWriter(const std::string& path, bool append = false);
  void write(const nlohmann::json& record);
  bool is_open() const { return out_.is_open(); }

 private:
  std::string path_;
  std::ofstream out_;
};

// Opens a file of per-step records (metrics.jsonl, breakdown.jsonl: objects with a "step") for a
// run whose first step is `first_step`: a resumed run keeps the records of the steps before it and
// appends (each step appears once), a new run starts the file empty.
JsonLinesWriter open_step_records(const std::string& path, int64_t first_step);

}  // namespace uoe
