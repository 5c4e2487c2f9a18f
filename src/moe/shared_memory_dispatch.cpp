#include "moe/shared_memory_dispatch.h"

#include <torch/csrc/autograd/functions/utils.h>

#include <algorithm>
#include <numeric>

#include "common/check.h"
#include "parallel/autograd_node.h"
#include "parallel/node_shared_memory.h"

namespace uoe {

// What one exchange's phases and their backward passes share.
struct SharedDispatchContext {
  CommunicatorPtr communicator;  // the EP group's data channel; owns `memory` (kept alive here)
  NodeSharedMemory* memory = nullptr;
  int rank = 0;
  int ranks = 1;
  int64_t num_experts = 0;
  int64_t num_tokens = 0;  // T
  int64_t top_k = 0;       // K
  StepProfiler* profiler = nullptr;
  int layer = StepProfiler::kNoLayer;
};

namespace {

// Where each part of one exchange lives: per rank, slots of C_T token rows, C_R expert rows,
// C_F choices (int64) and C_F weights, C_R row scalars (fp32), each kind in its own region of the
// shared block (NodeSharedMemory::reserve). The slot sizes come from the counts [P, E] every rank
// holds, so they are the same on all of them.
struct SharedLayout {
  enum Region { kTokens, kRows, kChoices, kWeights, kScalars, kRegions };

  int64_t ranks = 0;
  int64_t token_capacity = 0;   // C_T: most tokens on one rank
  int64_t row_capacity = 0;     // C_R: most rows received by one rank
  int64_t choice_capacity = 0;  // C_F = C_T * K
  int64_t hidden = 0;
  c10::ScalarType dtype = torch::kFloat32;
  std::vector<char*> bases;  // [kRegions]

  // Reserves the regions in `memory` (collective, the same values on every rank).
  SharedLayout(const torch::Tensor& all_counts, int64_t top_k, int64_t num_local_experts,
               int64_t hidden_size, c10::ScalarType row_dtype, NodeSharedMemory& memory)
      : ranks(all_counts.size(0)), hidden(hidden_size), dtype(row_dtype) {
    auto counts = all_counts.accessor<int64_t, 2>();  // [P, E]
    for (int64_t s = 0; s < ranks; ++s) {
      int64_t choices = 0, received = 0;
      for (int64_t g = 0; g < counts.size(1); ++g) {
        choices += counts[s][g];
        // column sums per owner: rank s as the owner of experts [s * El, (s + 1) * El)
        if (g / num_local_experts == s) {
          for (int64_t source = 0; source < ranks; ++source) received += counts[source][g];
        }
      }
      choice_capacity = std::max(choice_capacity, choices);
      row_capacity = std::max(row_capacity, received);
    }
    token_capacity = choice_capacity / top_k;
    const int64_t row_bytes = hidden * int64_t(c10::elementSize(dtype));
    std::vector<int64_t> bytes(kRegions);
    bytes[kTokens] = ranks * token_capacity * row_bytes;
    bytes[kRows] = ranks * row_capacity * row_bytes;
    bytes[kChoices] = ranks * choice_capacity * int64_t(sizeof(int64_t));
    bytes[kWeights] = ranks * choice_capacity * int64_t(sizeof(float));
    bytes[kScalars] = ranks * row_capacity * int64_t(sizeof(float));
    memory.reserve(bytes);
    for (int r = 0; r < kRegions; ++r) bases.push_back(memory.region(r));
  }

  // Every rank's slots as one tensor, so that one gather reads all ranks' rows.
  torch::Tensor tokens() const {  // [P * C_T, H]
    return torch::from_blob(bases[kTokens], {ranks * token_capacity, hidden}, torch::dtype(dtype));
  }
  torch::Tensor rows() const {  // [P * C_R, H]
    return torch::from_blob(bases[kRows], {ranks * row_capacity, hidden}, torch::dtype(dtype));
  }
  torch::Tensor choices() const {  // [P * C_F] int64
    return torch::from_blob(bases[kChoices], {ranks * choice_capacity}, torch::kInt64);
  }
  torch::Tensor weights() const {  // [P * C_F] fp32
    return torch::from_blob(bases[kWeights], {ranks * choice_capacity}, torch::kFloat32);
  }
  torch::Tensor scalars() const {  // [P * C_R] fp32
    return torch::from_blob(bases[kScalars], {ranks * row_capacity}, torch::kFloat32);
  }

