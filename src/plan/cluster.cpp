#include "plan/cluster.h"

#include "common/check.h"
#include "common/config_node.h"

namespace uoe {
namespace {

double positive(ConfigNode& node, const std::string& key, double default_value) {
  const double value = node.get<double>(key, default_value);
  UOE_CHECK(value > 0, "cluster key '", node.dotted(key), "' must be > 0, got ", value);
  return value;
}

LinkSpec read_link(ConfigNode node, const LinkSpec& defaults) {
  LinkSpec link;
  link.bandwidth = positive(node, "bandwidth", defaults.bandwidth);
  link.latency = node.get<double>("latency", defaults.latency);
  UOE_CHECK(link.latency >= 0, "cluster key '", node.dotted("latency"), "' must be >= 0");
  node.finish();
  return link;
}

}  // namespace

PlanInput load_plan_input(const std::string& path, const std::vector<std::string>& overrides) {
  YAML::Node yaml(YAML::NodeType::Map);
  if (path.empty()) {
    apply_overrides(yaml, overrides);
  } else {
    yaml = load_yaml_with_overrides(path, overrides);
  }
  UOE_CHECK(yaml.IsMap(), "cluster description ", path, ": expected a YAML mapping");
  ConfigNode root(yaml, YAML::Node(YAML::NodeType::Map), "");
  PlanInput input;
  ClusterSpec& c = input.cluster;
  const ClusterSpec defaults;
  c.name = root.get<std::string>("name", defaults.name);
  c.gpus_per_node = root.get<int64_t>("gpus_per_node", defaults.gpus_per_node);
  UOE_CHECK(c.gpus_per_node > 0, "cluster key 'gpus_per_node' must be > 0");
  c.peak_flops = positive(root, "peak_flops", defaults.peak_flops);
  c.mfu = positive(root, "mfu", defaults.mfu);
  UOE_CHECK(c.mfu <= 1, "cluster key 'mfu' must be <= 1, got ", c.mfu);
  c.memory_gib = positive(root, "memory_gib", defaults.memory_gib);
  c.usable_memory_fraction =
      positive(root, "usable_memory_fraction", defaults.usable_memory_fraction);
  UOE_CHECK(c.usable_memory_fraction <= 1, "cluster key 'usable_memory_fraction' must be <= 1");
  c.memory_bandwidth = positive(root, "memory_bandwidth", defaults.memory_bandwidth);
  c.compute_units_per_node = root.get<int64_t>("compute_units_per_node", 0);
  UOE_CHECK(c.compute_units_per_node >= 0, "cluster key 'compute_units_per_node' must be >= 0");
  c.intra_node = read_link(root.child("intra_node"), defaults.intra_node);
  c.inter_node = read_link(root.child("inter_node"), defaults.inter_node);
  c.collective_overhead = root.get<double>("collective_overhead", defaults.collective_overhead);
  UOE_CHECK(c.collective_overhead >= 0, "cluster key 'collective_overhead' must be >= 0");
  c.oversubscription_wait =
      root.get<double>("oversubscription_wait", defaults.oversubscription_wait);
  UOE_CHECK(c.oversubscription_wait >= 0, "cluster key 'oversubscription_wait' must be >= 0");
  c.gpu_counts = root.get<std::vector<int64_t>>("gpu_counts", defaults.gpu_counts);
  UOE_CHECK(!c.gpu_counts.empty(), "cluster key 'gpu_counts' must not be empty");
  for (int64_t n : c.gpu_counts) UOE_CHECK(n > 0, "cluster key 'gpu_counts' must hold counts > 0");

  ConfigNode w = root.child("workload");
  WorkloadSpec& work = input.workload;
  work.precision = w.get<std::string>("precision", work.precision);
  UOE_CHECK(work.precision == "bf16" || work.precision == "fp32",
            "cluster key 'workload.precision' must be bf16 or fp32, got '", work.precision, "'");
  work.seq_len = w.get<int64_t>("seq_len", work.seq_len);
  UOE_CHECK(work.seq_len > 0, "cluster key 'workload.seq_len' must be > 0");
  work.sequences_per_rank = w.get<int64_t>("sequences_per_rank", work.sequences_per_rank);
  UOE_CHECK(work.sequences_per_rank > 0, "cluster key 'workload.sequences_per_rank' must be > 0");
  work.seuf_target_layer = w.get<int64_t>("seuf_target_layer", work.seuf_target_layer);
  work.seuf_experts = w.get<int64_t>("seuf_experts", work.seuf_experts);
  UOE_CHECK(work.seuf_experts > 0, "cluster key 'workload.seuf_experts' must be > 0");
  work.attention = w.get<std::string>("attention", work.attention);
  UOE_CHECK(work.attention == "eager" || work.attention == "fused",
            "cluster key 'workload.attention' must be eager or fused, got '", work.attention, "'");
  work.recompute = w.get<bool>("recompute", work.recompute);
  w.finish();
  input.detail = root.get<bool>("detail", false);
  input.output = root.get<std::string>("output", "");
  root.finish();
  return input;
}

}  // namespace uoe
