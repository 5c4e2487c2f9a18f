#include "unlearn/selection.h"

#include <algorithm>
#include <random>
#include <set>

#include "common/check.h"

namespace uoe {

std::vector<int64_t> Selection::target_layers() const {
  std::set<int64_t> layers;
  for (const auto& t : experts) layers.insert(t.layer);
  return {layers.begin(), layers.end()};
}

std::vector<int64_t> Selection::experts_in(int64_t layer) const {
  std::vector<int64_t> ids;
  for (const auto& t : experts) {
    if (t.layer == layer) ids.push_back(t.expert);
  }
  return ids;
}

nlohmann::json Selection::to_json() const {
  nlohmann::json targets = nlohmann::json::array();
  for (const auto& t : experts) targets.push_back({{"layer", t.layer}, {"expert", t.expert}});
  return {{"mode", to_string(mode)},
          {"full", full},
          {"experts", targets},
          {"include_shared", include_shared}};
}

namespace {

// Experts of `row` ([E]) by decreasing value (ties: lower id first).
std::vector<int64_t> ranked_experts(const torch::Tensor& row) {
  auto order = std::get<1>(row.sort(/*stable=*/true, 0, /*descending=*/true));
  return std::vector<int64_t>(order.data_ptr<int64_t>(), order.data_ptr<int64_t>() + order.numel());
}

}  // namespace

Selection select_targets(const SelectionConfig& config, const AttributionResult* attribution,
                         const ModelConfig& model, uint64_t seed) {
  UOE_CHECK(model.num_experts > 0, "unlearn.selection: the model has no routed experts");
  Selection s;
  s.mode = config.mode;
  s.include_shared = config.include_shared;
  const auto layers = model.moe_layer_indices();
  auto check_layer = [&](int64_t layer) {
    UOE_CHECK(std::find(layers.begin(), layers.end(), layer) != layers.end(),
              "unlearn.selection.layer=", layer,
              " is not an MoE layer (MoE layers: ", c10::Join(", ", layers), ")");
  };
  UOE_CHECK(config.top_m <= model.num_experts * int64_t(layers.size()),
            "unlearn.selection.top_m=", config.top_m, " exceeds the number of routed experts");
  if (config.mode == SelectionMode::kFull) {
    s.full = true;
  } else if (config.mode == SelectionMode::kFixed) {
    check_layer(config.layer);
    for (size_t i = 0; i < config.experts.size(); ++i) {
      const int64_t e = config.experts[i];
      UOE_CHECK(e >= 0 && e < model.num_experts, "unlearn.selection.experts: expert ", e,
                " is outside [0, ", model.num_experts, ")");
      UOE_CHECK(std::find(config.experts.begin(), config.experts.begin() + i, e) ==
                    config.experts.begin() + i,
                "unlearn.selection.experts lists expert ", e, " twice");
      s.experts.push_back({config.layer, e});
    }
  } else if (config.mode == SelectionMode::kRandom) {
    std::mt19937_64 rng(seed ^ 0xA5A5A5A5ull);
    const int64_t layer = config.layer >= 0 ? config.layer : layers[rng() % layers.size()];
    check_layer(layer);
    std::vector<int64_t> ids(model.num_experts);
    for (int64_t e = 0; e < model.num_experts; ++e) ids[e] = e;
    for (int64_t i = model.num_experts - 1; i > 0; --i)
      std::swap(ids[i], ids[rng() % uint64_t(i + 1)]);
    for (int64_t i = 0; i < std::min(config.top_m, model.num_experts); ++i) {
      s.experts.push_back({layer, ids[i]});
    }
  } else if (config.mode == SelectionMode::kLayer) {
    int64_t layer = config.layer;
    if (layer < 0) {
      UOE_CHECK(attribution, "unlearn.selection.mode=layer without a layer needs attribution");
      layer = attribution->best_layer();
    }
    check_layer(layer);
    for (int64_t e = 0; e < model.num_experts; ++e) s.experts.push_back({layer, e});
  } else {  // attribution: top-M by forget score; contrast: by forget share - retain share
    UOE_ASSERT(attribution, "attribution selection needs an attribution result");
    UOE_CHECK(config.mode != SelectionMode::kContrast || attribution->contrast.defined(),
              "unlearn.selection.mode=contrast needs dataset.retain (it ranks experts by forget "
              "share minus retain share)");
    const torch::Tensor& table = config.mode == SelectionMode::kContrast
                                     ? attribution->contrast
                                     : attribution->scores;  // [L, E]
    if (config.scope == SelectionScope::kLayer) {
      const int64_t layer = config.layer >= 0
                                ? config.layer
                                : attribution->layers.at(top_index(table) / model.num_experts);
      check_layer(layer);
      const auto ranked = ranked_experts(table[attribution->row_of_layer(layer)]);
      UOE_CHECK(config.top_m <= model.num_experts, "unlearn.selection.top_m=", config.top_m,
                " exceeds num_experts with scope=layer");
      for (int64_t i = 0; i < config.top_m; ++i) s.experts.push_back({layer, ranked[i]});
    } else {
      const auto order = ranked_experts(table.reshape({-1}));
      for (int64_t i = 0; i < config.top_m; ++i) {
        const int64_t flat = order[i];
        s.experts.push_back(
            {attribution->layers[flat / model.num_experts], flat % model.num_experts});
      }
    }
  }
  return s;
}

TrainableSet apply_selection(CausalLM& model, const Selection& selection) {
  TrainableSet set;
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  if (selection.full) model->set_all_trainable();
  const auto target_layers = selection.target_layers();
  const auto layer_indices = model->config().moe_layer_indices();
  auto moe_layers = model->moe_layers();  // same order as layer_indices
  for (size_t i = 0; i < moe_layers.size() && !selection.full; ++i) {
    const int64_t l = layer_indices[i];
    auto& moe = moe_layers[i];
    const bool target =
        std::find(target_layers.begin(), target_layers.end(), l) != target_layers.end();
    moe->experts->set_trainable_experts(selection.experts_in(l));
    if (target) {
      moe->gate->weight.set_requires_grad(true);
      if (selection.include_shared && moe->shared_experts) {
        for (auto& p : moe->shared_experts->parameters()) p.set_requires_grad(true);
        if (moe->shared_expert_gate) moe->shared_expert_gate->weight.set_requires_grad(true);
      }
    }
  }
  // Names over the whole model, identical on every rank: dense tensors from this rank, experts
  // from the selection (their owners may be other ranks), each expert counted once.
  const auto& c = model->config();
  std::vector<ExpertTarget> trained = selection.experts;
  if (selection.full) {
    for (int64_t l : c.moe_layer_indices()) {
      for (int64_t e = 0; e < c.num_experts; ++e) trained.push_back({l, e});
    }
  }
  for (const auto& item : model->named_parameters()) {
    const auto& p = item.value();
    if (!p.requires_grad()) continue;
    if (CausalLMImpl::is_expert_parameter(item.key())) {
      set.expert.push_back(p);
    } else {
      set.dense.push_back(p);
      set.names.push_back(item.key());
      set.num_elements += p.numel();
    }
  }
  for (const auto& t : trained) {
    for (const char* proj : {"gate_proj", "up_proj", "down_proj"}) {
      set.names.push_back(
          c10::str("layers.", t.layer, ".mlp.experts.", t.expert, ".", proj, ".weight"));
    }
    set.num_elements += 3 * c.hidden_size * c.moe_intermediate_size;
  }
  return set;
}

}  // namespace uoe
