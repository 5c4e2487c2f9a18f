#pragma once
// Shared helpers for uoe tests.
#include <algorithm>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/check.h"
#include "expect_input_error.h"
#include "parallel/mpi_communicator.h"

namespace uoe::test {

std::shared_ptr<MpiCommunicator> world();

// GPU tests: this rank's CUDA device (world rank % device count) and the NCCL communicator over
// the world on it, created once. Null when this build has no NCCL backend or the machine no CUDA
// device: such tests then skip.
CommunicatorPtr nccl_world();
torch::Device cuda_device();

// max |a - b| / max(max |b|, tiny): one relative error for a whole tensor.
double relative_error(const torch::Tensor& actual, const torch::Tensor& expected);

// EXPECTs relative_error <= tolerance and prints the largest difference on failure.
void expect_close(const torch::Tensor& actual, const torch::Tensor& expected, double tolerance,
                  const std::string& what);

// Seeded tensor with the same values on every rank: normal(0, scale).
torch::Tensor seeded_randn(at::IntArrayRef shape, uint64_t seed, double scale = 1.0,
                           torch::ScalarType dtype = torch::kFloat32);

// A directory shared by all ranks: <TempDir()><prefix><rank 0's pid>_<test name>, created by rank
// 0 before the test and removed by it after.
class SharedDirTest : public ::testing::Test {
 protected:
  explicit SharedDirTest(std::string prefix) : prefix_(std::move(prefix)) {}
  void SetUp() override;
  void TearDown() override;

  std::shared_ptr<MpiCommunicator> world_;
  std::string dir_;

 private:
  std::string prefix_;
};

// Test names of suites instantiated over fixture folders ("hf5/mixtral" -> "hf5_mixtral").
struct FixtureTestName {
  template <typename Param>
  std::string operator()(const ::testing::TestParamInfo<Param>& info) const {
    std::string name = info.param;
    std::replace(name.begin(), name.end(), '/', '_');
    return name;
  }
};

}  // namespace uoe::test
