#include "eval/evaluation.h"

#include <cmath>
#include <fstream>

#include "common/check.h"
#include "eval/generation.h"
#include "model/log_probs.h"
#include "train/batching.h"

namespace uoe {

double rouge_l_recall(const std::vector<int64_t>& generated,
                      const std::vector<int64_t>& reference) {
  if (reference.empty()) return 0.0;
  std::vector<int64_t> row(reference.size() + 1, 0);
  for (int64_t g : generated) {
    int64_t diagonal = 0;
    for (size_t j = 1; j <= reference.size(); ++j) {
      const int64_t above = row[j];
      row[j] = g == reference[j - 1] ? diagonal + 1 : std::max(row[j], row[j - 1]);
      diagonal = above;
    }
  }
  return double(row[reference.size()]) / double(reference.size());
}

nlohmann::json evaluate_qa(CausalLM& model, const TokenDataset& data, const ProcessGroups& groups,
                           const EvalOptions& options, RoutingTrace* record,
                           const RoutingTrace* original) {
  torch::NoGradGuard no_grad;
  // Checked on the whole dataset, so that every rank takes the same decision before any forward.
  int64_t longest = 0;
  for (int64_t i = 0; i < data.size(); ++i) longest = std::max(longest, data.length(i));
  const int64_t max_positions = model->config().max_position_embeddings;
  UOE_CHECK(longest + options.max_new_tokens <= max_positions, "evaluating '", data.path(),
            "': sequences of up to ", longest,
            " tokens plus eval.max_new_tokens=", options.max_new_tokens,
            " exceed model.max_position_embeddings=", max_positions);
  // [nll sum, scored tokens, sum of per-sequence probabilities, sequences, rouge sum,
  //  target hits, target tokens, overlap sum, overlap tokens]
  auto sums = torch::zeros({9}, torch::kFloat64);
  const std::vector<int64_t> moe_layers = model->config().moe_layer_indices();
  for (const auto& indices :
       shard_batches(data.size(), groups.rank(), groups.world_size(), options.batch_size)) {
    TokenBatch batch = make_batch(data, indices, model->device());
    auto out = model->forward(batch.input_ids);
    auto seq = sequence_log_probs(out.logits, batch.labels, batch.loss_mask);
    auto has = (seq.num_tokens > 0).to(torch::kFloat64);
    sums[0] += -seq.logp.sum().item<double>();
    sums[1] += seq.num_tokens.sum().item<double>();
    sums[2] += (torch::exp(seq.logp / seq.num_tokens.clamp_min(1.0)).to(torch::kFloat64) * has)
                   .sum()
                   .item<double>();
    sums[3] += has.sum().item<double>();
    if (options.target) {
      const auto& routing = out.moe.at(options.target->layer).routing;
      const auto selected =
          target_selection_counts(routing.topk_ids, batch.valid, options.target->expert)
              .to(torch::kCPU);  // [hits, tokens]
      sums[5] += selected[0].item<double>();
      sums[6] += selected[1].item<double>();
    }
    // Routing of each real sequence: [L_moe, tokens, K], kept on the host.
    std::vector<torch::Tensor> layer_ids;  // per MoE layer [B, S, K]
    for (int64_t l : moe_layers) {
      layer_ids.push_back(out.moe.at(l)
                              .routing.topk_ids.to(torch::kCPU)
                              .view({batch.input_ids.size(0), batch.input_ids.size(1), -1}));
    }
    const torch::Tensor lengths = batch.valid.sum(1).to(torch::kCPU, torch::kInt64);  // [B]
    for (size_t b = 0; b < indices.size(); ++b) {
      const int64_t tokens = lengths[b].item<int64_t>();
      std::vector<torch::Tensor> per_layer;
      for (const auto& ids : layer_ids) per_layer.push_back(ids[b].narrow(0, 0, tokens));
      auto trace = torch::stack(per_layer);  // [L_moe, tokens, K]
      if (original) {
        const auto& before = original->topk.at(indices[b]);
        const int64_t k = trace.size(2);
        auto common = (trace.unsqueeze(-1) == before.unsqueeze(-2)).any(-1).sum(-1);  // [L, tokens]
        sums[7] += common.sum().item<double>() / double(k);
        sums[8] += double(common.numel());
      }
      if (record) record->topk[indices[b]] = trace;
    }
    // Greedy answers for ROUGE-L: prompt = tokens before the first scored one.
    std::vector<std::vector<int64_t>> prompts, references;
    for (int64_t index : indices) {
      TokenSequence s = data.get(index);
      size_t first = 1;
      while (first < s.tokens.size() && !s.loss_mask[first]) ++first;
      prompts.emplace_back(s.tokens.begin(), s.tokens.begin() + first);
      references.emplace_back(s.tokens.begin() + first, s.tokens.end());
    }
    auto generated = greedy_generate(model, prompts, options.max_new_tokens, groups);
    for (size_t b = 0; b < indices.size(); ++b)
      sums[4] += rouge_l_recall(generated[b], references[b]);
  }
  groups.world().control->all_reduce(sums, ReduceOp::kSum);
  auto s = [&](int i) { return sums[i].item<double>(); };
  const double nll = s(0) / std::max(s(1), 1.0);
  nlohmann::json result = {{"sequences", int64_t(s(3))},
                           {"answer_nll", nll},
                           {"perplexity", std::exp(nll)},
                           {"answer_prob", s(2) / std::max(s(3), 1.0)},
                           {"rouge_l_recall", s(4) / std::max(s(3), 1.0)}};
  if (options.target) result["target_selection_rate"] = s(5) / std::max(s(6), 1.0);
  if (original) result["topk_overlap"] = s(7) / std::max(s(8), 1.0);
  return result;
}

torch::Tensor answer_log_probs(CausalLM& model, const TokenDataset& data,
                               const ProcessGroups& groups, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  auto logp = torch::zeros({data.size()}, torch::kFloat64);  // [N]; rows of other ranks stay 0
  for (const auto& indices :
       shard_batches(data.size(), groups.rank(), groups.world_size(), batch_size)) {
    TokenBatch batch = make_batch(data, indices, model->device());
    auto out = model->forward(batch.input_ids);
    const auto seq_logp =
        sequence_log_probs(out.logits, batch.labels, batch.loss_mask).logp.to(torch::kCPU);
    for (size_t b = 0; b < indices.size(); ++b) logp[indices[b]] = seq_logp[b].item<double>();
  }
  groups.world().control->all_reduce(logp, ReduceOp::kSum);
  return logp;
}

}  // namespace uoe

