// path_kind on what a user may give as a path, and write_text_atomic's all-or-nothing output.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/files.h"
#include "expect_input_error.h"
#include "test_utils.h"

namespace uoe {
namespace {

namespace fs = std::filesystem;

class FilesTest : public test::SharedDirTest {
 protected:
  FilesTest() : SharedDirTest("uoe_test_files_") {}
};

TEST_F(FilesTest, PathKindTellsFilesDirectoriesAndMissingPaths) {
  const fs::path dir = dir_;
  std::ofstream(dir / "file") << "x";
  EXPECT_EQ(path_kind(dir / "file"), PathKind::kFile);
  EXPECT_EQ(path_kind(dir), PathKind::kDirectory);
  EXPECT_EQ(path_kind(dir / "missing"), PathKind::kMissing);
  EXPECT_EQ(path_kind(dir / "file" / "below"), PathKind::kMissing);  // ENOTDIR
  fs::create_symlink(dir / "file", dir / "link");
  EXPECT_TRUE(is_file(dir / "link"));  // links are followed
  EXPECT_FALSE(is_dir(dir / "link"));
  EXPECT_FALSE(path_exists(dir / "missing"));
}

TEST_F(FilesTest, PathsTheSystemCannotLookUpAreInputErrorsNamingThePath) {
  const fs::path dir = dir_;
  // Longer than PATH_MAX (4096): the kernel refuses it on any filesystem.
  const std::string long_name = (dir / std::string(5000, 'n')).string();
  test::expect_input_error([&] { path_kind(long_name); },
                           {"cannot look up '" + long_name + "'", "File name too long"});
  fs::create_symlink(dir / "b", dir / "a");
  fs::create_symlink(dir / "a", dir / "b");
  test::expect_input_error([&] { is_file(dir / "a"); },
                           {(dir / "a").string(), "Too many levels of symbolic links"});
}

TEST_F(FilesTest, AtomicWriteLeavesTheOldFileOrTheNewOneAndNoTemporary) {
  const fs::path dir = dir_;
  const fs::path path = dir / "result.json";
  write_text_atomic(path.string(), "old");
  test::expect_input_error(
      [&] { write_file_atomic(path.string(), [](std::ofstream&) { throw InputError("stop"); }); },
      {"stop"});
  std::ifstream in(path);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  test::expect_input_error([&] { write_text_atomic((dir / "no" / "x").string(), "new"); },
                           {"cannot write", (dir / "no" / "x").string()});
}

}  // namespace
}  // namespace uoe
