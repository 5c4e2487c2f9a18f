#include "model/rotary.h"

namespace uoe {

RotaryTables make_rotary_tables(int64_t seq_len, int64_t head_dim, double theta,
                                const torch::Device& device) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  auto exponent = torch::arange(0, head_dim, 2, opts) / static_cast<double>(head_dim);  // [D/2]
  auto inv_freq = 1.0 / torch::pow(theta, exponent);                                  // [D/2]
  auto positions = torch::arange(seq_len, opts);                                      // [S]
  auto freqs = torch::outer(positions, inv_freq);                                     // [S, D/2]
  auto angles = torch::cat({freqs, freqs}, -1);                                       // [S, D]
  return {angles.cos(), angles.sin()};
}

torch::Tensor apply_rotary(const torch::Tensor& x, const RotaryTables& tables) {
  const int64_t half = x.size(-1) / 2;
  auto x32 = x.to(torch::kFloat32);
  auto rotated = torch::cat({-x32.narrow(-1, half, half), x32.narrow(-1, 0, half)}, -1);
  return (x32 * tables.cos + rotated * tables.sin).to(x.scalar_type());
}

}  // namespace uoe