  // pairs [N, 2] (rank, index in its slot) -> [N] rows of the all-ranks tensor with `capacity`
  // entries per rank.
  static torch::Tensor flat_index(const torch::Tensor& pairs, int64_t capacity) {
    return pairs.select(1, 0) * capacity + pairs.select(1, 1);
  }
  // origin [R, 2] (source rank, flat (token, k) index there) -> [R] rows of tokens().
  torch::Tensor token_rows(const torch::Tensor& origin, int64_t top_k) const {
    return origin.select(1, 0) * token_capacity + torch::div(origin.select(1, 1), top_k, "floor");
  }
};

SharedLayout layout_for(const SharedDispatchContext& context, const SharedMemoryPlan& plan,
                        int64_t hidden, c10::ScalarType dtype) {
  return SharedLayout(plan.all_counts, context.top_k, context.num_experts / context.ranks, hidden,
                      dtype, *context.memory);
}

// Copies `rows` [n, H] into `rank`'s slot of the all-ranks tensor `slots` [P * capacity, H].
void write_slot(const torch::Tensor& slots, int rank, int64_t capacity, const torch::Tensor& rows) {
  if (rows.size(0) > 0) slots.narrow(0, rank * capacity, rows.size(0)).copy_(rows);
}

// Backward of dispatch: the expert owners write their input gradients [R, H] into their row
// slots; each source sums the K gradients of each of its tokens.
class SharedDispatchBackward : public torch::autograd::Node {
 public:
  SharedDispatchBackward(SharedDispatchContext context,
                         std::shared_ptr<const SharedMemoryPlan> plan, int64_t hidden,
                         const torch::TensorOptions& options)
      : context_(context), plan_(std::move(plan)), hidden_(hidden), options_(options) {}
  std::string name() const override { return "uoe::SharedDispatchBackward"; }

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    const StepProfiler::Scope timer(context_.profiler, "backward_token_all_to_all", context_.layer);
    torch::NoGradGuard no_grad;
    const int64_t received = plan_->row_origin.size(0);
    auto grad = grads[0].defined() ? grads[0].contiguous()
                                   : torch::zeros({received, hidden_}, options_);  // [R, H]
    const SharedLayout layout = layout_for(context_, *plan_, hidden_, grad.scalar_type());
    write_slot(layout.rows(), context_.rank, layout.row_capacity, grad);
    context_.memory->fence();
    auto grad_hidden = sum_rows_per_token(
        layout.rows(), SharedLayout::flat_index(plan_->choice_slot, layout.row_capacity),
        torch::Tensor(), context_.num_tokens, context_.top_k);  // [T, H]
    StepProfiler::add_bytes(context_.profiler, "backward_token_all_to_all", context_.layer,
                            double(grad.numel()) * double(grad.element_size()));
    return {grad_hidden.to(grad.scalar_type())};
  }

 private:
  SharedDispatchContext context_;
  std::shared_ptr<const SharedMemoryPlan> plan_;
  int64_t hidden_;
  torch::TensorOptions options_;
};

// Backward of combine. Sources write their output gradients [T, H] and router weights [T*K];
// each owner gathers them for its rows: expert-output gradient w * g, and the router-weight
// gradient <g, y> of each row, which the sources then gather back.
class SharedCombineBackward : public torch::autograd::Node {
 public:
  SharedCombineBackward(SharedDispatchContext context, std::shared_ptr<const SharedMemoryPlan> plan,
                        std::vector<torch::Tensor> expert_output_parts, torch::Tensor weights)
      : context_(context),
        plan_(std::move(plan)),
        parts_(std::move(expert_output_parts)),
        weights_(std::move(weights)) {}
  std::string name() const override { return "uoe::SharedCombineBackward"; }

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    const StepProfiler::Scope timer(context_.profiler, "backward_token_all_to_all", context_.layer);
    torch::NoGradGuard no_grad;
    const int64_t hidden = parts_[0].size(1);
    auto grad = grads[0].defined()
                    ? grads[0].contiguous()
                    : torch::zeros({context_.num_tokens, hidden}, parts_[0].options());  // [T, H]
    const SharedLayout layout = layout_for(context_, *plan_, hidden, grad.scalar_type());
    const int rank = context_.rank;
    write_slot(layout.tokens(), rank, layout.token_capacity, grad);
    write_slot(layout.weights().view({-1, 1}), rank, layout.choice_capacity,
               weights_.reshape({-1, 1}).to(torch::kFloat32));
    context_.memory->fence();

