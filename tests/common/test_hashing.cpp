// path_fingerprint: what the ranks compare to check that they read the same inputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/hashing.h"
#include "test_utils.h"

namespace uoe {
namespace {

namespace fs = std::filesystem;

class PathFingerprintTest : public test::SharedDirTest {
 protected:
  PathFingerprintTest() : SharedDirTest("uoe_test_hashing_") {}

  // A tree "<name>/" with two files, one in a subdirectory.
  std::string make_tree(const std::string& name, const std::string& content) const {
    const fs::path root = fs::path(dir_) / name;
    fs::create_directories(root / "sub");
    std::ofstream(root / "config.json") << "{}";
    std::ofstream(root / "sub" / "weights.bin") << content;
    return root.string();
  }
};

TEST_F(PathFingerprintTest, DirectoriesHashTheirFilesByRelativePath) {
  const fs::path dir = dir_;
  const std::string a = make_tree("a", "weights");
  EXPECT_EQ(path_fingerprint(a), path_fingerprint(make_tree("b", "weights")));
  EXPECT_EQ(path_fingerprint(a), path_fingerprint(a + "/"));
  EXPECT_NE(path_fingerprint(a), path_fingerprint(make_tree("c", "weightz")));
  fs::rename(dir / "c" / "sub" / "weights.bin", dir / "c" / "sub" / "other.bin");
  std::ofstream(dir / "c" / "sub" / "other.bin") << "weights";
  EXPECT_NE(path_fingerprint(a), path_fingerprint((dir / "c").string()));
  EXPECT_EQ(path_fingerprint(""), path_fingerprint((dir / "missing").string()));
  EXPECT_NE(path_fingerprint(a), path_fingerprint(a + "/config.json"));
}

TEST_F(PathFingerprintTest, WhatCannotBeReadDoesNotThrow) {
  const std::string a = make_tree("a", "weights");
  const uint64_t before = path_fingerprint(a);
  fs::create_symlink("loop_b", fs::path(a) / "loop_a");  // a symlink loop: not a regular file
  fs::create_symlink("loop_a", fs::path(a) / "loop_b");
  EXPECT_EQ(path_fingerprint(a), before);
  EXPECT_NO_THROW(path_fingerprint((fs::path(a) / "loop_a").string()));
  EXPECT_NO_THROW(path_fingerprint(std::string(5000, 'n')));  // over PATH_MAX
}

}  // namespace
}  // namespace uoe
