// GoogleTest main for MPI tests: every rank runs every test; rank 0 prints the usual report, the
// other ranks print only their failures (tagged with the rank); the exit code is agreed over the
// world, so a failure on any rank fails the test on all ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

#include "common/cpu_runtime.h"
#include "common/log.h"
#include "parallel/mpi_communicator.h"

namespace {

class RankFailurePrinter : public ::testing::EmptyTestEventListener {
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "%s %s:%d: failure\n%s\n", uoe::rank_tag().c_str(),
                 result.file_name() ? result.file_name() : "?", result.line_number(),
                 result.summary());
  }
};

}  // namespace

int main(int argc, char** argv) {
  uoe::MpiRuntime mpi(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  uoe::configure_cpu_runtime(uoe::MpiRuntime::local_size());
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter);
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && failed) std::fprintf(stderr, "a test failed on at least one rank\n");
  return failed;
}
