// Evaluation metrics: ROUGE-L recall against hand-computed values, and results that do not depend
// on the layout (sharding and reduction are exact).
#include "eval/evaluation.h"
#include "parallel/process_groups.h"
#include "test_utils.h"
#include "unlearn_fixtures.h"

namespace uoe {
namespace {

TEST(Evaluation, RougeLRecall) {
  EXPECT_DOUBLE_EQ(rouge_l_recall({1, 2, 3}, {1, 2, 3}), 1.0);
  EXPECT_DOUBLE_EQ(rouge_l_recall({1, 9, 3}, {1, 2, 3}), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(rouge_l_recall({3, 2, 1}, {1, 2, 3}), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(rouge_l_recall({}, {1, 2}), 0.0);
  EXPECT_DOUBLE_EQ(rouge_l_recall({5, 1, 5, 2}, {1, 2}), 1.0);
  EXPECT_DOUBLE_EQ(rouge_l_recall({1}, {}), 0.0);
}

TEST(Evaluation, QaMetricsDoNotDependOnLayout) {
  auto world = test::world();
  const int n = world->size();
  const auto config = test::tiny_moe_config(2 * n);
  auto data = test::random_qa_dataset(11, config.vocab_size, 6);
  EvalOptions options{3, 3, ExpertTarget{2, 1}, ""};
  auto ep1 = ProcessGroups::create(world, 1);
  CausalLM reference(config, ep1.ep());
  reference->initialize(4);
  RoutingTrace trace;
  auto want = evaluate_qa(reference, data, ep1, options, &trace, nullptr);
  auto again = evaluate_qa(reference, data, ep1, options, nullptr, &trace);
  EXPECT_DOUBLE_EQ(again["topk_overlap"].get<double>(), 1.0);
  auto groups = ProcessGroups::create(world, n);
  CausalLM model(config, groups.ep());
  model->initialize(4);
  auto got = evaluate_qa(model, data, groups, options, nullptr, nullptr);
  for (const char* key : {"answer_nll", "answer_prob", "rouge_l_recall", "target_selection_rate"}) {
    EXPECT_NEAR(got[key].get<double>(), want[key].get<double>(), 1e-5) << key;
  }
  EXPECT_EQ(got["sequences"].get<int64_t>(), 11);
  EXPECT_GT(want["answer_nll"].get<double>(), 0.0);
}

}  // namespace
}  // namespace uoe