    // Owner: this rank's rows [R] come from (source, flat choice) = plan_.row_origin.
    const auto& origin = plan_->row_origin;  // [R, 2]
    auto grad_rows =
        layout.tokens().index_select(0, layout.token_rows(origin, context_.top_k));  // [R, H]
    auto row_weights = layout.weights().index_select(
        0, SharedLayout::flat_index(origin, layout.choice_capacity));  // [R] fp32
    // Whether the router weights need a gradient is the same on every rank (the router is
    // replicated), so owners compute these exactly when sources read them.
    const int weights_input = static_cast<int>(parts_.size());
    const bool weights_grad = should_compute_output(weights_input);
    if (weights_grad && grad_rows.size(0) > 0) {
      auto per_row = torch::empty({grad_rows.size(0), 1}, torch::kFloat32);  // [R, 1]
      int64_t offset = 0;
      for (const auto& part : parts_) {
        const int64_t n = part.size(0);
        per_row.narrow(0, offset, n)
            .copy_((grad_rows.narrow(0, offset, n).to(torch::kFloat32) * part.to(torch::kFloat32))
                       .sum(1, /*keepdim=*/true));
        offset += n;
      }
      write_slot(layout.scalars().view({-1, 1}), rank, layout.row_capacity, per_row);
    }
    context_.memory->fence();
    torch::autograd::variable_list result(parts_.size() + 1);
    if (weights_grad) {
      result[weights_input] =
          layout.scalars()
              .index_select(0, SharedLayout::flat_index(plan_->choice_slot, layout.row_capacity))
              .view(weights_.sizes())
              .to(weights_.scalar_type());  // [T, K]
    }
    auto grad_output =
        (grad_rows.to(torch::kFloat32).mul_(row_weights.unsqueeze(1))).to(grad.scalar_type());
    int64_t offset = 0;
    for (size_t i = 0; i < parts_.size(); ++i) {
      const int64_t n = parts_[i].size(0);
      if (should_compute_output(i)) result[i] = grad_output.narrow(0, offset, n);
      offset += n;
    }
    // Counted as the all-to-all would send them: each (token, k) gradient row to its owner.
    StepProfiler::add_bytes(context_.profiler, "backward_token_all_to_all", context_.layer,
                            double(context_.num_tokens * context_.top_k) * double(hidden) *
                                double(grad.element_size()));
    return result;
  }

 private:
  SharedDispatchContext context_;
  std::shared_ptr<const SharedMemoryPlan> plan_;
  std::vector<torch::Tensor> parts_;  // El' x [n_e, H]: this rank's experts' output, private
  torch::Tensor weights_;             // [T, K]
};

}  // namespace

SharedMemoryTransport::SharedMemoryTransport(ProcessGroup ep, NodeSharedMemory& memory,
                                             int64_t num_experts)
    : ep_(std::move(ep)), memory_(&memory), num_experts_(num_experts) {}

SharedDispatchContext SharedMemoryTransport::context(const DispatchPlan& plan) const {
  SharedDispatchContext context;
  context.communicator = ep_.data;
  context.memory = memory_;
  context.rank = ep_.rank();
  context.ranks = ep_.size();
  context.num_experts = num_experts_;
  context.num_tokens = plan.num_tokens;
  context.top_k = plan.top_k;
  context.profiler = profiler_;
  context.layer = layer_;
  return context;
}

torch::Tensor SharedMemoryTransport::dispatch(const torch::Tensor& hidden,
                                              const torch::Tensor& sort_order, DispatchPlan& plan,
                                              const std::function<void()>& while_in_flight,
                                              ExchangeRecord* record) {
  UOE_ASSERT(hidden.device().is_cpu(), "shared-memory dispatch: tokens on ", hidden.device());
  torch::Tensor expert_input;  // [R, H]
  if (replaying(record)) {
    if (while_in_flight) while_in_flight();
    expert_input = record->dispatched.detach();  // a new autograd identity for the kept rows
  } else {
    expert_input = exchange_tokens(hidden, sort_order, plan, while_in_flight);
    if (record) record->dispatched = expert_input;
  }
  if (hidden.requires_grad() && torch::GradMode::is_enabled()) {
    auto node = make_node<SharedDispatchBackward>(context(plan), own_plan<SharedMemoryPlan>(plan),
                                                  hidden.size(1), hidden.options());
    node->set_next_edges(torch::autograd::collect_next_edges(hidden));
    torch::autograd::set_history(expert_input, node);
  }
  return expert_input;
}

