#include "parallel/process_groups.h"

#include "common/check.h"

namespace uoe {

ProcessGroups ProcessGroups::create(CommunicatorPtr world, int ep_size) {
  const int size = world->size();
  UOE_CHECK(ep_size >= 1, "parallel.ep_size must be >= 1, got ", ep_size);
  UOE_CHECK(size % ep_size == 0, "parallel.ep_size=", ep_size, " does not divide the world size ",
            size, " (number of MPI ranks); use an ep_size that divides it");
  ProcessGroups groups;
  const int rank = world->rank();
  groups.world_ = world;
  groups.ep_ = world->split(/*color=*/rank / ep_size, /*key=*/rank);
  groups.expert_dp_ = world->split(/*color=*/rank % ep_size, /*key=*/rank);
  groups.ep_->set_name("ep group");
  groups.expert_dp_->set_name("expert_dp group");
  return groups;
}

}  // namespace uoe
