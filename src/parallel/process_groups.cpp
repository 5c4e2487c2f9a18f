#include "parallel/process_groups.h"

#include "common/check.h"
#include "parallel/mpi_communicator.h"
#include "parallel/nccl_communicator.h"

namespace uoe {

namespace {

// The group's two channels: `control` for both, or a NCCL data channel on CUDA device
// `nccl_device`, bootstrapped over `control` (an MPI communicator). Collective over `control`.
ProcessGroup make_group(CommunicatorPtr control, int nccl_device) {
  if (nccl_device < 0) return ProcessGroup::on(std::move(control));
  auto mpi = std::dynamic_pointer_cast<MpiCommunicator>(control);
  UOE_ASSERT(mpi != nullptr, "a NCCL data channel is bootstrapped over an MPI communicator, got ",
             control->backend_name());
  CommunicatorPtr data = create_nccl_communicator(std::move(mpi), nccl_device);
  data->set_name(control->name());
  return {std::move(control), std::move(data)};
}

}  // namespace

ProcessGroups ProcessGroups::create(CommunicatorPtr world, int ep_size, int nccl_device) {
  const int size = world->size();
  UOE_CHECK(ep_size >= 1, "parallel.ep_size must be >= 1, got ", ep_size);
  UOE_CHECK(size % ep_size == 0, "parallel.ep_size=", ep_size, " does not divide the world size ",
            size, " (number of MPI ranks); use an ep_size that divides it");
  ProcessGroups groups;
  const int rank = world->rank();
  auto ep = world->split(/*color=*/rank / ep_size, /*key=*/rank);
  auto expert_dp = world->split(/*color=*/rank % ep_size, /*key=*/rank);
  ep->set_name("ep group");
  expert_dp->set_name("expert_dp group");
  groups.world_ = make_group(std::move(world), nccl_device);
  groups.ep_ = make_group(std::move(ep), nccl_device);
  groups.expert_dp_ = make_group(std::move(expert_dp), nccl_device);
  return groups;
}

}  // namespace uoe