torch::Tensor SharedMemoryTransport::exchange_tokens(const torch::Tensor& hidden,
                                                     const torch::Tensor& sort_order,
                                                     DispatchPlan& plan,
                                                     const std::function<void()>& while_in_flight) {
  const SharedDispatchContext context = this->context(plan);
  const int64_t ranks = context.ranks, num_experts = context.num_experts;
  const int64_t local_experts = num_experts / ranks, top_k = plan.top_k;
  const int64_t tokens = hidden.size(0), width = hidden.size(1);
  auto mine = std::make_shared<SharedMemoryPlan>();
  {
    const StepProfiler::Scope timer(profiler_, "count_exchange", layer_);
    mine->all_counts = torch::empty({ranks, num_experts}, torch::kInt64);  // [P, E]
    ep_.control->all_gather(mine->all_counts, plan.tokens_per_expert.contiguous());
    StepProfiler::add_bytes(profiler_, "count_exchange", layer_, double(num_experts) * 8.0);
  }
  auto counts = mine->all_counts.accessor<int64_t, 2>();
  // first[s][g]: where expert g's rows start in source s's sorted choices.
  std::vector<int64_t> first(ranks * (num_experts + 1), 0);
  for (int64_t s = 0; s < ranks; ++s) {
    for (int64_t g = 0; g < num_experts; ++g) {
      first[s * (num_experts + 1) + g + 1] = first[s * (num_experts + 1) + g] + counts[s][g];
    }
  }
  plan.send_splits.assign(ranks, 0);
  plan.recv_splits.assign(ranks, 0);
  plan.rows_per_local_expert.assign(local_experts, 0);
  const int me = context.rank;
  for (int64_t g = 0; g < num_experts; ++g) plan.send_splits[g / local_experts] += counts[me][g];
  for (int64_t e = 0; e < local_experts; ++e) {
    for (int64_t s = 0; s < ranks; ++s) {
      plan.recv_splits[s] += counts[s][me * local_experts + e];
      plan.rows_per_local_expert[e] += counts[s][me * local_experts + e];
    }
  }

  const SharedLayout layout = layout_for(context, *mine, width, hidden.scalar_type());
  {
    const StepProfiler::Scope timer(context.profiler, "token_all_to_all", context.layer);
    write_slot(layout.tokens(), me, layout.token_capacity, hidden.contiguous());
    write_slot(layout.choices().view({-1, 1}), me, layout.choice_capacity,
               sort_order.view({-1, 1}));
  }
  {
    // Source side: the (owner, position) of each of this rank's choices in the owner's rows,
    // which are ordered (local expert, source rank, source's sorted order).
    const StepProfiler::Scope timer(context.profiler, "permutation", context.layer);
    mine->choice_slot = torch::empty({tokens * top_k, 2}, torch::kInt64);  // [T*K, 2]
    auto slot = mine->choice_slot.accessor<int64_t, 2>();
    auto order = sort_order.accessor<int64_t, 1>();
    for (int64_t owner = 0; owner < ranks; ++owner) {
      int64_t position = 0;  // start of expert g's rows on the owner
      for (int64_t g = owner * local_experts; g < (owner + 1) * local_experts; ++g) {
        int64_t before_me = 0;
        for (int64_t s = 0; s < me; ++s) before_me += counts[s][g];
        const int64_t start = first[me * (num_experts + 1) + g];
        for (int64_t i = 0; i < counts[me][g]; ++i) {
          slot[order[start + i]][0] = owner;
          slot[order[start + i]][1] = position + before_me + i;
        }
        for (int64_t s = 0; s < ranks; ++s) position += counts[s][g];
      }
    }
  }
  if (while_in_flight) while_in_flight();
  const StepProfiler::Scope timer(context.profiler, "token_all_to_all", context.layer);
  context.memory->fence();
  // Owner side: the (source, flat choice) of each row this rank's experts receive.
  const int64_t received =
      std::accumulate(plan.recv_splits.begin(), plan.recv_splits.end(), int64_t{0});
  mine->row_origin = torch::empty({received, 2}, torch::kInt64);  // [R, 2]
  {
    auto origin = mine->row_origin.accessor<int64_t, 2>();
    const int64_t* choices = layout.choices().data_ptr<int64_t>();
    int64_t row = 0;
    for (int64_t g = me * local_experts; g < (me + 1) * local_experts; ++g) {
      for (int64_t s = 0; s < ranks; ++s) {
        const int64_t* from =
            choices + s * layout.choice_capacity + first[s * (num_experts + 1) + g];
        for (int64_t i = 0; i < counts[s][g]; ++i, ++row) {
          origin[row][0] = s;
          origin[row][1] = from[i];
        }
      }
    }
  }
  torch::Tensor expert_input;
  {
    torch::NoGradGuard no_grad;
    expert_input =
        layout.tokens().index_select(0, layout.token_rows(mine->row_origin, top_k));  // [R, H]
  }
  StepProfiler::add_bytes(context.profiler, "token_all_to_all", context.layer,
                          double(tokens * top_k) * double(width) * double(hidden.element_size()));
  plan.transport = mine;
  return expert_input;
}

