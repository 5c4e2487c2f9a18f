#pragma once
// Process groups of the expert-parallel layout (DESIGN.md section 3), each with two channels.
//
// World of W ranks = EP x DP, rank = dp_rank * ep_size + ep_rank.
//   ep group        : ranks with the same dp_rank (contiguous); together they hold all E experts.
//   expert_dp group : ranks with the same ep_rank; they hold the same experts.
//   dp group        : the whole world; every rank is a data-parallel replica for dense parameters.
//
// Every group has a control channel and a data channel, chosen by what travels (as c10d's
// ProcessGroup hands each tensor to the backend of its device):
//   control : small CPU tensors the host builds to agree on something: counts (tokens per expert,
//             scored tokens, loss and metric sums), flags and stop agreement, input hashes and
//             error agreement, barriers. Always CPU tensors, whatever device the model runs on.
//   data    : tensors on the model's device: tokens and activations (dispatch and combine),
//             gradients (all-reduce), parameters (broadcast).
// With parallel.backend: mpi both channels of a group are the same MPI communicator, so
// collectives keep the order of the calls (CUDA tensors are staged through host memory there).
// With parallel.backend: nccl (device cuda) the data channel is a NCCL communicator over the same
// ranks, bootstrapped over the control channel; nothing else changes. A caller never moves data
// to the CPU for the control channel or control values to the device for the data channel.
#include "parallel/communicator.h"

namespace uoe {

struct ProcessGroup {
  ProcessGroup() = default;
  ProcessGroup(std::nullptr_t) {}  // no group (a model without expert parallelism)
  ProcessGroup(CommunicatorPtr control_channel, CommunicatorPtr data_channel)
      : control(std::move(control_channel)), data(std::move(data_channel)) {}

  // Both channels on one communicator (MPI, CPU tensors).
  static ProcessGroup on(CommunicatorPtr comm) { return {comm, comm}; }

  bool defined() const { return data != nullptr; }
  int rank() const { return data ? data->rank() : 0; }
  int size() const { return data ? data->size() : 1; }

  CommunicatorPtr control;  // small CPU tensors: counts, flags, hashes, agreement, barriers
  CommunicatorPtr data;     // tensors on the model's device: tokens, activations, gradients
};

class ProcessGroups {
 public:
  // Collective over `world`. Throws InputError naming parallel.ep_size when it does not divide W.
  // nccl_device >= 0: every group's data channel is a NCCL communicator on that CUDA device
  // (`world` must then be an MPI communicator); -1: the data channels are the control channels.
  static ProcessGroups create(CommunicatorPtr world, int ep_size, int nccl_device = -1);

  const ProcessGroup& world() const { return world_; }
  const ProcessGroup& dp() const { return world_; }
  const ProcessGroup& ep() const { return ep_; }
  const ProcessGroup& expert_dp() const { return expert_dp_; }

  int rank() const { return world_.rank(); }
  int world_size() const { return world_.size(); }
  int ep_size() const { return ep_.size(); }
  int ep_rank() const { return ep_.rank(); }
  int dp_size() const { return world_size() / ep_size(); }
  int dp_rank() const { return rank() / ep_size(); }

 private:
  ProcessGroup world_, ep_, expert_dp_;
};

}  // namespace uoe
