// HDF5 files (formats/hdf5_file.h) and token datasets (data/token_dataset.h): round trips of every
// dtype and attribute kind, validation errors that name the file and dataset, and make_batch
// against hand-written batches.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "data/token_dataset.h"
#include "formats/hdf5_file.h"
#include "test_utils.h"

namespace uoe {
namespace {

namespace fs = std::filesystem;

class TokenDatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = c10::str(::testing::TempDir(), "uoe_test_token_dataset_", ::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
};

// The three sequences of the make_batch tests (vocab 10).
std::vector<TokenSequence> sample_sequences() {
  return {{{5, 6, 7, 8}, {1, 0, 1, 1}}, {{9, 3}, {1, 1}}, {{4}, {1}}};
}

// A file with the token-dataset layout but arbitrary contents, to test validation.
void write_raw(const std::string& path, const torch::Tensor& tokens, const torch::Tensor& offsets,
               const torch::Tensor& loss_mask, int64_t vocab_size) {
  Hdf5Writer file(path);
  if (tokens.defined()) file.write("tokens", tokens);
  if (offsets.defined()) file.write("offsets", offsets);
  if (loss_mask.defined()) file.write("loss_mask", loss_mask);
  file.set_attribute("format", std::string("uoe-token-dataset"));
  file.set_attribute("version", int64_t(1));
  file.set_attribute("vocab_size", vocab_size);
  file.commit();
}

TEST_F(TokenDatasetTest, Hdf5RoundTripsEveryDtypeAndAttribute) {
  const std::string path = file("tensors.h5");
  auto f32 = test::seeded_randn({3, 4}, 1);
  auto f64 = test::seeded_randn({2, 2, 2}, 2, 1.0, torch::kFloat64);
  auto bf16 = test::seeded_randn({5}, 3, 1.0, torch::kBFloat16);
  auto i32 = torch::tensor({-7, 0, 2147483647}, torch::kInt32);
  auto i64 = torch::tensor({-(int64_t(1) << 40), int64_t(3)}, torch::kInt64);
  auto u8 = torch::tensor({0, 1, 255}, torch::kUInt8);
  auto scalar = torch::tensor(2.5f);
  auto empty = torch::zeros({0, 3});
  auto strided = test::seeded_randn({4, 3}, 4).t();  // non-contiguous [3, 4]
  const std::string long_text(100000, 'x');          // beyond HDF5's 64 KiB compact attributes
  {
    Hdf5Writer writer(path);
    writer.write("f32", f32);
    writer.write("f64", f64);
    writer.write("bf16", bf16);
    writer.write("i32", i32);
    writer.write("i64", i64);
    writer.write("u8", u8);
    writer.write("scalar", scalar);
    writer.write("empty", empty);
    writer.write("layers.0.strided", strided);
    writer.set_attribute("text", std::string("héllo"));
    writer.set_attribute("long", long_text);
    writer.set_attribute("empty_text", std::string());
    writer.set_attribute("count", int64_t(-123456789012));
    writer.set_attribute("count", int64_t(42));  // replaces
    EXPECT_FALSE(fs::exists(path)) << "written before commit";
    writer.commit();
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1)
      << "temporary file left behind";
  {  // a fixed-length, null-padded string attribute as h5py writes np.bytes_("fixed")
    const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 5);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t attr = H5Acreate2(id, "fixed", type, space, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(H5Awrite(attr, type, "fixed"), 0);
    H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
    EXPECT_GE(H5Fclose(id), 0);
  }

  Hdf5File h5(path, Hdf5File::Mode::kRead);
  EXPECT_EQ(h5.dataset_names(),
            (std::vector<std::string>{"bf16", "empty", "f32", "f64", "i32", "i64",
                                      "layers.0.strided", "scalar", "u8"}));
  const std::vector<std::pair<std::string, torch::Tensor>> expected = {
      {"f32", f32},       {"f64", f64},     {"bf16", bf16},
      {"i32", i32},       {"i64", i64},     {"u8", u8},
      {"scalar", scalar}, {"empty", empty}, {"layers.0.strided", strided}};
  for (const auto& [name, want] : expected) {
    auto got = h5.read(name);
    EXPECT_EQ(got.scalar_type(), want.scalar_type()) << name;
    EXPECT_EQ(got.sizes(), want.sizes()) << name;
    EXPECT_EQ(h5.dtype(name), want.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(got, want)) << name;
  }
  EXPECT_TRUE(h5.has_dataset("f32"));
  EXPECT_FALSE(h5.has_dataset("f16"));
  EXPECT_EQ(h5.shape("f64"), (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(h5.string_attribute("text"), "héllo");
  EXPECT_EQ(h5.string_attribute("long"), long_text);
  EXPECT_EQ(h5.string_attribute("empty_text"), "");
  EXPECT_EQ(h5.int_attribute("count"), 42);
  EXPECT_EQ(h5.string_attribute("fixed"), "fixed");
  EXPECT_FALSE(h5.has_attribute("missing"));

  auto into = torch::zeros({3, 4});
  h5.read_into("f32", into);
  EXPECT_TRUE(torch::equal(into, f32));
  auto view = torch::zeros({4, 3}).t();  // a non-contiguous destination
  h5.read_into("layers.0.strided", view);
  EXPECT_TRUE(torch::equal(view, strided));
}

TEST_F(TokenDatasetTest, Hdf5ErrorsNameFileAndDataset) {
  const std::string path = file("errors.h5");
  {
    Hdf5Writer writer(path);
    writer.write("weight", torch::zeros({2, 3}));
    writer.set_attribute("name", std::string("x"));
    writer.commit();
  }
  Hdf5File h5(path, Hdf5File::Mode::kRead);
  auto wrong_shape = torch::zeros({3, 2});
  test::expect_input_error([&] { h5.read_into("weight", wrong_shape); },
                           {path, "weight", "[2, 3]", "[3, 2]"});
  auto wrong_dtype = torch::zeros({2, 3}, torch::kInt64);
  test::expect_input_error([&] { h5.read_into("weight", wrong_dtype); }, {path, "weight", "Long"});
  // Floating-point weights convert: fp32 into a bf16 model (bf16: true), one tensor at a time.
  auto bf16 = torch::ones({2, 3}, torch::kBFloat16);
  h5.read_into("weight", bf16);
  EXPECT_TRUE(torch::equal(bf16, torch::zeros({2, 3}, torch::kBFloat16)));
  test::expect_input_error([&] { h5.read("bias"); }, {path, "bias"});
  test::expect_input_error([&] { h5.int_attribute("name"); }, {path, "name", "not an integer"});
  test::expect_input_error([&] { h5.string_attribute("other"); }, {path, "other"});
  test::expect_input_error([&] { Hdf5File(file("nope.h5"), Hdf5File::Mode::kRead); },
                           {"nope.h5", "no such file"});
  { std::ofstream(file("text.h5")) << "not hdf5\n"; }
  test::expect_input_error([&] { Hdf5File(file("text.h5"), Hdf5File::Mode::kRead); },
                           {"text.h5", "not an HDF5 file"});
  test::expect_input_error([&] { Hdf5File(dir_ + "/no/such/dir/x.h5", Hdf5File::Mode::kCreate); },
                           {"no/such/dir/x.h5"});
}

TEST_F(TokenDatasetTest, H5CheckReportsCallCodeFileAndRank) {
  try {
    H5_CHECK(H5Dclose(-1), "some.h5: dataset 'x'");
    ADD_FAILURE() << "expected an InternalError";
  } catch (const InternalError& e) {
    const std::string message = e.what();
    for (const std::string part : {"H5Dclose(-1)", "code -1", "some.h5: dataset 'x'", "[rank 0@"}) {
      EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
    }
  }
}

TEST_F(TokenDatasetTest, UncommittedWriterLeavesNothing) {
  const std::string path = file("aborted.h5");
  try {
    Hdf5Writer writer(path);
    writer.write("a", torch::zeros({2}));
    throw std::runtime_error("interrupted");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 0);
}

TEST_F(TokenDatasetTest, RoundTrip) {
  const std::string path = file("data.h5");
  const auto sequences = sample_sequences();
  write_token_dataset(path, sequences, 10);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
  TokenDataset data(path);
  EXPECT_EQ(data.path(), path);
  EXPECT_EQ(data.size(), 3);
  EXPECT_EQ(data.vocab_size(), 10);
  EXPECT_EQ(data.num_tokens(), 7);
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(data.length(i), int64_t(sequences[i].tokens.size()));
    EXPECT_EQ(data.get(i).tokens, sequences[i].tokens) << i;
    EXPECT_EQ(data.get(i).loss_mask, sequences[i].loss_mask) << i;
  }
  test::expect_input_error([&] { data.get(3); }, {path, "3"});

  Hdf5File raw(path, Hdf5File::Mode::kRead);
  EXPECT_TRUE(torch::equal(raw.read("offsets"), torch::tensor({0, 4, 6, 7}, torch::kInt64)));

  // No timestamps in the file: the same sequences give byte-identical files.
  write_token_dataset(file("again.h5"), sequences, 10);
  auto bytes = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(bytes(path), bytes(file("again.h5")));

  // An in-memory dataset holds the same sequences and is validated like a file.
  TokenDataset memory(sequences, 10, "in-memory probes");
  EXPECT_EQ(memory.path(), "in-memory probes");
  EXPECT_EQ(memory.size(), 3);
  EXPECT_EQ(memory.num_tokens(), 7);
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(memory.get(i).tokens, sequences[i].tokens) << i;
  test::expect_input_error(
      [&] {
        TokenDataset({{{3, 12}, {0, 1}}}, 10, "in-memory probes");
      },
      {"in-memory probes", "token id 12"});

  write_token_dataset(file("empty.h5"), {}, 10);
  TokenDataset empty(file("empty.h5"));
  EXPECT_EQ(empty.size(), 0);
  EXPECT_EQ(empty.num_tokens(), 0);
}

TEST_F(TokenDatasetTest, WriterRejectsBadSequences) {
  const std::string path = file("bad.h5");
  test::expect_input_error(
      [&] {
        write_token_dataset(path, {{{1, 10}, {0, 1}}}, 10);
      },
      {path, "token id 10", "sequence 0"});
  test::expect_input_error(
      [&] {
        write_token_dataset(path, {{{1}, {1}}, {{1, 2}, {1}}}, 10);
      },
      {path, "sequence 1", "loss_mask"});
  test::expect_input_error(
      [&] {
        write_token_dataset(path, {{{1}, {1}}, {{}, {}}}, 10);
      },
      {path, "offsets not increasing at sequence 1"});
  test::expect_input_error(
      [&] {
        write_token_dataset(path, {{{1, 2}, {0, 2}}}, 10);
      },
      {path, "loss_mask value 2"});
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(TokenDatasetTest, ValidationErrorsNameTheFile) {
  const auto tokens = torch::tensor({1, 2, 3, 4}, torch::kInt32);
  const auto mask = torch::tensor({0, 1, 1, 1}, torch::kUInt8);
  const auto offsets = torch::tensor({0, 2, 4}, torch::kInt64);
  const std::string good = file("good.h5");
  write_raw(good, tokens, offsets, mask, 5);
  EXPECT_EQ(TokenDataset(good).size(), 2);

  const std::string corrupt = file("corrupt_offsets.h5");
  write_raw(corrupt, tokens, torch::tensor({0, 3, 2, 4}, torch::kInt64), mask, 5);
  test::expect_input_error([&] { TokenDataset{corrupt}; }, {corrupt, "offsets not increasing"});

  const std::string short_offsets = file("short_offsets.h5");
  write_raw(short_offsets, tokens, torch::tensor({0, 2}, torch::kInt64), mask, 5);
  test::expect_input_error([&] { TokenDataset{short_offsets}; },
                           {short_offsets, "/offsets ends at 2"});

  const std::string out_of_range = file("out_of_range.h5");
  write_raw(out_of_range, tokens, offsets, mask, 4);
  test::expect_input_error(
      [&] { TokenDataset{out_of_range}; },
      {out_of_range, "token id 4", "position 3", "sequence 1", "vocab_size=4"});

  const std::string negative = file("negative.h5");
  write_raw(negative, torch::tensor({1, -2, 3, 4}, torch::kInt32), offsets, mask, 5);
  test::expect_input_error([&] { TokenDataset{negative}; }, {negative, "token id -2"});

  const std::string no_mask = file("no_mask.h5");
  write_raw(no_mask, tokens, offsets, torch::Tensor(), 5);
  test::expect_input_error([&] { TokenDataset{no_mask}; }, {no_mask, "missing dataset /loss_mask"});

  const std::string short_mask = file("short_mask.h5");
  write_raw(short_mask, tokens, offsets, mask.narrow(0, 0, 3), 5);
  test::expect_input_error([&] { TokenDataset{short_mask}; }, {short_mask, "/loss_mask has 3"});

  const std::string wide_tokens = file("wide_tokens.h5");
  write_raw(wide_tokens, tokens.to(torch::kInt64), offsets, mask, 5);
  test::expect_input_error([&] { TokenDataset{wide_tokens}; },
                           {wide_tokens, "/tokens must be Int"});

  const std::string matrix = file("matrix.h5");
  write_raw(matrix, tokens.reshape({2, 2}), offsets, mask, 5);
  test::expect_input_error([&] { TokenDataset{matrix}; }, {matrix, "/tokens must be 1-D"});

  const std::string foreign = file("foreign.h5");
  {
    Hdf5Writer writer(foreign);
    writer.write("tokens", tokens);
    writer.commit();
  }
  test::expect_input_error([&] { TokenDataset{foreign}; }, {foreign, "not a uoe token dataset"});
  test::expect_input_error([&] { TokenDataset{file("missing.h5")}; }, {file("missing.h5")});
}

TEST_F(TokenDatasetTest, MakeBatchPadsAndShiftsMask) {
  const std::string path = file("batch.h5");
  write_token_dataset(path, sample_sequences(), 10);
  TokenDataset data(path);

  // Sequences [5 6 7 8] mask [1 0 1 1], [9 3] mask [1 1], [4]: S = 4 - 1 = 3. The file mask of
  // token 0 is never used; loss_mask[b, s] is the file mask of token s + 1.
  auto batch = make_batch(data, {0, 1, 2});
  const auto i64 = torch::kInt64;
  EXPECT_TRUE(torch::equal(batch.input_ids,
                           torch::tensor({5, 6, 7, 9, 0, 0, 0, 0, 0}, i64).reshape({3, 3})));
  EXPECT_TRUE(
      torch::equal(batch.labels, torch::tensor({6, 7, 8, 3, 0, 0, 0, 0, 0}, i64).reshape({3, 3})));
  EXPECT_TRUE(
      torch::equal(batch.loss_mask,
                   torch::tensor({0.f, 1.f, 1.f, 1.f, 0.f, 0.f, 0.f, 0.f, 0.f}).reshape({3, 3})));
  EXPECT_TRUE(torch::equal(
      batch.valid, torch::tensor({1.f, 1.f, 1.f, 1.f, 0.f, 0.f, 0.f, 0.f, 0.f}).reshape({3, 3})));
  EXPECT_EQ(batch.indices, (std::vector<int64_t>{0, 1, 2}));
  // Counted on the host: 3 scored and 4 valid positions, 2 rows with either, the empty row none.
  EXPECT_EQ(batch.counts.scored_tokens, 3);
  EXPECT_EQ(batch.counts.valid_tokens, 4);
  EXPECT_EQ(batch.counts.scored_rows, 2);
  EXPECT_EQ(batch.counts.valid_rows, 2);

  // Rows follow the index order; S shrinks to the longest sequence of this batch.
  auto small = make_batch(data, {1, 1});
  EXPECT_TRUE(torch::equal(small.input_ids, torch::tensor({9, 9}, i64).reshape({2, 1})));
  EXPECT_TRUE(torch::equal(small.labels, torch::tensor({3, 3}, i64).reshape({2, 1})));
  EXPECT_TRUE(torch::equal(small.loss_mask, torch::ones({2, 1})));
  EXPECT_TRUE(torch::equal(small.valid, torch::ones({2, 1})));

  // No indices: one all-pad row with zero masks.
  auto none = make_batch(data, {});
  EXPECT_EQ(none.input_ids.sizes(), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(none.input_ids.scalar_type(), torch::kInt64);
  EXPECT_EQ(none.labels.scalar_type(), torch::kInt64);
  EXPECT_EQ(none.loss_mask.scalar_type(), torch::kFloat32);
  EXPECT_EQ(none.input_ids.sum().item<int64_t>(), 0);
  EXPECT_EQ(none.loss_mask.sum().item<float>(), 0.f);
  EXPECT_EQ(none.valid.sum().item<float>(), 0.f);
  EXPECT_TRUE(none.indices.empty());
  EXPECT_EQ(none.counts.valid_tokens + none.counts.valid_rows + none.counts.scored_rows, 0);

  test::expect_input_error([&] { make_batch(data, {0, 3}); }, {path, "sequence index 3"});
}

}  // namespace
}  // namespace uoe
