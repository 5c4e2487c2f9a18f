// NodeSharedMemory: what one rank writes before a fence, every rank reads after it; regions stay
// in place until one of them grows (the dispatcher's exchanges rely on it: see
// moe/shared_memory_dispatch.cpp).

#include "parallel/mpi_communicator.h"
#include "parallel/node_shared_memory.h"
#include "test_utils.h"

namespace uoe {
namespace {

TEST(NodeSharedMemory, WritesBeforeAFenceAreSeenByEveryRankAfterIt) {
  auto world = test::world();
  NodeSharedMemory* memory = world->node_shared_memory();
  ASSERT_NE(memory, nullptr) << "mpirun -np N on one node: the ranks share it";
  const int ranks = world->size(), rank = world->rank();
  constexpr int64_t kPerRank = 1000;  // int64 values in each rank's slot
  for (int round = 0; round < 3; ++round) {
    memory->reserve({ranks * kPerRank * int64_t(sizeof(int64_t))});
    auto* values = reinterpret_cast<int64_t*>(memory->region(0));
    for (int64_t i = 0; i < kPerRank; ++i)
      values[rank * kPerRank + i] = 1000000 * round + 1000 * rank + i;
    memory->fence();
    for (int r = 0; r < ranks; ++r) {
      for (int64_t i = 0; i < kPerRank; i += 97) {
        ASSERT_EQ(values[r * kPerRank + i], 1000000 * round + 1000 * r + i) << "rank " << r;
      }
    }
    memory->fence();  // nobody reads this round's values once the next round writes
  }
}

TEST(NodeSharedMemory, RegionsStayInPlaceUntilOneGrows) {
  auto world = test::world();
  NodeSharedMemory* memory = world->node_shared_memory();
  ASSERT_NE(memory, nullptr);
  memory->reserve({4096, 100, 8192});
  const std::vector<char*> before = {memory->region(0), memory->region(1), memory->region(2)};
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(before[i]) % 64, 0u) << "region " << i;
  }
  EXPECT_GE(before[1] - before[0], 4096);
  EXPECT_GE(before[2] - before[1], 100);
  memory->reserve({10, 0, 8192});  // smaller or equal: nothing moves
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(memory->region(i), before[i]) << i;
  const int64_t grown = memory->bytes() * 2;
  memory->reserve({10, grown, 10});  // region 1 grows: the block is replaced
  EXPECT_GE(memory->region(2) - memory->region(1), grown);
  EXPECT_GE(memory->bytes(), grown + 4096 + 8192);
}

// A block /dev/shm cannot hold is refused on every rank with one clear error (no SIGBUS at first
// touch, no rank left waiting), and the current block stays usable.
TEST(NodeSharedMemory, TooLargeABlockIsRefusedOnEveryRank) {
  auto world = test::world();
  NodeSharedMemory* memory = world->node_shared_memory();
  ASSERT_NE(memory, nullptr);
  memory->reserve({4096});
  char* before = memory->region(0);
  const int64_t huge = int64_t(1) << 50;  // 1 PiB
  try {
    memory->reserve({huge});
    ADD_FAILURE() << "a 1 PiB block was accepted";
  } catch (const CollectiveError& e) {
    EXPECT_EQ(e.code, 2);
    EXPECT_NE(std::string(e.what()).find("parallel.shared_memory_dispatch: false"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(memory->region(0), before);
  if (world->rank() == 0) memory->region(0)[0] = 7;
  memory->fence();
  EXPECT_EQ(memory->region(0)[0], 7);
}

}  // namespace
}  // namespace uoe
