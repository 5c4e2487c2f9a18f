#include "test_utils.h"

#include <unistd.h>

#include <filesystem>

#include "parallel/nccl_communicator.h"

namespace uoe::test {

std::shared_ptr<MpiCommunicator> world() { return MpiCommunicator::world(); }

torch::Device cuda_device() {
  const int count = static_cast<int>(torch::cuda::device_count());
  return torch::Device(torch::kCUDA, count > 0 ? world()->rank() % count : 0);
}

CommunicatorPtr nccl_world() {
  static const CommunicatorPtr comm = [] {
    const bool usable = nccl_available() && torch::cuda::is_available();
    return usable ? create_nccl_communicator(world(), cuda_device().index()) : nullptr;
  }();
  return comm;
}

double relative_error(const torch::Tensor& actual, const torch::Tensor& expected) {
  auto a = actual.detach().to(torch::kFloat64);
  auto e = expected.detach().to(torch::kFloat64);
  if (a.numel() == 0 && e.numel() == 0) return 0.0;
  const double scale = std::max(e.abs().max().item<double>(), 1e-30);
  return (a - e).abs().max().item<double>() / scale;
}

void expect_close(const torch::Tensor& actual, const torch::Tensor& expected, double tolerance,
                  const std::string& what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const double err = relative_error(actual, expected);
  EXPECT_LE(err, tolerance) << what << ": relative error " << err << " (max |diff| "
                            << (actual.detach().to(torch::kFloat64) -
                                expected.detach().to(torch::kFloat64))
                                   .abs()
                                   .max()
                                   .item<double>()
                            << ")";
}

torch::Tensor seeded_randn(at::IntArrayRef shape, uint64_t seed, double scale,
                           torch::ScalarType dtype) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto t = torch::empty(shape, torch::kFloat64);
  t.normal_(0.0, scale, gen);
  return t.to(dtype);
}

void SharedDirTest::SetUp() {
  world_ = world();
  auto pid = torch::tensor({int64_t(::getpid())});
  world_->broadcast(pid, 0);
  dir_ = c10::str(::testing::TempDir(), prefix_, pid.item<int64_t>(), "_",
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
  if (world_->rank() == 0) std::filesystem::create_directories(dir_);
  world_->barrier();
}

void SharedDirTest::TearDown() {
  world_->barrier();
  if (world_->rank() == 0) std::filesystem::remove_all(dir_);
}

}  // namespace uoe::test
