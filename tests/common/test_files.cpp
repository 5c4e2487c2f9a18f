// path_kind on what a user may give as a path, and write_text_atomic's all-or-nothing output.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/files.h"
#include "expect_input_error.h"

namespace uoe {
namespace {

namespace fs = std::filesystem;

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "uoe_files_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

TEST_F(FilesTest, PathKindTellsFilesDirectoriesAndMissingPaths) {
  std::ofstream(dir_ / "file") << "x";
  EXPECT_EQ(path_kind(dir_ / "file"), PathKind::kFile);
  EXPECT_EQ(path_kind(dir_), PathKind::kDirectory);
  EXPECT_EQ(path_kind(dir_ / "missing"), PathKind::kMissing);
  EXPECT_EQ(path_kind(dir_ / "file" / "below"), PathKind::kMissing);  // ENOTDIR
  fs::create_symlink(dir_ / "file", dir_ / "link");
  EXPECT_TRUE(is_file(dir_ / "link"));  // links are followed
  EXPECT_FALSE(is_dir(dir_ / "link"));
  EXPECT_FALSE(path_exists(dir_ / "missing"));
}

TEST_F(FilesTest, PathsTheSystemCannotLookUpAreInputErrorsNamingThePath) {
  // Longer than PATH_MAX (4096): the kernel refuses it on any filesystem.
  const std::string long_name = (dir_ / std::string(5000, 'n')).string();
  test::expect_input_error([&] { path_kind(long_name); },
                           {"cannot look up '" + long_name + "'", "File name too long"});
  fs::create_symlink(dir_ / "b", dir_ / "a");
  fs::create_symlink(dir_ / "a", dir_ / "b");
  test::expect_input_error([&] { is_file(dir_ / "a"); },
                           {(dir_ / "a").string(), "Too many levels of symbolic links"});
}

TEST_F(FilesTest, AtomicWriteLeavesTheOldFileOrTheNewOneAndNoTemporary) {
  const fs::path path = dir_ / "result.json";
  write_text_atomic(path.string(), "old");
  test::expect_input_error(
      [&] { write_file_atomic(path.string(), [](std::ofstream&) { throw InputError("stop"); }); },
      {"stop"});
  std::ifstream in(path);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
  test::expect_input_error([&] { write_text_atomic((dir_ / "no" / "x").string(), "new"); },
                           {"cannot write", (dir_ / "no" / "x").string()});
}

}  // namespace
}  // namespace uoe
