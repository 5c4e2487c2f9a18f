#include "plan/planner.h"

#include <algorithm>

#include "common/check.h"
#include "model/parameter_count.h"

namespace uoe {
namespace {

constexpr double kGradBytes = 4;  // gradients and their all-reduce in fp32
constexpr double kAdamBytes = 8;  // AdamW m and v in fp32

// Per-layer sizes of the model, in elements, and its FLOPs per token.
struct LayerShapes {
  double attention = 0;   // parameters of one attention block
  double router = 0;      // one MoE layer's router
  double shared = 0;      // one MoE layer's shared experts
  double per_expert = 0;  // one routed expert
  double dense_mlp = 0;   // one dense feed-forward block
  double routed_total = 0;
  double total = 0;
};

LayerShapes layer_shapes(const ModelConfig& m) {
  const ParameterCounts counts = count_parameters(m);
  const double layers = double(m.num_hidden_layers);
  const double moe_layers = double(m.num_moe_layers());
  const double dense_layers = layers - moe_layers;
  LayerShapes s;
  s.attention = double(counts.attention) / layers;
  s.router = moe_layers > 0 ? double(counts.routers) / moe_layers : 0;
  s.shared = moe_layers > 0 ? double(counts.shared_experts) / moe_layers : 0;
  s.per_expert = double(counts.per_expert);
  s.dense_mlp = dense_layers > 0 ? double(counts.dense_mlp) / dense_layers : 0;
  s.routed_total = double(counts.routed_experts);
  s.total = double(counts.total());
  return s;
}

double value_head_dim(const ModelConfig& m) {
  return m.is_mla() ? m.v_head_dim : m.resolved_head_dim();
}

// Forward FLOPs per token of layer `l`: 2 per weight used (K routed experts) plus the full S x S
// score and value products (uoe computes the whole matrix; no causal skipping).
double layer_forward_flops(const ModelConfig& m, const LayerShapes& s, int64_t l, double seq) {
  const double heads = double(m.num_attention_heads);
  double flops = 2 * s.attention + 2 * seq * heads * double(m.qk_head_dim() + value_head_dim(m));
  if (m.is_moe_layer(l)) {
    flops += 2 * (s.router + s.shared + double(m.num_experts_per_tok) * s.per_expert);
  } else {
    flops += 2 * s.dense_mlp;
  }
  return flops;
}

// Bytes per token that layer `l` keeps for backward. Eager attention (uoe today) also keeps the
// S x S probabilities: fp32 from the softmax, plus their bf16 copy for the value product.
double layer_activation_bytes(const ModelConfig& m, const WorkloadSpec& w, int64_t l) {
  const double h = double(m.hidden_size), heads = double(m.num_attention_heads);
  const double kv_heads = m.is_mla() ? heads : double(m.num_key_value_heads);
  const double qk = double(m.qk_head_dim()), v = value_head_dim(m), b = double(w.value_bytes());
  double values =
      2 * h + heads * qk + kv_heads * (qk + v) + heads * v + double(m.kv_lora_rank + m.q_lora_rank);
  if (m.is_moe_layer(l)) {
    const double k = double(m.num_experts_per_tok), f = double(m.moe_intermediate_size);
    values += 2 * double(m.num_experts) + k * (3 * h + 3 * f);
    if (m.shared_expert_intermediate_size > 0)
      values += h + 3 * double(m.shared_expert_intermediate_size);
  } else {
    values += 2 * h + 3 * double(m.intermediate_size);
  }
  const double scores =
      w.attention == "eager" ? heads * double(w.seq_len) * (4 + (b < 4 ? b : 0)) : 0;
  return b * values + scores;
}

// Bytes per token saved for backward by layers first..L-1. With recompute only each layer's input
// is kept, plus one layer's full activations while it is recomputed, plus on each MoE layer under
// EP > 1 the rows its exchanges delivered (model/recompute.h: [T*K, H] dispatched and [T*K, H]
// combined per token through all-to-all; fewer through node-shared memory).
double saved_activation_bytes(const ModelConfig& m, const WorkloadSpec& w, int64_t first,
                              int64_t ep) {
  double sum = 0, largest = 0, moe_layers = 0;
  for (int64_t l = first; l < m.num_hidden_layers; ++l) {
    const double bytes = layer_activation_bytes(m, w, l);
    sum += bytes;
    largest = std::max(largest, bytes);
    moe_layers += m.is_moe_layer(l) ? 1 : 0;
  }
  if (!w.recompute) return sum;
  const double h = double(m.hidden_size), b = double(w.value_bytes());
  const double exchanged_rows = ep > 1 ? 2 * double(m.num_experts_per_tok) : 0;
  return double(m.num_hidden_layers - first) * b * h + moe_layers * exchanged_rows * b * h +
         largest;
}

int64_t seuf_target_layer(const ModelConfig& m, const WorkloadSpec& w) {
  const auto moe = m.moe_layer_indices();
  UOE_CHECK(!moe.empty(), "the model has no MoE layer to plan SEUF for");
  if (w.seuf_target_layer < 0) return moe.front();
  UOE_CHECK(m.is_moe_layer(w.seuf_target_layer) && w.seuf_target_layer < m.num_hidden_layers,
            "cluster key 'workload.seuf_target_layer': layer ", w.seuf_target_layer,
            " is not an MoE layer of the model");
  return w.seuf_target_layer;
}

// Share of one device's compute (and memory bandwidth) a rank gets: < 1 when the ranks of a node
// share fewer cores (CPU).
double device_share(const ClusterSpec& c, int64_t world) {
  if (c.compute_units_per_node == 0) return 1.0;
  const double ranks_on_node = double(std::min(world, c.gpus_per_node));
  return std::min(1.0, double(c.compute_units_per_node) / ranks_on_node);
}

// Fixed cost of one collective call: the cluster's launch + synchronisation cost, plus on an
// oversubscribed CPU node the wait for the other ranks to be scheduled.
double per_call_cost(const ClusterSpec& c, int64_t world) {
  if (c.compute_units_per_node == 0) return c.collective_overhead;
  const double ranks_on_node = double(std::min(world, c.gpus_per_node));
  const double extra_ranks_per_unit =
      std::max(0.0, ranks_on_node / double(c.compute_units_per_node) - 1);
  return c.collective_overhead + c.oversubscription_wait * extra_ranks_per_unit;
}

// One all-to-all in which each rank of a group of `group` consecutive ranks sends `bytes` split
// evenly over the group: intra- and inter-node parts proceed in parallel, one message per peer,
// plus the fixed cost of one collective call.
double all_to_all_time(const ClusterSpec& c, int64_t group, double bytes, double call_cost) {
  if (group <= 1) return 0;
  const double on_node = double(std::min(group, c.gpus_per_node));
  const double intra_peers = on_node - 1, inter_peers = double(group) - on_node;
  const double per_peer = bytes / double(group);
  return std::max(per_peer * intra_peers / c.intra_node.bandwidth,
                  per_peer * inter_peers / c.inter_node.bandwidth) +
         intra_peers * c.intra_node.latency + inter_peers * c.inter_node.latency + call_cost;
}

// Ring all-reduce of `bytes` over `group` ranks whose first and last members are `span` ranks
// apart: the slowest link of the ring sets the pace; plus the fixed cost of one collective call.
double all_reduce_time(const ClusterSpec& c, int64_t group, int64_t span, double bytes,
                       double call_cost) {
  if (group <= 1 || bytes == 0) return 0;
  const LinkSpec& link = span >= c.gpus_per_node ? c.inter_node : c.intra_node;
  const double n = double(group);
  return 2 * (n - 1) / n * bytes / link.bandwidth + 2 * (n - 1) * link.latency + call_cost;
}

}  // namespace

const char* method_name(PlanMethod method) { return method == PlanMethod::kSeuf ? "seuf" : "full"; }

nlohmann::json LayoutPlan::to_json() const {
  return {{"method", method_name(method)},
          {"gpus", layout.world()},
          {"ep", layout.ep},
          {"dp", layout.dp},
          {"fits", fits},
          {"memory_bytes",
           {{"weights", memory.weights},
            {"trainable_elements", memory.trainable},
            {"grads_and_optimizer", memory.optimizer},
            {"activations", memory.activations},
            {"comm_buffers", memory.comm_buffers},
            {"total", memory.total()}}},
          {"time_s",
           {{"compute", time.compute},
            {"weight_streaming", time.weight_streaming},
            {"all_to_all", time.all_to_all},
            {"grad_sync", time.grad_sync},
            {"optimizer", time.optimizer},
            {"total", time.total()}}},
          {"flops_per_rank", time.flops},
          {"collective_calls", time.collective_calls}};
}

LayoutPlan plan_layout(const ModelConfig& m, const PlanInput& input, const Layout& layout,
                       PlanMethod method) {
  const ClusterSpec& c = input.cluster;
  const WorkloadSpec& w = input.workload;
  UOE_CHECK(layout.ep > 0 && layout.dp > 0 && m.num_experts % layout.ep == 0,
            "expert-parallel size ", layout.ep, " does not divide the ", m.num_experts, " experts");
  const LayerShapes s = layer_shapes(m);
  const bool full = method == PlanMethod::kFull;
  const int64_t target = full ? 0 : seuf_target_layer(m, w);  // full: a model may have no MoE
  const double b = double(w.value_bytes());
  const double tokens = double(w.tokens_per_rank()), seq = double(w.seq_len);
  const double ep = double(layout.ep), k = double(m.num_experts_per_tok), h = double(m.hidden_size);
  const double vocab = double(m.vocab_size);
  const int64_t world = layout.world();

  LayoutPlan plan;
  plan.layout = layout;
  plan.method = method;
  MemoryEstimate& mem = plan.memory;
  const double dense_elements = s.total - s.routed_total;
  mem.weights = b * (dense_elements + s.routed_total / ep);
  mem.trainable = full ? dense_elements + s.routed_total / ep
                       : double(w.seuf_experts) * (s.router + s.per_expert);
  mem.optimizer = mem.trainable * (kGradBytes + kAdamBytes + (b < 4 ? 4 : 0));
  // + fp32 logits and their gradient
  mem.activations = tokens * (saved_activation_bytes(m, w, target, layout.ep) + 2 * 4 * vocab);
  const double exchange_bytes = tokens * k * h * b;  // rows one rank sends per all-to-all
  mem.comm_buffers = layout.ep > 1 ? 2 * exchange_bytes : 0;
  plan.fits = mem.total() <= c.memory_gib * double(1ull << 30) * c.usable_memory_fraction;

  TimeEstimate& time = plan.time;
  double forward = 2 * h * vocab, backward = 2 * h * vocab;  // LM head; backward: input grad only
  double recomputed_forward = 0;
  int64_t backward_exchanges = 0;
  double expert_weight_passes =
      0;  // MoE layers whose local experts' weights are read, summed over passes
  for (int64_t l = 0; l < m.num_hidden_layers; ++l) {
    const double f = layer_forward_flops(m, s, l, seq);
    forward += f;
    const bool moe = m.is_moe_layer(l);
    expert_weight_passes += moe ? 1 : 0;
    if (full) {
      backward += 2 * f;  // input and weight gradients
      backward_exchanges += moe ? 2 : 0;
      expert_weight_passes += moe ? 2 : 0;
    } else if (l > target) {
      backward += f;  // input gradients only
      recomputed_forward += f;
      backward_exchanges += moe ? 2 : 0;
      expert_weight_passes += moe ? 1 : 0;
    }
  }
  if (full) {
    backward += 2 * 2 * h * vocab - 2 * h * vocab;  // the LM head's weight gradient too
  } else {
    // Router weight gradient; the unlearned expert's backward on the rows routed to it
    // (balanced routing: ep * T * K / E rows from its EP group); one combine exchange.
    backward += 2 * s.router + 4 * s.per_expert * ep * k / double(m.num_experts);
    backward_exchanges += 1;
  }
  // Recompute: one more forward of the layers that backward goes through.
  if (w.recompute) backward += full ? forward - 2 * h * vocab : recomputed_forward;
  time.flops = tokens * (forward + backward);
  const double share = device_share(c, world);
  time.compute = time.flops / (c.peak_flops * c.mfu * share);
  // Each pass over a MoE layer reads the weights of every local expert that receives a row
  // (balanced routing: T * K rows arrive per rank): memory-bound when few rows reach each expert.
  const double experts_used = std::min(double(m.num_experts) / ep, tokens * k);
  time.weight_streaming =
      expert_weight_passes * experts_used * s.per_expert * b / (c.memory_bandwidth * share);
  const double moe_layers = double(m.num_moe_layers());
  const double exchanges = 2 * moe_layers + double(backward_exchanges);
  const double call_cost = per_call_cost(c, world);
  time.all_to_all =
      exchanges * all_to_all_time(c, layout.ep, exchange_bytes, call_cost) +
      moe_layers * all_to_all_time(c, layout.ep, 0, call_cost);  // counts: latency only
  const double world_grads = full ? dense_elements : s.router;
  const double expert_grads = full ? s.routed_total / ep : s.per_expert;
  time.grad_sync = all_reduce_time(c, world, world - 1, kGradBytes * world_grads, call_cost) +
                   all_reduce_time(c, layout.dp, (layout.dp - 1) * layout.ep,
                                   kGradBytes * expert_grads, call_cost);
  time.collective_calls = (layout.ep > 1 ? int64_t(exchanges + moe_layers) : 0) +
                          (world > 1 ? 1 : 0) + (layout.dp > 1 ? 1 : 0);
  const double bytes_per_update =
      b < 4 ? 32 : 28;  // read w, g, m, v (+master); write w, m, v (+master)
  time.optimizer = mem.trainable * bytes_per_update / (c.memory_bandwidth * share);
  return plan;
}

std::vector<LayoutPlan> plan_all(const ModelConfig& m, const PlanInput& input, PlanMethod method) {
  std::vector<LayoutPlan> plans;
  for (int64_t world : input.cluster.gpu_counts) {
    for (int64_t ep = 1; ep <= world; ++ep) {
      if (world % ep != 0 || m.num_experts % ep != 0) continue;
      plans.push_back(plan_layout(m, input, {ep, world / ep}, method));
    }
  }
  return plans;
}

const LayoutPlan* recommend(const std::vector<LayoutPlan>& plans) {
  const LayoutPlan* best = nullptr;
  for (const auto& p : plans) {
    if (!p.fits) continue;
    if (best == nullptr || p.layout.world() < best->layout.world() ||
        (p.layout.world() == best->layout.world() && p.time.total() < best->time.total())) {
      best = &p;
    }
  }
  return best;
}

}  // namespace uoe
