// The differentiable all-to-all: forward routing, backward = reverse exchange (checked by finite
// differences of a scalar function of all ranks' outputs), and unused outputs in backward.
#include "parallel/all_to_all.h"
#include "test_utils.h"

namespace uoe {
namespace {

struct Exchange {
  std::vector<int64_t> send, recv;
  int64_t rows_in = 0, rows_out = 0;
};

// Rank r sends (r + p) % 3 + 1 rows to rank p.
Exchange make_exchange(int r, int n) {
  Exchange x;
  for (int p = 0; p < n; ++p) {
    x.send.push_back((r + p) % 3 + 1);
    x.recv.push_back((p + r) % 3 + 1);
    x.rows_in += x.send.back();
    x.rows_out += x.recv.back();
  }
  return x;
}

// f = sum over ranks of sum(all_to_all(x) * w), w fixed per rank.
double global_objective(const torch::Tensor& x, const torch::Tensor& w, const Exchange& ex,
                        const CommunicatorPtr& comm) {
  torch::NoGradGuard no_grad;
  auto y = all_to_all(x, ex.recv, ex.send, comm, false);
  auto local = torch::tensor({(y * w).sum().item<double>()}, torch::kFloat64);
  comm->all_reduce(local, ReduceOp::kSum);
  return local.item<double>();
}

TEST(AllToAll, BackwardMatchesFiniteDifferences) {
  auto comm = test::world();
  const int r = comm->rank(), n = comm->size();
  const Exchange ex = make_exchange(r, n);
  auto x = test::seeded_randn({ex.rows_in, 2}, 100 + r, 1.0, torch::kFloat64).requires_grad_();
  auto w = test::seeded_randn({ex.rows_out, 2}, 200 + r, 1.0, torch::kFloat64);
  auto y = all_to_all(x, ex.recv, ex.send, comm, true);
  (y * w).sum().backward();
  auto analytic = x.grad().clone();

  // Central differences, one coordinate at a time; every rank takes part in every evaluation.
  const double eps = 1e-6;
  for (int owner = 0; owner < n; ++owner) {
    const int64_t rows_of_owner = make_exchange(owner, n).rows_in;
    for (int64_t i = 0; i < rows_of_owner * 2; ++i) {
      auto xp = x.detach().clone(), xm = x.detach().clone();
      if (r == owner) {
        xp.view({-1})[i] += eps;
        xm.view({-1})[i] -= eps;
      }
      const double numeric =
          (global_objective(xp, w, ex, comm) - global_objective(xm, w, ex, comm)) / (2 * eps);
      if (r == owner) {
        EXPECT_NEAR(analytic.view({-1})[i].item<double>(), numeric, 1e-6) << "element " << i;
      }
    }
  }
}

TEST(AllToAll, ForwardRoutesRowsBySplits) {
  auto comm = test::world();
  const int r = comm->rank(), n = comm->size();
  const Exchange ex = make_exchange(r, n);
  auto x = torch::full({ex.rows_in, 1}, double(r), torch::kFloat64);
  auto y = all_to_all(x, ex.recv, ex.send, comm, true);
  int64_t row = 0;
  for (int s = 0; s < n; ++s) {
    for (int64_t i = 0; i < ex.recv[s]; ++i, ++row) EXPECT_EQ(y[row][0].item<double>(), s);
  }
}

// A rank whose input needs no grad (a frozen expert) still exchanges gradients in backward, so
// the ranks whose input needs grad get theirs and nobody waits.
TEST(AllToAll, FrozenInputOnSomeRanksStillExchangesGradients) {
  auto comm = test::world();
  const int r = comm->rank(), n = comm->size();
  const Exchange ex = make_exchange(r, n);
  auto x = torch::ones({ex.rows_in, 2}, torch::kFloat64);
  if (r % 2 == 0) x.requires_grad_();
  auto y = all_to_all(x, ex.recv, ex.send, comm, /*differentiable=*/true);
  ASSERT_TRUE(y.requires_grad());
  (y * 3.0).sum().backward();
  if (r % 2 == 0) {
    ASSERT_TRUE(x.grad().defined());
    EXPECT_EQ(x.grad().min().item<double>(), 3.0);
    EXPECT_EQ(x.grad().max().item<double>(), 3.0);
  }
}

// The fused row permutations: rows sent = x[send] (some rows twice, some not at all), received
// rows placed by a reversing permutation. Checked against the same permutations written out with
// index_select around the plain exchange, for the backend's fused version (MPI: Alltoallw with
// indexed datatypes) and for the generic one other backends use, forward and backward.
TEST(AllToAll, FusedRowPermutationsMatchExplicitOnes) {
  auto comm = test::world();
  const int r = comm->rank(), n = comm->size();
  const Exchange ex = make_exchange(r, n);
  const int64_t rows_in = ex.rows_in + 1;
  auto x = test::seeded_randn({rows_in, 3}, 300 + r, 1.0, torch::kFloat64);
  // Sent row i is input row (2 i) mod rows_in: repeats rows once i wraps around.
  auto send = torch::remainder(torch::arange(ex.rows_in, torch::kInt64) * 2, rows_in);
  auto recv = torch::arange(ex.rows_out - 1, -1, -1, torch::kInt64);  // reversed placement
  auto w = test::seeded_randn({ex.rows_out, 3}, 400 + r, 1.0, torch::kFloat64);

  auto x_ref = x.clone().requires_grad_();
  auto arrived = all_to_all(x_ref.index_select(0, send), ex.recv, ex.send, comm, true);
  auto y_ref = torch::zeros_like(arrived).index_copy(0, recv, arrived);
  (y_ref * w).sum().backward();

  ExchangeRows rows;
  rows.send = send;
  rows.recv = recv;
  auto x_fused = x.clone().requires_grad_();
  auto y = all_to_all(x_fused, ex.recv, ex.send, comm, true, rows);
  EXPECT_TRUE(torch::equal(y.detach(), y_ref.detach()));
  (y * w).sum().backward();
  EXPECT_TRUE(torch::allclose(x_fused.grad(), x_ref.grad(), 1e-12, 1e-12));

  auto y_generic = torch::empty_like(y);
  comm->Communicator::all_to_all_rows(y_generic, x, ex.recv, ex.send, send, recv);
  EXPECT_TRUE(torch::equal(y_generic, y_ref.detach()));

  // A permutation on the send side returns gradients straight to their rows.
  ExchangeRows permuted;
  permuted.send = torch::arange(ex.rows_in - 1, -1, -1, torch::kInt64);
  permuted.send_is_permutation = true;
  auto x_perm = x.narrow(0, 0, ex.rows_in).clone().requires_grad_();
  (all_to_all(x_perm, ex.recv, ex.send, comm, true, permuted) * w).sum().backward();
  auto x_perm_ref = x.narrow(0, 0, ex.rows_in).clone().requires_grad_();
  (all_to_all(x_perm_ref.flip(0), ex.recv, ex.send, comm, true) * w).sum().backward();
  EXPECT_TRUE(torch::allclose(x_perm.grad(), x_perm_ref.grad(), 1e-12, 1e-12));
}

}  // namespace
}  // namespace uoe
