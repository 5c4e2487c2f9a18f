#pragma once
// Token datasets in HDF5: one file holds N variable-length sequences.
//
//   /tokens     int32 [total_tokens]   all sequences concatenated
//   /offsets    int64 [N + 1]          sequence i is tokens[offsets[i] : offsets[i+1]]
//   /loss_mask  uint8 [total_tokens]   1 where the token is scored (e.g. answer tokens of QA);
//                                      the model predicts token j from tokens < j, so position 0
//                                      of a sequence is never scored
//   attributes on /: format = "uoe-token-dataset", version = 1, vocab_size (int64)
//
// Every rank opens the file read-only and reads only the sequences it needs.
#include <torch/torch.h>

#include <string>
#include <vector>

namespace uoe {

struct TokenSequence {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> loss_mask;  // same length as tokens
};

// Writes atomically (temporary name, then rename). Throws InputError naming the path on failure.
void write_token_dataset(const std::string& path, const std::vector<TokenSequence>& sequences,
                         int64_t vocab_size);

class TokenDataset {
 public:
  // Reads and validates the whole index (offsets); throws InputError naming the file and the
  // problem (missing dataset, wrong dtype, offsets not increasing, token ids outside
  // [0, vocab_size), mask length mismatch).
  explicit TokenDataset(const std::string& path);
  // An in-memory dataset (e.g. multiple-choice probes built at run time); `name` stands in for the
  // path in messages. Validated like a file.
  TokenDataset(std::vector<TokenSequence> sequences, int64_t vocab_size, std::string name);

  int64_t size() const;  // number of sequences N
  int64_t vocab_size() const;
  int64_t num_tokens() const;  // total tokens
  int64_t length(int64_t index) const;
  TokenSequence get(int64_t index) const;
  const std::string& path() const;

 private:
  std::string path_;
  int64_t vocab_size_ = 0;
  std::vector<int64_t> offsets_;
  std::vector<int32_t> tokens_;  // small datasets are kept in memory
  std::vector<uint8_t> loss_mask_;
};

// What a batch holds, counted on the host while it is built: reading it never waits for a device.
struct BatchCounts {
  int64_t scored_tokens = 0;  // sum of loss_mask
  int64_t valid_tokens = 0;   // sum of valid
  int64_t scored_rows = 0;    // rows with a scored position
  int64_t valid_rows = 0;     // rows with a valid position
};

// A right-padded batch for next-token prediction. Notation: B sequences, S = longest length - 1.
struct TokenBatch {
  torch::Tensor input_ids;       // [B, S] int64, pad = 0
  torch::Tensor labels;          // [B, S] int64: input shifted left by one
  torch::Tensor loss_mask;       // [B, S] float: 1 where labels[b, s] is scored
  torch::Tensor valid;           // [B, S] float: 1 for real (non-pad) input positions
  std::vector<int64_t> indices;  // dataset index of each row
  BatchCounts counts;            // of the masks above; set by count_on_host before a device copy

  // The tensors on `device` (the model's); the same batch when they are there already.
  TokenBatch to(const torch::Device& device) const;
  // Sets `counts` from the masks, which must still be host tensors.
  void count_on_host();
};

// Collates sequences `indices` of `dataset` into one batch on `device` (built on the host, then
// copied). An empty index list gives a batch of one all-pad row with zero masks (ranks with no
// data still take part in collectives).
TokenBatch make_batch(const TokenDataset& dataset, const std::vector<int64_t>& indices,
                      const torch::Device& device = torch::kCPU);

}  // namespace uoe
