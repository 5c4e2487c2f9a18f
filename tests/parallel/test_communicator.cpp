// Collectives against closed-form values: every input is tagged with its rank. The same tests run
// on the MPI backend (CPU tensors), on the MPI backend staging CPU tensors through separate host
// buffers (the code path of CUDA tensors on MPI, without the device copies), on the MPI backend
// with CUDA tensors (host staging; skipped without a GPU) and on the NCCL backend (CUDA tensors;
// skipped without a GPU).
#include "parallel/communicator.h"
#include "parallel/mpi_communicator.h"
#include "test_utils.h"

namespace uoe {
namespace {

class CommunicatorTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "mpi" || GetParam() == "mpi_staged") {
      auto world = test::world();
      world->set_stage_cpu_tensors(GetParam() == "mpi_staged");
      comm_ = world;
      device_ = torch::kCPU;
      return;
    }
    if (GetParam() == "mpi_cuda") {
      if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: MPI host staging untested";
      comm_ = test::world();
      device_ = test::cuda_device();
      return;
    }
    comm_ = test::nccl_world();
    if (!comm_) GTEST_SKIP() << "no NCCL backend in this build or no CUDA device";
    device_ = test::cuda_device();
  }
  // A CPU-built tensor on the backend's device.
  torch::Tensor on(const torch::Tensor& t) const { return t.to(device_); }
  torch::TensorOptions options(torch::ScalarType dtype = torch::kFloat32) const {
    return torch::TensorOptions().dtype(dtype).device(device_);
  }

  CommunicatorPtr comm_;
  torch::Device device_ = torch::kCPU;
};

TEST_P(CommunicatorTest, AllReduceSumMaxMin) {
  const int r = comm_->rank(), n = comm_->size();
  auto t = on(torch::tensor({double(r), double(r * r), 1.0}, torch::kFloat64));
  comm_->all_reduce(t, ReduceOp::kSum);
  EXPECT_EQ(t[0].item<double>(), n * (n - 1) / 2.0);
  EXPECT_EQ(t[1].item<double>(), (n - 1) * n * (2 * n - 1) / 6.0);
  EXPECT_EQ(t[2].item<double>(), n);

  auto m = on(torch::tensor({int64_t(r), int64_t(-r)}, torch::kInt64));
  comm_->all_reduce(m, ReduceOp::kMax);
  EXPECT_EQ(m[0].item<int64_t>(), n - 1);
  EXPECT_EQ(m[1].item<int64_t>(), 0);
  auto lo = on(torch::tensor({float(r + 3)}));
  comm_->all_reduce(lo, ReduceOp::kMin);
  EXPECT_EQ(lo.item<float>(), 3.0f);
}

