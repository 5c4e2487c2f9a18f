#include "train/training_checkpoint.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <vector>

#include "common/check.h"
#include "common/fault_injection.h"
#include "common/files.h"
#include "common/log.h"
#include "common/stop_signal.h"

namespace uoe {
namespace fs = std::filesystem;
namespace {

constexpr const char* kStateFile = "trainer_state.json";
constexpr const char* kCompleteFile = "COMPLETE";

std::string optimizer_file(const std::string& dir, int rank) {
  return c10::str(dir, "/optimizer-rank", rank, ".pt");
}

bool is_complete(const fs::path& dir) {
  return is_file(dir / kCompleteFile) && is_file(dir / kStateFile);
}

// Complete checkpoint-<step> directories of `output_dir`, by step.
std::map<int64_t, fs::path> complete_checkpoints(const std::string& output_dir) {
  static const std::regex pattern(R"(checkpoint-(\d{1,18}))");  // 18 digits fit an int64_t
  std::map<int64_t, fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(output_dir, ec)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    std::error_code type_ec;
    if (entry.is_directory(type_ec) && std::regex_match(name, match, pattern) &&
        is_complete(entry.path())) {
      found.emplace(std::stoll(match[1]), entry.path());
    }
  }
  return found;
}

// What must not change between a run and its continuation: the data order and the optimizer
// files depend on it.
nlohmann::json resume_layout(const TrainingConfig& config, int world_size, int ep_size) {
  return {{"world_size", world_size},
          {"ep_size", ep_size},
          {"seed", config.seed},
          {"per_device_train_batch_size", config.per_device_train_batch_size},
          {"gradient_accumulation_steps", config.gradient_accumulation_steps}};
}

nlohmann::json read_state(const std::string& dir) {
  const std::string path = dir + "/" + kStateFile;
  try {
    std::ifstream in(path);
    UOE_CHECK(in.good(), "cannot read ", path);
    auto state = nlohmann::json::parse(in);
    UOE_CHECK(state.is_object() && state.contains("step") && state["step"].is_number_integer(),
              path, ": missing integer 'step'");
    return state;
  } catch (const nlohmann::json::exception& e) {
    UOE_CHECK(false, path, " is not valid JSON: ", e.what());
  }
  return {};
}

}  // namespace

std::optional<std::string> resolve_resume_checkpoint(const TrainingConfig& config, int world_size,
                                                     int ep_size) {
  const std::string& request = config.resume_from_checkpoint;
  std::optional<std::string> dir;
  if (request == "auto") {
    dir = latest_checkpoint(config.output_dir);
  } else if (!request.empty()) {
    UOE_CHECK(is_complete(request), "resume_from_checkpoint='", request,
              "' is not a complete training checkpoint (a checkpoint-<step> directory with ",
              kStateFile, " and ", kCompleteFile, "); use 'auto' for the newest one in output_dir");
    dir = request;
  }
  if (!dir) return dir;
  const nlohmann::json state = read_state(*dir);
  const nlohmann::json expected = resume_layout(config, world_size, ep_size);
  for (const auto& [key, value] : expected.items()) {
    UOE_CHECK(state.contains(key) && state[key] == value, "cannot resume from ", *dir, ": it was ",
              "written with ", key, "=", state.value(key, nlohmann::json()).dump(),
              ", this run has ", key, "=", value.dump(),
              " (resuming needs the same layout, seed and batch settings)");
  }
  return dir;
}

void remove_training_checkpoints(const std::string& output_dir) {
  static const std::regex pattern(R"(checkpoint-\d+(\.tmp)?)");
  std::error_code ec;
  std::vector<fs::path> stale;
  for (const auto& entry : fs::directory_iterator(output_dir, ec)) {
    if (std::regex_match(entry.path().filename().string(), pattern)) stale.push_back(entry.path());
  }
  for (const auto& path : stale) remove_path(path.string());
}

std::optional<std::string> latest_checkpoint(const std::string& output_dir) {
  auto found = complete_checkpoints(output_dir);
  if (found.empty()) return std::nullopt;
  return found.rbegin()->second.string();
}

