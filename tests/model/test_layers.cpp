// Dense building blocks against their defining formulas.
#include "model/attention.h"
#include "model/init.h"
#include "model/rms_norm.h"
#include "model/rotary.h"
#include "test_utils.h"

namespace uoe {
namespace {

TEST(RMSNorm, MatchesFormula) {
  RMSNorm norm(6, 1e-5);
  {
    torch::NoGradGuard no_grad;
    norm->weight.copy_(test::seeded_randn({6}, 1));
  }
  auto x = test::seeded_randn({3, 4, 6}, 2, 3.0);
  auto x64 = x.to(torch::kFloat64);
  auto expected =
      x64 / torch::sqrt(x64.pow(2).mean(-1, true) + 1e-5) * norm->weight.to(torch::kFloat64);
  test::expect_close(norm(x), expected, 1e-6, "rmsnorm");
}

// One head of `head_dim` dims: the rotary tables of this config have `head_dim` columns.
ModelConfig rope_config(int64_t head_dim) {
  ModelConfig c;
  c.hidden_size = head_dim;
  c.num_attention_heads = 1;
  c.max_position_embeddings = 64;
  return c;
}

TEST(Rotary, PositionZeroIsIdentityAndNormsArePreserved) {
  auto tables = make_rotary_tables(rope_config(8), 5, torch::kCPU);
  auto x = test::seeded_randn({1, 2, 5, 8}, 3);
  auto y = apply_rotary(x, tables);
  test::expect_close(y.select(2, 0), x.select(2, 0), 1e-7, "position 0");
  test::expect_close(y.norm(2, -1), x.norm(2, -1), 1e-6, "norms");
}

// <rope(q, m), rope(k, n)> depends only on m - n.
TEST(Rotary, DotProductsDependOnRelativePositionOnly) {
  auto tables = make_rotary_tables(rope_config(16), 12, torch::kCPU);
  auto q = test::seeded_randn({16}, 4, 1.0, torch::kFloat64);
  auto k = test::seeded_randn({16}, 5, 1.0, torch::kFloat64);
  auto at_position = [&](const torch::Tensor& v, int64_t pos) {
    auto seq = torch::zeros({1, 1, 12, 16}, torch::kFloat64);
    seq[0][0][pos] = v;
    return apply_rotary(seq, tables)[0][0][pos];
  };
  const double near = (at_position(q, 3) * at_position(k, 1)).sum().item<double>();
  const double far = (at_position(q, 10) * at_position(k, 8)).sum().item<double>();
  EXPECT_NEAR(near, far, 1e-5);
}

// Hidden size 16, 4 query heads, `kv_heads` key/value heads, weights drawn from `seed`.
Attention make_attention(int64_t kv_heads, uint64_t seed = 1) {
  ModelConfig c;
  c.hidden_size = 16;
  c.num_attention_heads = 4;
  c.num_key_value_heads = kv_heads;
  Attention attention(c);
  initialize_parameters(*attention, seed, 0.2);
  return attention;
}

TEST(Attention, IsCausal) {
  auto attn = make_attention(2);
  auto tables = make_rotary_tables(rope_config(4), 6, torch::kCPU);
  auto x = test::seeded_randn({2, 6, 16}, 6);
  auto y = attn->forward(x, tables);
  auto changed = x.clone();
  changed.select(1, 4).add_(1.0);  // change position 4
  auto y2 = attn->forward(changed, tables);
  test::expect_close(y2.narrow(1, 0, 4), y.narrow(1, 0, 4), 0.0, "positions before the change");
  EXPECT_GT((y2.select(1, 4) - y.select(1, 4)).abs().max().item<double>(), 1e-4);
}

// Grouped-query attention equals multi-head attention whose k/v heads are the shared ones repeated.
TEST(Attention, GroupedQueryEqualsMultiHeadWithRepeatedKv) {
  auto gqa = make_attention(2);
  auto mha = make_attention(4);
  {
    torch::NoGradGuard no_grad;
    mha->q_proj->weight.copy_(gqa->q_proj->weight);
    mha->o_proj->weight.copy_(gqa->o_proj->weight);
    // kv head h of MHA = kv head h / 2 of GQA (4 query heads share 2 kv heads, head dim 4).
    auto k = gqa->k_proj->weight.view({2, 4, 16}).repeat_interleave(2, 0).reshape({16, 16});
    auto v = gqa->v_proj->weight.view({2, 4, 16}).repeat_interleave(2, 0).reshape({16, 16});
    mha->k_proj->weight.copy_(k);
    mha->v_proj->weight.copy_(v);
  }
  auto tables = make_rotary_tables(rope_config(4), 5, torch::kCPU);
  auto x = test::seeded_randn({2, 5, 16}, 7);
  test::expect_close(gqa->forward(x, tables), mha->forward(x, tables), 1e-6, "gqa vs mha");
}

// Attention of one position over a sequence of length 1 is just o_proj(v_proj(x)).
TEST(Attention, SingleTokenReducesToValueProjection) {
  auto attn = make_attention(4);
  auto tables = make_rotary_tables(rope_config(4), 1, torch::kCPU);
  auto x = test::seeded_randn({3, 1, 16}, 8);
  test::expect_close(attn->forward(x, tables), attn->o_proj(attn->v_proj(x)), 1e-6, "one token");
}

}  // namespace
}  // namespace uoe
