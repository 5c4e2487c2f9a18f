#include "model/rotary.h"

#include <cmath>

namespace uoe {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Dimension index (of D) whose wavelength makes `rotations` turns over `max_positions` positions.
double yarn_correction_dim(double rotations, int64_t dim, double base, int64_t max_positions) {
  return dim * std::log(max_positions / (rotations * 2 * kPi)) / (2 * std::log(base));
}

}  // namespace

double yarn_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

std::pair<torch::Tensor, double> rotary_inverse_frequencies(const ModelConfig& config,
                                                            const torch::Device& device) {
  const int64_t dim = config.rotary_dim();
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  auto exponent = torch::arange(0, dim, 2, opts) / static_cast<double>(dim);  // [D/2]
  auto pos_freqs = torch::pow(config.rope_theta, exponent);                   // [D/2]
  const RopeScaling& rs = config.rope_scaling;
  if (!rs.is_yarn()) return {1.0 / pos_freqs, 1.0};

  double attention_factor = rs.attention_factor;
  if (attention_factor == 0.0) {
    attention_factor =
        (rs.mscale != 0.0 && rs.mscale_all_dim != 0.0)
            ? yarn_mscale(rs.factor, rs.mscale) / yarn_mscale(rs.factor, rs.mscale_all_dim)
            : yarn_mscale(rs.factor, 1.0);
  }
  const int64_t original = rs.original_max_position_embeddings > 0
                               ? rs.original_max_position_embeddings
                               : config.max_position_embeddings;
  double low = yarn_correction_dim(rs.beta_fast, dim, config.rope_theta, original);
  double high = yarn_correction_dim(rs.beta_slow, dim, config.rope_theta, original);
  if (rs.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // avoid a zero-width ramp
  // Ramp from extrapolation (original frequencies, high-frequency dims) to interpolation.
  auto ramp = ((torch::arange(dim / 2, opts) - low) / (high - low)).clamp(0.0, 1.0);  // [D/2]
  auto extrapolation = 1.0 - ramp;                                                    // [D/2]
  auto inv_freq = (1.0 / (rs.factor * pos_freqs)) * (1.0 - extrapolation) +
                  (1.0 / pos_freqs) * extrapolation;  // [D/2]
  return {inv_freq, attention_factor};
}

RotaryTables make_rotary_tables(const ModelConfig& config, int64_t seq_len,
                                const torch::Device& device) {
  auto [inv_freq, attention_factor] = rotary_inverse_frequencies(config, device);  // [D/2]
  auto positions = torch::arange(seq_len, inv_freq.options());                     // [S]
  auto freqs = torch::outer(positions, inv_freq);                                  // [S, D/2]
  auto angles = torch::cat({freqs, freqs}, -1);                                    // [S, D]
  return {angles.cos() * attention_factor, angles.sin() * attention_factor};
}

torch::Tensor apply_rotary(const torch::Tensor& x, const RotaryTables& tables) {
  const int64_t half = x.size(-1) / 2;
  auto x32 = x.to(torch::kFloat32);
  auto rotated = torch::cat({-x32.narrow(-1, half, half), x32.narrow(-1, 0, half)}, -1);
  return (x32 * tables.cos + rotated * tables.sin).to(x.scalar_type());
}

torch::Tensor deinterleave_pairs(const torch::Tensor& x) {
  auto sizes = x.sizes().vec();
  const int64_t dim = sizes.back();
  sizes.back() = dim / 2;
  sizes.push_back(2);
  return x.reshape(sizes).transpose(-1, -2).reshape(x.sizes());  // [..., D/2, 2] -> [..., 2, D/2]
}

}  // namespace uoe
