#pragma once
// Cluster and workload description for `uoe plan` (configs/clusters/*.yaml). Every field has a
// default (an H100 DGX cluster, bf16, 4096-token sequences), so a file only states what differs.
#include <cstdint>
#include <string>
#include <vector>

namespace uoe {

struct LinkSpec {
  double bandwidth = 0;  // bytes/s per GPU and direction
  double latency = 0;    // seconds per message
};

struct ClusterSpec {
  std::string name = "h100-dgx";
  int64_t gpus_per_node = 8;
  double peak_flops = 989e12;           // per GPU, dense bf16 (fp32 for the cpu description)
  double mfu = 0.4;                     // fraction of peak_flops reached by the step's GEMMs
  double memory_gib = 80;               // per GPU
  double usable_memory_fraction = 0.9;  // the rest: allocator fragmentation, CUDA context
  double memory_bandwidth = 3.35e12;    // bytes/s per GPU: optimizer update, expert weight reads
  // Cores shared by the ranks of one node (CPU only; 0: one device per rank). With r ranks on a
  // node, each rank computes at peak_flops * min(1, compute_units_per_node / r).
  int64_t compute_units_per_node = 0;
  LinkSpec intra_node{450e9, 3e-6};    // NVLink
  LinkSpec inter_node{50e9, 10e-6};    // InfiniBand, one 400 Gb/s NIC per GPU
  double collective_overhead = 20e-6;  // seconds per collective call (launch + synchronisation)
  // CPU only: extra seconds each collective call waits, per rank beyond one per core, for the
  // node's other ranks to be scheduled (ranks outnumber compute_units_per_node).
  double oversubscription_wait = 0;
  std::vector<int64_t> gpu_counts = {8, 16, 32, 64, 128, 256, 512, 1024};
};

struct WorkloadSpec {
  std::string precision = "bf16";  // bf16 | fp32: weights and activations
  int64_t seq_len = 4096;
  int64_t sequences_per_rank = 1;  // micro-batch per rank and step (no gradient accumulation)
  int64_t seuf_target_layer =
      -1;  // layer of the unlearned expert; -1: first MoE layer (worst case)
  // SEUF: experts trained (top_m), each counted with a router (upper bound when they share a layer)
  int64_t seuf_experts = 1;
  std::string attention = "eager";  // eager (uoe: S x S probabilities kept) | fused (flash-style)
  bool recompute = false;           // activation checkpointing per layer (gradient_checkpointing)

  int64_t value_bytes() const { return precision == "bf16" ? 2 : 4; }
  int64_t tokens_per_rank() const { return seq_len * sequences_per_rank; }
};

struct PlanInput {
  ClusterSpec cluster;
  WorkloadSpec workload;
  bool detail = false;  // print every layout, not only the best per GPU count
  std::string output;   // optional JSON file with every layout
};

// `path` may be empty (defaults only); overrides are "dotted.key=value". Unknown keys and bad
// values are InputErrors naming the key.
PlanInput load_plan_input(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace uoe