torch::Tensor SharedMemoryTransport::combine(const std::vector<torch::Tensor>& expert_output_parts,
                                             const DispatchPlan& plan,
                                             const torch::Tensor& topk_weights, bool differentiable,
                                             ExchangeRecord* record) {
  UOE_ASSERT(!expert_output_parts.empty(), "combine: no expert output");
  const SharedDispatchContext context = this->context(plan);
  const auto mine = own_plan<SharedMemoryPlan>(plan);
  const auto& first = expert_output_parts.front();
  const int64_t width = first.size(1);
  int64_t rows = 0;
  for (const auto& part : expert_output_parts) rows += part.size(0);
  UOE_ASSERT(rows == mine->row_origin.size(0), "combine: ", rows,
             " expert output rows, the dispatch delivered ", mine->row_origin.size(0));
  torch::Tensor combined;  // [T, H]
  if (replaying(record)) {
    combined = record->combined.detach();  // a new autograd identity for the kept sums
  } else {
    torch::NoGradGuard no_grad;
    const SharedLayout layout = layout_for(context, *mine, width, first.scalar_type());
    if (rows > 0) {
      // The experts' outputs are concatenated straight into this rank's slot: in the MoE layer
      // this is the expert bank's concatenation, so it is timed as expert compute.
      const StepProfiler::Scope timer(context.profiler, "expert_compute", context.layer);
      int64_t offset = context.rank * layout.row_capacity;
      for (const auto& part : expert_output_parts) {  // copy_ per part: a plain memcpy for each
        layout.rows().narrow(0, offset, part.size(0)).copy_(part);
        offset += part.size(0);
      }
    }
    {
      const StepProfiler::Scope timer(context.profiler, "token_all_to_all", context.layer);
      context.memory->fence();
      StepProfiler::add_bytes(context.profiler, "token_all_to_all", context.layer,
                              double(rows) * double(width) * double(first.element_size()));
    }
    const StepProfiler::Scope timer(context.profiler, "combine", context.layer);
    combined = sum_rows_per_token(layout.rows(),
                                  SharedLayout::flat_index(mine->choice_slot, layout.row_capacity),
                                  topk_weights.reshape({-1}).to(torch::kFloat32), plan.num_tokens,
                                  plan.top_k)
                   .to(first.scalar_type());  // [T, H]
    if (record) record->combined = combined;
  }
  if (differentiable && torch::GradMode::is_enabled()) {
    std::vector<torch::Tensor> saved;
    torch::autograd::edge_list edges;
    for (const auto& part : expert_output_parts) {
      saved.push_back(part.detach());
      edges.push_back(torch::autograd::collect_next_edges(part)[0]);
    }
    edges.push_back(torch::autograd::collect_next_edges(topk_weights)[0]);
    auto node =
        make_node<SharedCombineBackward>(context, mine, std::move(saved), topk_weights.detach());
    node->set_next_edges(std::move(edges));
    torch::autograd::set_history(combined, node);
  }
  return combined;
}

}  // namespace uoe
