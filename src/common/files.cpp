#include "common/files.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/check.h"

namespace uoe {

void write_file_atomic(const std::string& path, const std::function<void(std::ofstream&)>& write) {
  const std::string tmp = str(path, ".tmp.", ::getpid());
  try {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    UOE_CHECK(out.good(), "cannot write ", tmp, ": ", std::strerror(errno));
    write(out);
    out.flush();
    UOE_CHECK(out.good(), "failed writing ", tmp, ": ", std::strerror(errno));
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(tmp.c_str());
    UOE_CHECK(false, "cannot rename ", tmp, " to ", path, ": ", reason);
  }
}

void write_text_atomic(const std::string& path, const std::string& content) {
  write_file_atomic(path, [&](std::ofstream& out) { out << content; });
}

void write_json_atomic(const std::string& path, const nlohmann::json& value) {
  write_text_atomic(path, value.dump(2) + "\n");
}

void make_directories(const std::string& path, const std::string& what) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  UOE_CHECK(!ec, "cannot create ", what, " '", path, "': ", ec.message());
}

void remove_path(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  UOE_CHECK(!ec, "cannot remove '", path, "': ", ec.message());
}

PathKind path_kind(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  UOE_CHECK(fs::status_known(status), "cannot look up '", path.string(), "': ", ec.message());
  switch (status.type()) {
    case fs::file_type::not_found:
      return PathKind::kMissing;
    case fs::file_type::regular:
      return PathKind::kFile;
    case fs::file_type::directory:
      return PathKind::kDirectory;
    default:
      return PathKind::kOther;
  }
}

JsonLinesWriter::JsonLinesWriter(const std::string& path, bool append) : path_(path) {
  out_.open(path, std::ios::out | (append ? std::ios::app : std::ios::trunc));
  UOE_CHECK(out_.good(), "cannot open ", path, " for writing: ", std::strerror(errno));
}

JsonLinesWriter open_step_records(const std::string& path, int64_t first_step) {
  if (first_step > 1) {
    std::ifstream in(path);
    std::string kept, line;
    while (std::getline(in, line)) {
      const auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (record.is_object() && record.value("step", int64_t(0)) < first_step) kept += line + "\n";
    }
    write_text_atomic(path, kept);
  }
  return JsonLinesWriter(path, /*append=*/first_step > 1);
}

void JsonLinesWriter::write(const nlohmann::json& record) {
  if (!out_.is_open()) return;
  out_ << record.dump() << '\n';
  out_.flush();
  UOE_CHECK(out_.good(), "failed writing ", path_);
}

}  // namespace uoe
