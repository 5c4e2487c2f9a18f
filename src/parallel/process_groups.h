#pragma once
// Process groups of the expert-parallel layout (DESIGN.md section 3).
//
// World of W ranks = EP x DP, rank = dp_rank * ep_size + ep_rank.
//   ep group        : ranks with the same dp_rank (contiguous); together they hold all E experts.
//   expert_dp group : ranks with the same ep_rank; they hold the same experts.
//   dp group        : the whole world; every rank is a data-parallel replica for dense parameters.
#include "parallel/communicator.h"

namespace uoe {

class ProcessGroups {
 public:
  // Collective over `world`. Throws InputError naming parallel.ep_size when it does not divide W.
  static ProcessGroups create(CommunicatorPtr world, int ep_size);

  const CommunicatorPtr& world() const { return world_; }
  const CommunicatorPtr& dp() const { return world_; }
  const CommunicatorPtr& ep() const { return ep_; }
  const CommunicatorPtr& expert_dp() const { return expert_dp_; }

  int rank() const { return world_->rank(); }
  int world_size() const { return world_->size(); }
  int ep_size() const { return ep_->size(); }
  int ep_rank() const { return ep_->rank(); }
  int dp_size() const { return world_size() / ep_size(); }
  int dp_rank() const { return rank() / ep_size(); }

 private:
  CommunicatorPtr world_, ep_, expert_dp_;
};

}  // namespace uoe