TEST_P(CommunicatorTest, AllReduceBFloat16) {
  auto t = torch::full({4}, 1.0 + comm_->rank(), options(torch::kBFloat16));
  comm_->all_reduce(t, ReduceOp::kSum);
  const int n = comm_->size();
  EXPECT_EQ(t.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(t[0].item<float>(), float(n * (n + 1) / 2));
}

// Rank r sends (p + 1) rows to rank p, each row [r, p, i, i] for i-th row; rank p receives r+...
// rows.
TEST_P(CommunicatorTest, AllToAllUnevenSplits) {
  const int r = comm_->rank(), n = comm_->size();
  std::vector<int64_t> send(n), recv(n);
  std::vector<float> values;
  for (int p = 0; p < n; ++p) {
    send[p] = (p + r) % 3;  // includes zero-row messages
    for (int64_t i = 0; i < send[p]; ++i)
      values.insert(values.end(), {float(r), float(p), float(i)});
  }
  for (int s = 0; s < n; ++s) recv[s] = (r + s) % 3;
  auto input = on(torch::tensor(values).view({-1, 3}));
  int64_t rows = 0;
  for (auto c : recv) rows += c;
  auto output = torch::empty({rows, 3}, options());
  comm_->all_to_all_single(output, input, recv, send);
  output = output.cpu();
  int64_t row = 0;
  for (int s = 0; s < n; ++s) {
    for (int64_t i = 0; i < recv[s]; ++i, ++row) {
      EXPECT_EQ(output[row][0].item<float>(), s) << "row " << row;
      EXPECT_EQ(output[row][1].item<float>(), r) << "row " << row;
      EXPECT_EQ(output[row][2].item<float>(), i) << "row " << row;
    }
  }
}

// Two rows to every rank, sent and received in reverse order (the fused permutations), while
// independent work runs between start and wait: rows from rank s arrive as s*100 + local index.
TEST_P(CommunicatorTest, StartedRowExchangeOverlapsIndependentWork) {
  const int r = comm_->rank(), n = comm_->size();
  const int64_t rows = 2 * n;
  auto input =
      on(torch::arange(rows, torch::kFloat32).add(100.0 * r).view({rows, 1}).repeat({1, 4}));
  auto reversed = on(torch::arange(rows - 1, -1, -1, torch::kInt64));
  const std::vector<int64_t> splits(n, 2);
  auto output = torch::full({rows, 4}, -1.0f, options());
  auto busy = torch::ones({256, 256}, options());
  auto pending = comm_->start_all_to_all_rows(output, input, splits, splits, reversed, reversed);
  for (int i = 0; i < 4; ++i) busy = torch::mm(busy, busy) / 256.0;  // stays all ones
  pending->wait();
  EXPECT_TRUE(torch::equal(busy.cpu(), torch::ones({256, 256})));
  auto got = output.cpu();
  for (int64_t j = 0; j < rows; ++j) {
    const int64_t arrival = rows - 1 - j;      // received rows land reversed
    const int64_t source = arrival / 2;        // two rows from each rank, in rank order
    const int64_t sent = 2 * r + arrival % 2;  // the source's send position for this rank
    const float expected = 100.0f * source + float(rows - 1 - sent);  // sent rows are reversed
    EXPECT_EQ(got[j][0].item<float>(), expected) << "row " << j;
    EXPECT_TRUE(torch::equal(got[j], torch::full({4}, expected))) << "row " << j;
  }
}

TEST_P(CommunicatorTest, AllToAllEqualSplitsInt64) {
  const int r = comm_->rank(), n = comm_->size();
  auto input = torch::arange(n, options(torch::kInt64)) + 100 * r;  // element p goes to rank p
  auto output = torch::empty({n}, options(torch::kInt64));
  comm_->all_to_all_single(output, input, {}, {});
  for (int s = 0; s < n; ++s) EXPECT_EQ(output[s].item<int64_t>(), 100 * s + r);
}

TEST_P(CommunicatorTest, AllGatherAndBroadcast) {
  const int r = comm_->rank(), n = comm_->size();
  auto mine = torch::full({2}, float(10 * r), options());
  auto all = torch::empty({2 * n}, options());
  comm_->all_gather(all, mine);
  for (int s = 0; s < n; ++s) EXPECT_EQ(all[2 * s + 1].item<float>(), 10.0f * s);

  const int root = n - 1;
  auto b = torch::full({3}, r == root ? 7.0 : -1.0, options(torch::kFloat64));
  comm_->broadcast(b, root);
  EXPECT_EQ(b.sum().item<double>(), 21.0);
  comm_->barrier();
}

TEST_P(CommunicatorTest, SplitFormsGroupsByColour) {
  const int r = comm_->rank(), n = comm_->size();
  auto odd_even = comm_->split(r % 2, r);
  EXPECT_EQ(odd_even->size(), (n - r % 2 + 1) / 2);
  EXPECT_EQ(odd_even->rank(), r / 2);
  auto t = on(torch::tensor({int64_t(r)}));
  odd_even->all_reduce(t, ReduceOp::kSum);
  int64_t expected = 0;
  for (int s = r % 2; s < n; s += 2) expected += s;
  EXPECT_EQ(t.item<int64_t>(), expected);
}

INSTANTIATE_TEST_SUITE_P(Backends, CommunicatorTest,
                         ::testing::Values("mpi", "mpi_staged", "mpi_cuda", "nccl"),
                         [](const auto& info) { return info.param; });

TEST(Communicator, AllReduceSumHelper) {
  auto comm = test::world();
  EXPECT_EQ(all_reduce_sum(*comm, comm->rank() + 1), comm->size() * (comm->size() + 1) / 2);
}

}  // namespace
}  // namespace uoe
