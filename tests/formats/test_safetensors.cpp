// safetensors reading and writing (io/safetensors*.h): a file written by the official Python
// package reads back with the values of its formulas; our files round-trip bitwise and the Python
// package reads them (when it is installed: UOE_PYTHON, default python3); malformed headers give
// InputErrors naming the file (and tensor); sharded directories are validated against the index.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "formats/safetensors.h"
#include "formats/safetensors_checkpoint.h"
#include "formats/safetensors_writer.h"
#include "test_utils.h"

namespace uoe {
namespace {

namespace fs = std::filesystem;

// The tensors of tools/safetensors_fixture.py.
std::vector<NamedTensor> fixture_tensors() {
  return {{"a.f32", torch::arange(12, torch::kFloat32).reshape({3, 4}) / 8},
          {"b.bf16", ((torch::arange(10, torch::kFloat32) - 5) * 0.375).to(torch::kBFloat16)},
          {"c.f16",
           (torch::arange(6, torch::kFloat32).reshape({2, 1, 3}) * 0.5 - 1).to(torch::kFloat16)},
          {"empty", torch::zeros({0, 3})},
          {"ids.i64", torch::arange(-3, 4, torch::kInt64) * 1000000007},
          {"scalar", torch::tensor(2.5f)}};
}
const std::map<std::string, std::string> kFixtureMetadata = {{"format", "pt"},
                                                             {"note", "uoe fixture"}};

void expect_fixture_tensors(const SafetensorsFile& file) {
  EXPECT_EQ(file.metadata(), kFixtureMetadata);
  EXPECT_EQ(file.tensors().size(), 6u);
  for (const auto& [name, want] : fixture_tensors()) {
    ASSERT_TRUE(file.contains(name)) << name;
    const auto got = file.view(name);
    EXPECT_EQ(got.scalar_type(), want.scalar_type()) << name;
    EXPECT_EQ(got.sizes(), want.sizes()) << name;
    EXPECT_TRUE(torch::equal(got, want)) << name << ": " << got << " vs " << want;
  }
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = c10::str(::testing::TempDir(), "uoe_test_safetensors_", ::getpid(), "_",
                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write_bytes(const std::string& name, const std::string& bytes) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  std::string dir_;
};

TEST_F(SafetensorsTest, ReadsFileWrittenByPythonPackage) {
  SafetensorsFile file(std::string(UOE_SOURCE_DIR) +
                       "/tests/fixtures/safetensors/python_written.safetensors");
  expect_fixture_tensors(file);
  const auto converted = file.load("b.bf16", torch::kFloat32);
  EXPECT_EQ(converted.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(converted, (torch::arange(10, torch::kFloat32) - 5) * 0.375));
}

TEST_F(SafetensorsTest, RoundTripAndPythonReadsOurFile) {
  auto tensors = fixture_tensors();
  tensors[0].tensor = tensors[0].tensor.t().contiguous().t();  // non-contiguous input
  const std::string path = dir_ + "/ours.safetensors";
  write_safetensors_file(path, tensors, kFixtureMetadata);
  EXPECT_FALSE(fs::exists(c10::str(path, ".tmp.", ::getpid())));
  {
    std::ifstream in(path, std::ios::binary);
    uint8_t len[8];
    in.read(reinterpret_cast<char*>(len), 8);
    EXPECT_EQ(len[0] % 8, 0) << "header padded to a multiple of 8 bytes";
  }
  torch::Tensor view;
  {
    SafetensorsFile file(path);
    expect_fixture_tensors(file);
    view = file.view("a.f32");
    file.release("a.f32");
  }
  // The view keeps the mapping alive after the file object is gone; released pages come back.
  EXPECT_TRUE(torch::equal(view, fixture_tensors()[0].tensor));

  const char* python = std::getenv("UOE_PYTHON");
  const std::string py = python ? python : "python3";
  if (std::system((py + " -c 'import safetensors.torch' >/dev/null 2>&1").c_str()) != 0) {
    GTEST_SKIP() << py << " has no safetensors package (set UOE_PYTHON to one that has)";
  }
  const std::string check =
      c10::str(py, " ", UOE_SOURCE_DIR, "/tools/safetensors_fixture.py check ", path);
  EXPECT_EQ(std::system(check.c_str()), 0) << check;
}

TEST_F(SafetensorsTest, WriterRejectsBadInputWithoutWriting) {
  const std::string path = dir_ + "/bad.safetensors";
  test::expect_input_error(
      [&] {
        write_safetensors_file(path, {{"x", torch::zeros({2})}, {"x", torch::ones({2})}});
      },
      {path, "'x'", "repeated"});
  test::expect_input_error(
      [&] {
        write_safetensors_file(path, {{"i", torch::zeros({2}, torch::kInt32)}});
      },
      {path, "'i'", "F32, BF16, F16, I64"});
  EXPECT_FALSE(fs::exists(path));
}

std::string le64(uint64_t v) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return bytes;
}

// A file with this header text and `data_bytes` zero bytes of data.
std::string file_bytes(const std::string& header, size_t data_bytes) {
  return le64(header.size()) + header + std::string(data_bytes, '\0');
}

TEST_F(SafetensorsTest, MalformedFilesGiveInputErrorsNamingFileAndTensor) {
  const std::string ok = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  struct Case {
    std::string name, bytes;
    std::vector<std::string> message_parts;
  };
  const std::vector<Case> cases = {
      {"too_short", "abc", {"shorter than the 8-byte"}},
      {"length_beyond_file", le64(1000) + "{}", {"exceeds the file size"}},
      {"length_beyond_limit", le64(uint64_t(1) << 40) + "{}", {"exceeds the limit"}},
      {"truncated", file_bytes(ok, 10), {"'w'", "outside the data section"}},
      {"not_json", file_bytes(R"({"w":)", 0), {"not valid JSON"}},
      {"not_object", file_bytes("[1, 2]", 0), {"JSON object"}},
      {"leading_space", file_bytes(" {}", 0), {"JSON object"}},
      {"duplicate_name",
       file_bytes(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                  R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                  8),
       {"repeats the key 'w'", "two tensors with the same name"}},
      {"duplicate_field",
       file_bytes(R"({"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})", 4),
       {"repeats the key 'dtype'"}},
      {"bad_dtype",
       file_bytes(R"({"w":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}})", 4),
       {"'w'", "unsupported dtype 'I8'", "F32, BF16, F16, I64"}},
      {"out_of_range",
       file_bytes(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
       {"'w'", "outside the data section of 8 bytes"}},
      {"reversed_offsets",
       file_bytes(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8),
       {"'w'", "outside the data section"}},
      {"wrong_byte_size",
       file_bytes(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}})", 16),
       {"'w'", "hold 8 bytes", "needs 16"}},
      {"overlap",
       file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                  R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                  12),
       {"'a'", "'b'", "overlap"}},
      {"negative_dim",
       file_bytes(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0),
       {"'w'", "non-negative"}},
      {"float_dim",
       file_bytes(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
       {"'w'", "non-negative integers"}},
      {"overflowing_shape",
       file_bytes(R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})",
                  0),
       {"'w'", "overflows"}},
      {"missing_offsets",
       file_bytes(R"({"w":{"dtype":"F32","shape":[1]}})", 4),
       {"'w'", "missing 'data_offsets'"}},
      {"unknown_field",
       file_bytes(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", 4),
       {"'w'", "unknown key 'x'"}},
      {"entry_not_object", file_bytes(R"({"w":[1]})", 0), {"'w'", "expected an object"}},
      {"metadata_not_string",
       file_bytes(R"({"__metadata__":{"format":1}})", 0),
       {"__metadata__", "'format'", "must be a string"}},
      {"too_deep", file_bytes(R"({"w":{"shape":[[[1]]]}})", 0), {"nests deeper"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = write_bytes(c.name + ".safetensors", c.bytes);
    auto parts = c.message_parts;
    parts.push_back(path);
    test::expect_input_error([&] { SafetensorsFile file(path); }, parts);
    // The pure parser (the fuzzing entry point) gives the same verdict on the bytes alone.
    const auto* data = reinterpret_cast<const uint8_t*>(c.bytes.data());
    test::expect_input_error(
        [&] { parse_safetensors_header(data, c.bytes.size(), c.bytes.size(), "bytes"); },
        {"bytes"});
  }
  const std::string valid = write_bytes("valid.safetensors", file_bytes(ok, 16));
  EXPECT_EQ(SafetensorsFile(valid).info("w").shape, (std::vector<int64_t>{2, 2}));
  test::expect_input_error([&] { SafetensorsFile(dir_ + "/absent.safetensors"); },
                           {"absent.safetensors", "cannot open"});
}

// Random byte mutations of a valid file (a small stand-in for fuzzing the pure parser): each one
// parses or gives an InputError; nothing else escapes and nothing crashes.
TEST_F(SafetensorsTest, MutatedHeadersParseOrGiveInputErrors) {
  const std::string path = dir_ + "/valid.safetensors";
  write_safetensors_file(path, fixture_tensors(), kFixtureMetadata);
  std::ifstream in(path, std::ios::binary);
  const std::string original((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  std::mt19937_64 rng(7);
  int parsed = 0, rejected = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string bytes = original;
    const int flips = 1 + int(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      const size_t at = rng() % std::min<size_t>(bytes.size(), 8 + 200);  // mostly the header
      bytes[at] = static_cast<char>(rng() % 256);
    }
    if (rng() % 8 == 0) bytes.resize(rng() % bytes.size());
    try {
      parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                               bytes.size(), "mutant");
      ++parsed;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("mutant"), std::string::npos) << e.what();
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 1000);
  EXPECT_GT(parsed, 0);
}

std::vector<NamedTensor> numbered_tensors(int n) {
  std::vector<NamedTensor> tensors;
  for (int i = 0; i < n; ++i) {
    tensors.push_back({c10::str("t", i),
                       torch::full({4}, float(i)).to(i % 2 ? torch::kBFloat16 : torch::kFloat32)});
  }
  return tensors;
}

TEST_F(SafetensorsTest, ShardedCheckpointRoundTrip) {
  // 16-byte fp32 and 8-byte bf16 tensors, shards of at most 24 bytes: two tensors per shard.
  const auto tensors = numbered_tensors(5);
  const auto shards = write_safetensors_checkpoint(dir_, tensors, 24);
  EXPECT_EQ(shards, (std::vector<std::string>{"model-00001-of-00003.safetensors",
                                              "model-00002-of-00003.safetensors",
                                              "model-00003-of-00003.safetensors"}));
  SafetensorsCheckpoint checkpoint(dir_);
  EXPECT_TRUE(checkpoint.is_sharded());
  EXPECT_EQ(checkpoint.index_metadata().at("total_size").get<uint64_t>(), 3 * 16 + 2 * 8);
  EXPECT_EQ(checkpoint.tensor_names().size(), 5u);
  for (const auto& [name, tensor] : tensors) {
    EXPECT_TRUE(torch::equal(checkpoint.file_of(name).view(name), tensor)) << name;
  }
  EXPECT_EQ(checkpoint.file_of("t4").path(), dir_ + "/model-00003-of-00003.safetensors");

  // One shard: a single model.safetensors without index.
  const std::string single = dir_ + "/single";
  fs::create_directories(single);
  EXPECT_EQ(write_safetensors_checkpoint(single, tensors, 1 << 20),
            (std::vector<std::string>{"model.safetensors"}));
  EXPECT_FALSE(fs::exists(single + "/model.safetensors.index.json"));
  SafetensorsCheckpoint one(single);
  EXPECT_FALSE(one.is_sharded());
  EXPECT_TRUE(torch::equal(one.file_of("t3").view("t3"), tensors[3].tensor));
}

TEST_F(SafetensorsTest, ShardedCheckpointValidation) {
  const auto tensors = numbered_tensors(4);
  const std::string index = dir_ + "/model.safetensors.index.json";
  auto write_index = [&](const std::map<std::string, std::string>& weight_map) {
    write_safetensors_index(dir_, weight_map, 0);
  };
  write_safetensors_file(dir_ + "/s1.safetensors", {tensors[0], tensors[1]});
  write_safetensors_file(dir_ + "/s2.safetensors", {tensors[2], tensors[3]});
  const std::map<std::string, std::string> good = {{"t0", "s1.safetensors"},
                                                   {"t1", "s1.safetensors"},
                                                   {"t2", "s2.safetensors"},
                                                   {"t3", "s2.safetensors"}};
  write_index(good);
  EXPECT_EQ(SafetensorsCheckpoint(dir_).shard_names().size(), 2u);

  auto with = [&](const std::string& tensor, const std::string& shard) {
    auto map = good;
    map[tensor] = shard;
    return map;
  };
  write_index(with("t1", "s3.safetensors"));
  test::expect_input_error([&] { SafetensorsCheckpoint c(dir_); },
                           {index, "'s3.safetensors'", "does not exist"});
  write_index(with("t1", "s2.safetensors"));
  test::expect_input_error([&] { SafetensorsCheckpoint c(dir_); },
                           {index, "'t1'", "'s2.safetensors'", "does not contain it"});
  write_index(with("t1", "../s1.safetensors"));
  test::expect_input_error([&] { SafetensorsCheckpoint c(dir_); },
                           {index, "'t1'", "not a file name"});
  auto missing = good;
  missing.erase("t3");
  write_index(missing);
  test::expect_input_error([&] { SafetensorsCheckpoint c(dir_); },
                           {dir_ + "/s2.safetensors", "'t3'", "not in the weight_map"});
  std::ofstream(index) << "{\"weight_map\": [1]}";
  test::expect_input_error([&] { SafetensorsCheckpoint c(dir_); }, {index, "weight_map"});
  fs::remove(index);
  test::expect_input_error([&] { SafetensorsCheckpoint c(dir_); },
                           {dir_, "model.safetensors.index.json"});
}

}  // namespace
}  // namespace uoe
