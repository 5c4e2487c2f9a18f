#include "bench_utils.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/check.h"
#include "common/log.h"

namespace uoe::bench {

Flags::Flags(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    UOE_CHECK(arg.rfind("--", 0) == 0 && arg.size() > 2, "expected --flag value, got '", arg, "'");
    UOE_CHECK(i + 1 < argc, "flag ", arg, " needs a value");
    values_[arg.substr(2)] = argv[++i];
  }
}

std::string Flags::get_string(const std::string& key, const std::string& fallback) {
  used_.insert(key);
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

int64_t Flags::get_int(const std::string& key, int64_t fallback) {
  const std::string text = get_string(key, "");
  if (text.empty()) return fallback;
  size_t end = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &end);
  } catch (const std::exception&) {
    end = 0;
  }
  UOE_CHECK(end == text.size(), "--", key, " expects an integer, got '", text, "'");
  return value;
}

double Flags::get_double(const std::string& key, double fallback) {
  const std::string text = get_string(key, "");
  if (text.empty()) return fallback;
  size_t end = 0;
  double value = 0;
  try {
    value = std::stod(text, &end);
  } catch (const std::exception&) {
    end = 0;
  }
  UOE_CHECK(end == text.size(), "--", key, " expects a number, got '", text, "'");
  return value;
}

bool Flags::get_bool(const std::string& key, bool fallback) {
  const std::string text = get_string(key, "");
  if (text.empty()) return fallback;
  if (text == "1" || text == "true") return true;
  if (text == "0" || text == "false") return false;
  UOE_CHECK(false, "--", key, " expects 0/1/true/false, got '", text, "'");
  return fallback;
}

void Flags::check_all_used() const {
  for (const auto& [key, value] : values_) {
    UOE_CHECK(used_.count(key) > 0, "unknown flag --", key, " (value '", value, "')");
  }
}

double median(std::vector<double> values) {
  UOE_ASSERT(!values.empty(), "median of no values");
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

double minimum(std::vector<double> values) {
  UOE_ASSERT(!values.empty(), "minimum of no values");
  return *std::min_element(values.begin(), values.end());
}

std::vector<std::vector<double>> time_interleaved(int64_t warmup, int64_t iters,
                                                  const std::vector<Step>& steps, double pause_s) {
  UOE_CHECK(warmup >= 1 && iters >= 3,
            "need at least 1 warm-up and 3 timed iterations, got --warmup ", warmup, " --iters ",
            iters);
  std::vector<std::vector<double>> seconds(steps.size());
  for (int64_t round = 0; round < warmup + iters; ++round) {
    for (size_t i = 0; i < steps.size(); ++i) {
      if (pause_s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(pause_s));
      const double t = steps[i]();
      if (round >= warmup) seconds[i].push_back(t);
    }
  }
  return seconds;
}

torch::Tensor normal(at::IntArrayRef shape, double scale) {
  auto t = torch::randn(shape);
  return scale == 1.0 ? t : t * scale;
}

ErrorStats compare(const torch::Tensor& actual, const torch::Tensor& expected) {
  UOE_ASSERT(actual.sizes() == expected.sizes(), "shape ", actual.sizes(), " vs expected ",
             expected.sizes());
  auto a = actual.detach().cpu().to(torch::kFloat64);
  auto b = expected.detach().cpu().to(torch::kFloat64);
  ErrorStats stats;
  const double norm = b.norm().item<double>();
  const double diff = (a - b).norm().item<double>();
  stats.relative = norm > 0 ? diff / norm : diff;
  stats.max_abs = a.numel() > 0 ? (a - b).abs().max().item<double>() : 0.0;
  return stats;
}

torch::Tensor read_f32(const std::string& path, at::IntArrayRef shape) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  UOE_CHECK(in.good(), "cannot open reference file ", path);
  auto result = torch::empty(shape, torch::kFloat32);
  const auto bytes = static_cast<int64_t>(in.tellg());
  UOE_CHECK(bytes == result.numel() * 4, path, " has ", bytes, " bytes, expected ",
            result.numel() * 4, " for shape ", shape);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(result.data_ptr<float>()), bytes);
  UOE_CHECK(in.good(), "short read from ", path);
  return result;
}

void write_f32(const std::string& path, const torch::Tensor& tensor) {
  auto t = tensor.detach().to(torch::kFloat32).contiguous();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(t.data_ptr<float>()), t.numel() * 4);
  UOE_CHECK(out.good(), "cannot write ", path);
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  UOE_CHECK(in.good(), "cannot open ", path);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    UOE_CHECK(false, path, " is not valid JSON: ", e.what());
  }
  return {};
}

void write_json(const std::string& path, const nlohmann::json& value) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  std::ofstream out(path);
  out << value.dump(2) << "\n";
  UOE_CHECK(out.good(), "cannot write ", path);
}

nlohmann::json timing_json(const std::vector<double>& seconds) {
  return {{"median_s", median(seconds)},
          {"min_s", *std::min_element(seconds.begin(), seconds.end())},
          {"max_s", *std::max_element(seconds.begin(), seconds.end())},
          {"samples_s", seconds}};
}

int run_main(const std::function<int()>& body, const std::function<void(int)>& abort) {
  try {
    return body();
  } catch (const InputError& e) {
    std::fprintf(stderr, "%s error: %s\n", rank_tag().c_str(), e.what());
    abort(2);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s error: %s\n", rank_tag().c_str(), e.what());
    abort(1);
    return 1;
  }
}

}  // namespace uoe::bench