namespace uoe {

EvalSuite EvalSuite::load(const DatasetConfig& dataset, int64_t model_vocab_size) {
  EvalSuite suite;
  if (!dataset.forget.empty()) suite.forget = std::make_shared<TokenDataset>(dataset.forget);
  if (!dataset.retain.empty()) suite.retain = std::make_shared<TokenDataset>(dataset.retain);
  if (dataset.forget_mc.empty() && dataset.retain_mc.empty()) return suite;
  const auto tokenizer = load_text_tokenizer(dataset.tokenizer, "dataset.tokenizer");
  for (auto [path, set] : {std::pair{&dataset.forget_mc, &suite.forget_mc},
                           std::pair{&dataset.retain_mc, &suite.retain_mc}}) {
    if (!path->empty())
      *set = McSet::load(*path, *tokenizer, "dataset.tokenizer", model_vocab_size);
  }
  return suite;
}

nlohmann::json evaluate_suite(CausalLM& model, EvalSuite& suite, const ProcessGroups& groups,
                              const EvalOptions& options, bool record_routing) {
  torch::NoGradGuard no_grad;
  nlohmann::json result = nlohmann::json::object();
  auto qa = [&](const char* name, const std::shared_ptr<TokenDataset>& data, RoutingTrace& trace) {
    if (!data) return;
    const bool have_original = !record_routing && !trace.topk.empty();
    result[name] = evaluate_qa(model, *data, groups, options, record_routing ? &trace : nullptr,
                               have_original ? &trace : nullptr);
  };
  qa("forget", suite.forget, suite.forget_trace);
  qa("retain", suite.retain, suite.retain_trace);
  for (auto [name, set] :
       {std::pair{"forget_mc", &suite.forget_mc}, std::pair{"retain_mc", &suite.retain_mc}}) {
    if (!*set) continue;
    const McScores scores = score_mc(model, **set, groups, options.batch_size);
    result[name] = mc_summary(**set, scores);
    if (!options.samples_prefix.empty() && groups.rank() == 0) {
      write_mc_samples(options.samples_prefix + name + ".jsonl", **set, scores);
    }
  }
  return result;
}

}  // namespace uoe
