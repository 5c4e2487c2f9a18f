#include "common/check.h"
#include "parallel/grad_sync.h"
#include "parallel/process_groups.h"
#include "test_utils.h"

namespace uoe {
namespace {

std::vector<int> ep_sizes_for(int world) {
  std::vector<int> sizes;
  for (int ep = 1; ep <= world; ++ep) {
    if (world % ep == 0) sizes.push_back(ep);
  }
  return sizes;
}

TEST(ProcessGroups, LayoutMatchesDesign) {
  auto world = test::world();
  for (int ep : ep_sizes_for(world->size())) {
    auto groups = ProcessGroups::create(world, ep);
    const int r = world->rank();
    EXPECT_EQ(groups.ep_size(), ep);
    EXPECT_EQ(groups.ep_rank(), r % ep);
    EXPECT_EQ(groups.dp_rank(), r / ep);
    EXPECT_EQ(groups.dp_size(), world->size() / ep);
    EXPECT_EQ(groups.expert_dp().size(), world->size() / ep);
    // Members of the EP group are the contiguous ranks [dp_rank * ep, dp_rank * ep + ep).
    auto members = torch::empty({ep}, torch::kInt64);
    groups.ep().control->all_gather(members, torch::tensor({int64_t(r)}));
    for (int i = 0; i < ep; ++i) EXPECT_EQ(members[i].item<int64_t>(), (r / ep) * ep + i);
  }
}

// Expert grads filled with 2^rank: after sync each expert grad is the sum of 2^s over the ranks s
// of its expert-DP group (same ep_rank), which identifies the group exactly. Dense grads sum
// over the world: 2^W - 1.
// Every group has a control and a data channel over the same ranks in the same order; the
// control channel takes CPU tensors (MPI) whatever device the model runs on.
TEST(ProcessGroups, EveryGroupHasControlAndDataChannelsOverTheSameRanks) {
  auto world = test::world();
  for (int ep : ep_sizes_for(world->size())) {
    auto groups = ProcessGroups::create(world, ep);
    for (const ProcessGroup* group : {&groups.world(), &groups.ep(), &groups.expert_dp()}) {
      ASSERT_TRUE(group->control && group->data);
      EXPECT_EQ(group->control->backend_name(), "mpi");
      EXPECT_EQ(group->control->size(), group->data->size());
      EXPECT_EQ(group->control->rank(), group->data->rank());
      const auto mine = torch::tensor({int64_t(world->rank())});
      auto by_control = torch::empty({group->size()}, torch::kInt64);  // world ranks of members
      group->control->all_gather(by_control, mine);
      auto by_data = torch::empty_like(by_control);
      group->data->all_gather(by_data, mine);
      EXPECT_TRUE(torch::equal(by_control, by_data)) << group->data->name();
    }
  }
}

// parallel.backend: nccl: every group's data channel is NCCL over the same ranks in the same
// order (CUDA tensors), its control channel stays MPI (CPU tensors).
TEST(ProcessGroups, NcclDataChannelsMoveCudaTensorsOverTheControlChannelsRanks) {
  if (!test::nccl_world()) GTEST_SKIP() << "no NCCL backend in this build or no CUDA device";
  auto world = test::world();
  const torch::Device device = test::cuda_device();
  for (int ep : ep_sizes_for(world->size())) {
    auto groups = ProcessGroups::create(world, ep, int(device.index()));
    for (const ProcessGroup* group : {&groups.world(), &groups.ep(), &groups.expert_dp()}) {
      EXPECT_EQ(group->control->backend_name(), "mpi");
      EXPECT_EQ(group->data->backend_name(), "nccl");
      EXPECT_EQ(group->control->rank(), group->data->rank());
      const auto mine = torch::tensor({int64_t(world->rank())});
      auto by_control = torch::empty({group->size()}, torch::kInt64);
      group->control->all_gather(by_control, mine);
      auto by_data =
          torch::empty({group->size()}, torch::TensorOptions(torch::kInt64).device(device));
      group->data->all_gather(by_data, mine.to(device));
      EXPECT_TRUE(torch::equal(by_control, by_data.cpu())) << group->data->name();
    }
  }
}

TEST(ProcessGroups, ExpertDpGradientSyncSumsExactlyOverTheGroup) {
  auto world = test::world();
  const int r = world->rank(), n = world->size();
  for (int ep : ep_sizes_for(n)) {
    auto groups = ProcessGroups::create(world, ep);
    auto dense = torch::zeros({3}, torch::requires_grad());
    auto expert = torch::zeros({2, 2}, torch::requires_grad());
    auto unused_expert = torch::zeros({5}, torch::requires_grad());  // grad never set
    dense.mutable_grad() = torch::full({3}, std::pow(2.0, r), torch::kFloat64).to(torch::kFloat32);
    expert.mutable_grad() = torch::full({2, 2}, std::pow(2.0, r));
    sync_gradients({{dense}, {expert, unused_expert}}, groups);
    double expected_expert = 0;
    for (int s = r % ep; s < n; s += ep) expected_expert += std::pow(2.0, s);
    EXPECT_EQ(dense.grad()[0].item<float>(), float(std::pow(2.0, n) - 1)) << "ep=" << ep;
    EXPECT_EQ(expert.grad()[1][1].item<float>(), float(expected_expert)) << "ep=" << ep;
    ASSERT_TRUE(unused_expert.grad().defined());
    EXPECT_EQ(unused_expert.grad().abs().sum().item<float>(), 0.0f);
  }
}

TEST(ProcessGroups, RejectsEpSizeThatDoesNotDivideWorld) {
  auto world = test::world();
  const int bad = world->size() + 1;
  try {
    ProcessGroups::create(world, bad);
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("parallel.ep_size"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace uoe