TrainingCheckpointer::TrainingCheckpointer(const TrainingConfig& config,
                                           const ProcessGroups& groups)
    : config_(config), groups_(groups) {}

bool TrainingCheckpointer::due(int64_t step) const {
  return config_.save_steps > 0 && step % config_.save_steps == 0;
}

std::string TrainingCheckpointer::save(int64_t step,
                                       const std::function<void(const std::string&)>& write_model,
                                       const DistributedOptimizer& optimizer,
                                       const nlohmann::json& loop_state) const {
  const std::string dir = c10::str(config_.output_dir, "/checkpoint-", step);
  const std::string tmp = dir + ".tmp";
  if (groups_.rank() == 0) {
    remove_path(tmp);  // left by a process killed while writing
    make_directories(tmp, "checkpoint directory");
  }
  groups_.world().control->barrier();
  write_model(tmp);
  optimizer.save(optimizer_file(tmp, groups_.rank()));
  fault_point("checkpoint_write", step, groups_.rank());
  groups_.world().control->barrier();
  if (groups_.rank() == 0) {
    nlohmann::json state = resume_layout(config_, groups_.world_size(), groups_.ep_size());
    state["step"] = step;
    state["loop"] = loop_state;
    write_json_atomic(tmp + "/" + kStateFile, state);
    write_text_atomic(tmp + "/" + kCompleteFile, "");
    remove_path(dir);  // an older checkpoint of the same step (a rerun with overwrite)
    std::error_code ec;
    fs::rename(tmp, dir, ec);
    UOE_CHECK(!ec, "cannot rename ", tmp, " to ", dir, ": ", ec.message());
    remove_old_checkpoints();
  }
  groups_.world().control->barrier();
  return dir;
}

void TrainingCheckpointer::end_of_step(int64_t step, const std::map<std::string, double>& losses,
                                       double grad_norm,
                                       const std::function<void(const std::string&)>& write_model,
                                       const DistributedOptimizer& optimizer,
                                       const nlohmann::json& loop_state) const {
  fault_point("step", step, groups_.rank());
  std::string parts;
  bool finite = std::isfinite(grad_norm);
  for (const auto& [name, value] : losses) {
    parts += c10::str(parts.empty() ? "" : ", ", name, " loss ", value);
    finite = finite && std::isfinite(value);
  }
  if (!finite) {
    throw CollectiveError(
        c10::str("non-finite values at step ", step, ": ", parts, ", gradient norm ", grad_norm,
                 "; stopped before the update (lower learning_rate or check the data)",
                 config_.save_steps > 0 ? "; the last checkpoint is intact" : ""),
        1);
  }
  auto stop = torch::tensor({int64_t(received_stop_signal())});
  groups_.world().control->all_reduce(stop, ReduceOp::kMax);
  const int signal_number = int(stop.item<int64_t>());
  if (!due(step) && signal_number == 0) return;
  const std::string dir = save(step, write_model, optimizer, loop_state);
  log0("saved training checkpoint ", dir);
  if (signal_number != 0) {
    throw CollectiveError(
        c10::str("received signal ", signal_number, " (", strsignal(signal_number), "); saved ",
                 dir, " after step ", step, "; continue with resume_from_checkpoint=auto"),
        stop_exit_code(signal_number));
  }
}

void TrainingCheckpointer::remove_old_checkpoints() const {
  if (config_.save_total_limit <= 0) return;
  auto found = complete_checkpoints(config_.output_dir);
  while (int64_t(found.size()) > config_.save_total_limit) {
    remove_path(found.begin()->second.string());
    found.erase(found.begin());
  }
}

std::optional<std::string> TrainingCheckpointer::resume_dir() const {
  return resolve_resume_checkpoint(config_, groups_.world_size(), groups_.ep_size());
}

nlohmann::json TrainingCheckpointer::load(const std::string& dir,
                                          DistributedOptimizer& optimizer) const {
  nlohmann::json state = read_state(dir);
  optimizer.load(optimizer_file(dir, groups_.rank()));
  return state;
}

}  // namespace uoe
