#include "data/token_dataset.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "common/device.h"
#include "formats/hdf5_file.h"

namespace uoe {
namespace {

constexpr const char* kFormat = "uoe-token-dataset";
constexpr int64_t kVersion = 1;

// Checks the concatenated layout; `context` starts every message and names the file.
void check_contents(const std::string& context, const std::vector<int32_t>& tokens,
                    const std::vector<int64_t>& offsets, const std::vector<uint8_t>& loss_mask,
                    int64_t vocab_size) {
  UOE_CHECK(vocab_size > 0, context, ": vocab_size must be > 0, got ", vocab_size);
  UOE_CHECK(!offsets.empty() && offsets.front() == 0, context,
            ": /offsets must start with 0 (it has N + 1 entries)");
  for (size_t i = 0; i + 1 < offsets.size(); ++i) {
    UOE_CHECK(offsets[i] < offsets[i + 1], context, ": /offsets not increasing at sequence ", i,
              " (", offsets[i], " then ", offsets[i + 1], ")");
  }
  UOE_CHECK(offsets.back() == static_cast<int64_t>(tokens.size()), context, ": /offsets ends at ",
            offsets.back(), " but /tokens has ", tokens.size(), " entries");
  UOE_CHECK(loss_mask.size() == tokens.size(), context, ": /loss_mask has ", loss_mask.size(),
            " entries but /tokens has ", tokens.size());
  auto sequence_of = [&](size_t j) {  // only evaluated for messages
    return std::upper_bound(offsets.begin(), offsets.end(), int64_t(j)) - offsets.begin() - 1;
  };
  for (size_t j = 0; j < tokens.size(); ++j) {
    UOE_CHECK(tokens[j] >= 0 && tokens[j] < vocab_size, context, ": token id ", tokens[j],
              " at position ", j, " (sequence ", sequence_of(j),
              ") is outside [0, vocab_size=", vocab_size, ")");
    UOE_CHECK(loss_mask[j] <= 1, context, ": /loss_mask value ", int(loss_mask[j]), " at position ",
              j, " (sequence ", sequence_of(j), ") is not 0 or 1");
  }
}

// A 1-D dataset of the given dtype as a vector; InputError naming the file and dataset otherwise.
template <typename T>
std::vector<T> read_vector(const Hdf5File& file, const std::string& name, torch::ScalarType dtype) {
  UOE_CHECK(file.has_dataset(name), "token dataset '", file.path(), "': missing dataset /", name);
  const auto shape = file.shape(name);
  UOE_CHECK(shape.size() == 1, "token dataset '", file.path(), "': /", name,
            " must be 1-D, got shape ", at::IntArrayRef(shape));
  const auto stored = file.dtype(name);
  UOE_CHECK(stored == dtype, "token dataset '", file.path(), "': /", name, " must be ", dtype,
            ", got ", stored);
  const auto tensor = file.read(name);
  const T* data = tensor.data_ptr<T>();
  return std::vector<T>(data, data + tensor.numel());
}

// Concatenates `sequences` into the file layout and validates it.
void flatten(const std::string& context, const std::vector<TokenSequence>& sequences,
             int64_t vocab_size, std::vector<int32_t>& tokens, std::vector<int64_t>& offsets,
             std::vector<uint8_t>& loss_mask) {
  tokens.clear();
  loss_mask.clear();
  offsets.assign(1, 0);
  for (size_t i = 0; i < sequences.size(); ++i) {
    const auto& sequence = sequences[i];
    UOE_CHECK(sequence.loss_mask.size() == sequence.tokens.size(), context, ": sequence ", i,
              " has ", sequence.tokens.size(), " tokens but ", sequence.loss_mask.size(),
              " loss_mask entries");
    tokens.insert(tokens.end(), sequence.tokens.begin(), sequence.tokens.end());
    loss_mask.insert(loss_mask.end(), sequence.loss_mask.begin(), sequence.loss_mask.end());
    offsets.push_back(static_cast<int64_t>(tokens.size()));
  }
  check_contents(context, tokens, offsets, loss_mask, vocab_size);
}

}  // namespace

void write_token_dataset(const std::string& path, const std::vector<TokenSequence>& sequences,
                         int64_t vocab_size) {
  std::vector<int32_t> tokens;
  std::vector<int64_t> offsets;
  std::vector<uint8_t> loss_mask;
  flatten(c10::str("cannot write token dataset '", path, "'"), sequences, vocab_size, tokens,
          offsets, loss_mask);

  Hdf5Writer file(path);
  file.write("tokens", torch::tensor(tokens, torch::kInt32));        // [total_tokens]
  file.write("offsets", torch::tensor(offsets, torch::kInt64));      // [N + 1]
  file.write("loss_mask", torch::tensor(loss_mask, torch::kUInt8));  // [total_tokens]
  file.set_attribute("format", std::string(kFormat));
  file.set_attribute("version", kVersion);
  file.set_attribute("vocab_size", vocab_size);
  file.commit();
}

TokenDataset::TokenDataset(const std::string& path) : path_(path) {
  Hdf5File file(path, Hdf5File::Mode::kRead);
  const std::string context = c10::str("token dataset '", path, "'");
  UOE_CHECK(file.has_attribute("format") && file.string_attribute("format") == kFormat, context,
            ": not a uoe token dataset (expected attribute format = \"", kFormat, "\")");
  const int64_t version = file.int_attribute("version");
  UOE_CHECK(version == kVersion, context, ": unsupported version ", version, ", expected ",
            kVersion);
  vocab_size_ = file.int_attribute("vocab_size");
  tokens_ = read_vector<int32_t>(file, "tokens", torch::kInt32);
  offsets_ = read_vector<int64_t>(file, "offsets", torch::kInt64);
  loss_mask_ = read_vector<uint8_t>(file, "loss_mask", torch::kUInt8);
  check_contents(context, tokens_, offsets_, loss_mask_, vocab_size_);
}

TokenDataset::TokenDataset(std::vector<TokenSequence> sequences, int64_t vocab_size,
                           std::string name)
    : path_(std::move(name)), vocab_size_(vocab_size) {
  flatten(c10::str("token dataset '", path_, "'"), sequences, vocab_size_, tokens_, offsets_,
          loss_mask_);
}

int64_t TokenDataset::size() const { return static_cast<int64_t>(offsets_.size()) - 1; }
int64_t TokenDataset::vocab_size() const { return vocab_size_; }
int64_t TokenDataset::num_tokens() const { return static_cast<int64_t>(tokens_.size()); }
const std::string& TokenDataset::path() const { return path_; }

int64_t TokenDataset::length(int64_t index) const {
  UOE_CHECK(index >= 0 && index < size(), "token dataset '", path_, "': sequence index ", index,
            " outside [0, ", size(), ")");
  return offsets_[index + 1] - offsets_[index];
}

TokenSequence TokenDataset::get(int64_t index) const {
  const int64_t len = length(index);
  const int64_t begin = offsets_[index];
  TokenSequence sequence;
  sequence.tokens.assign(tokens_.begin() + begin, tokens_.begin() + begin + len);
  sequence.loss_mask.assign(loss_mask_.begin() + begin, loss_mask_.begin() + begin + len);
  return sequence;
}

// A sequence of n tokens fills input positions s < n - 1: input_ids[b, s] = tokens[s],
// labels[b, s] = tokens[s + 1], loss_mask[b, s] = file mask of token s + 1, valid[b, s] = 1.
// S is at least 1, so a batch of length-1 sequences (or the empty-index batch) has one pad column.
TokenBatch TokenBatch::to(const torch::Device& device) const {
  return {host_to_device(input_ids, device),
          host_to_device(labels, device),
          host_to_device(loss_mask, device),
          host_to_device(valid, device),
          indices,
          counts};
}

void TokenBatch::count_on_host() {
  UOE_CHECK(loss_mask.device().is_cpu() && valid.device().is_cpu(),
            "TokenBatch::count_on_host: the masks are on ", valid.device(), ", not the host");
  counts.scored_tokens = std::llround(loss_mask.sum().item<double>());
  counts.valid_tokens = std::llround(valid.sum().item<double>());
  counts.scored_rows = (loss_mask.sum(1) > 0).sum().item<int64_t>();
  counts.valid_rows = (valid.sum(1) > 0).sum().item<int64_t>();
}

TokenBatch make_batch(const TokenDataset& dataset, const std::vector<int64_t>& indices,
                      const torch::Device& device) {
  int64_t longest = 2;
  for (const int64_t index : indices) longest = std::max(longest, dataset.length(index));
  const int64_t rows = std::max<int64_t>(1, static_cast<int64_t>(indices.size()));
  const int64_t seq = longest - 1;
  TokenBatch batch;
  batch.indices = indices;
  batch.input_ids = torch::zeros({rows, seq}, torch::kInt64);  // [B, S]
  batch.labels = torch::zeros({rows, seq}, torch::kInt64);     // [B, S]
  batch.loss_mask = torch::zeros({rows, seq});                 // [B, S]
  batch.valid = torch::zeros({rows, seq});                     // [B, S]
  auto input_ids = batch.input_ids.accessor<int64_t, 2>();
  auto labels = batch.labels.accessor<int64_t, 2>();
  auto loss_mask = batch.loss_mask.accessor<float, 2>();
  auto valid = batch.valid.accessor<float, 2>();
  for (size_t b = 0; b < indices.size(); ++b) {
    const TokenSequence sequence = dataset.get(indices[b]);
    const int64_t positions = static_cast<int64_t>(sequence.tokens.size()) - 1;
    for (int64_t s = 0; s < positions; ++s) {
      input_ids[b][s] = sequence.tokens[s];
      labels[b][s] = sequence.tokens[s + 1];
      loss_mask[b][s] = sequence.loss_mask[s + 1];
      valid[b][s] = 1.0f;
    }
  }
  batch.count_on_host();
  return batch.to(device);
}

}  // namespace uoe
