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
  // Both channels of each group are `world`'s backend (the one place a data channel on another
  // backend would be made).
  auto ep = world->split(/*color=*/rank / ep_size, /*key=*/rank);
  auto expert_dp = world->split(/*color=*/rank % ep_size, /*key=*/rank);
  ep->set_name("ep group");
  expert_dp->set_name("expert_dp group");
  groups.world_ = ProcessGroup::on(std::move(world));
  groups.ep_ = ProcessGroup::on(std::move(ep));
  groups.expert_dp_ = ProcessGroup::on(std::move(expert_dp));
  return groups;
}

}  // namespace uoe
