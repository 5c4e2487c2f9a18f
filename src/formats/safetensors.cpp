#include "formats/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "common/check.h"

namespace uoe {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; views assume a little-endian host");

using nlohmann::json;

constexpr const char* kMetadataKey = "__metadata__";
constexpr const char* kSupported = "F32, BF16, F16, I64";
// Top-level object > tensor entry > shape / offsets array > number: nothing valid goes deeper.
constexpr int kMaxDepth = 3;

uint64_t read_le_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Parses the header text, rejecting repeated keys at any level (nlohmann would keep the last one
// silently) and nesting deeper than any valid header.
json parse_json_strict(const char* begin, const char* end, const std::string& source) {
  std::vector<std::set<std::string>> keys_per_object;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    UOE_CHECK(depth <= kMaxDepth, source, ": safetensors header nests deeper than ", kMaxDepth,
              " levels");
    switch (event) {
      case json::parse_event_t::object_start:
        keys_per_object.emplace_back();
        break;
      case json::parse_event_t::object_end:
        keys_per_object.pop_back();
        break;
      case json::parse_event_t::key: {
        const std::string key = parsed.get<std::string>();
        UOE_CHECK(keys_per_object.back().insert(key).second, source,
                  ": safetensors header repeats the key '", key, "'",
                  depth == 1 ? " (two tensors with the same name)" : "");
        break;
      }
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(begin, end, callback);
  } catch (const json::exception& e) {
    UOE_CHECK(false, source, ": safetensors header is not valid JSON: ", e.what());
  }
  return {};
}

uint64_t item_size(torch::ScalarType dtype) { return c10::elementSize(dtype); }

SafetensorsTensorInfo parse_tensor_entry(const std::string& name, const json& entry,
                                         uint64_t data_size, const std::string& source) {
  const std::string where = c10::str(source, ": tensor '", name, "'");
  UOE_CHECK(entry.is_object(), where, ": expected an object with dtype, shape and data_offsets");
  for (const auto& item : entry.items()) {
    UOE_CHECK(item.key() == "dtype" || item.key() == "shape" || item.key() == "data_offsets", where,
              ": unknown key '", item.key(), "' (expected dtype, shape, data_offsets)");
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    UOE_CHECK(entry.contains(key), where, ": missing '", key, "'");
  }
  SafetensorsTensorInfo info;
  info.name = name;
  UOE_CHECK(entry["dtype"].is_string(), where, ": dtype must be a string");
  info.dtype = parse_safetensors_dtype(entry["dtype"].get<std::string>(), where);

  const json& shape = entry["shape"];
  UOE_CHECK(shape.is_array(), where, ": shape must be an array of non-negative integers");
  uint64_t nbytes = item_size(info.dtype);
  for (const auto& dim : shape) {
    UOE_CHECK(dim.is_number_unsigned() &&
                  dim.get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max()),
              where, ": shape must be an array of non-negative integers, got ", shape.dump());
    const uint64_t d = dim.get<uint64_t>();
    UOE_CHECK(!__builtin_mul_overflow(nbytes, d, &nbytes), where, ": shape ", shape.dump(),
              " overflows 64-bit byte counts");
    info.shape.push_back(static_cast<int64_t>(d));
  }

  const json& offsets = entry["data_offsets"];
  UOE_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
                offsets[1].is_number_unsigned(),
            where, ": data_offsets must be [begin, end] with non-negative integers, got ",
            offsets.dump());
  info.begin = offsets[0].get<uint64_t>();
  info.end = offsets[1].get<uint64_t>();
  UOE_CHECK(info.begin <= info.end && info.end <= data_size, where, ": data_offsets [", info.begin,
            ", ", info.end, "] are outside the data section of ", data_size,
            " bytes (the file is truncated or the header is wrong)");
  UOE_CHECK(info.nbytes() == nbytes, where, ": data_offsets [", info.begin, ", ", info.end,
            "] hold ", info.nbytes(), " bytes but shape ", shape.dump(), " x ",
            safetensors_dtype_name(info.dtype, where), " needs ", nbytes);
  return info;
}

}  // namespace

torch::ScalarType parse_safetensors_dtype(const std::string& name, const std::string& where) {
  if (name == "F32") return torch::kFloat32;
  if (name == "BF16") return torch::kBFloat16;
  if (name == "F16") return torch::kFloat16;
  if (name == "I64") return torch::kInt64;
  UOE_CHECK(false, where, ": unsupported dtype '", name, "' (supported: ", kSupported, ")");
  return torch::kFloat32;
}

std::string safetensors_dtype_name(torch::ScalarType dtype, const std::string& where) {
  switch (dtype) {
    case torch::kFloat32:
      return "F32";
    case torch::kBFloat16:
      return "BF16";
    case torch::kFloat16:
      return "F16";
    case torch::kInt64:
      return "I64";
    default:
      UOE_CHECK(false, where, ": dtype ", dtype, " cannot be stored (supported: ", kSupported, ")");
  }
  return "";
}

const SafetensorsTensorInfo* SafetensorsHeader::find(const std::string& name) const {
  const auto it = index.find(name);
  return it == index.end() ? nullptr : &tensors[it->second];
}

SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, uint64_t file_size,
                                           const std::string& source) {
  UOE_CHECK(size >= 8 && file_size >= 8, source, ": not a safetensors file (", file_size,
            " bytes, shorter than the 8-byte header length)");
  const uint64_t header_size = read_le_u64(data);
  UOE_CHECK(header_size <= kMaxSafetensorsHeaderBytes, source, ": safetensors header length ",
            header_size, " exceeds the limit of ", kMaxSafetensorsHeaderBytes, " bytes");
  UOE_CHECK(header_size <= file_size - 8, source, ": safetensors header length ", header_size,
            " exceeds the file size ", file_size, " - 8 (truncated file?)");
  UOE_CHECK(header_size <= size - 8, source, ": only ", size, " bytes given, the header needs ",
            header_size + 8);
  const char* text = reinterpret_cast<const char*>(data + 8);
  UOE_CHECK(header_size > 0 && text[0] == '{', source,
            ": safetensors header must be a JSON object starting with '{'");
  const json root = parse_json_strict(text, text + header_size, source);
  UOE_CHECK(root.is_object(), source, ": safetensors header must be a JSON object");

  SafetensorsHeader header;
  header.data_start = 8 + header_size;
  const uint64_t data_size = file_size - header.data_start;
  for (const auto& item : root.items()) {
    if (item.key() == kMetadataKey) {
      UOE_CHECK(item.value().is_object(), source, ": ", kMetadataKey,
                " must be an object of strings");
      for (const auto& meta : item.value().items()) {
        UOE_CHECK(meta.value().is_string(), source, ": ", kMetadataKey, " value of '", meta.key(),
                  "' must be a string, got ", meta.value().dump());
        header.metadata.emplace(meta.key(), meta.value().get<std::string>());
      }
      continue;
    }
    header.tensors.push_back(parse_tensor_entry(item.key(), item.value(), data_size, source));
  }
  std::sort(header.tensors.begin(), header.tensors.end(), [](const auto& a, const auto& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  for (size_t i = 0; i < header.tensors.size(); ++i) header.index[header.tensors[i].name] = i;
  for (size_t i = 1; i < header.tensors.size(); ++i) {
    const auto& prev = header.tensors[i - 1];
    const auto& cur = header.tensors[i];
    UOE_CHECK(cur.begin >= prev.end, source, ": tensors '", prev.name, "' [", prev.begin, ", ",
              prev.end, ") and '", cur.name, "' [", cur.begin, ", ", cur.end,
              ") overlap in the data section");
  }
  return header;
}

struct SafetensorsFile::Mapping {
  void* address = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (address) ::munmap(address, size);
  }
  const uint8_t* bytes() const { return static_cast<const uint8_t*>(address); }
};

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  UOE_CHECK(fd >= 0, "cannot open safetensors file '", path, "': ", std::strerror(errno));
  struct stat st {};
  auto mapping = std::make_shared<Mapping>();
  std::string error;
  if (::fstat(fd, &st) != 0) {
    error = c10::str("cannot stat: ", std::strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    error = "not a regular file";
  } else if (st.st_size < 8) {
    error = c10::str("not a safetensors file (", st.st_size,
                     " bytes, shorter than the 8-byte header length)");
  } else {
    mapping->size = static_cast<size_t>(st.st_size);
    void* address = ::mmap(nullptr, mapping->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (address == MAP_FAILED) {
      error = c10::str("cannot map ", mapping->size, " bytes: ", std::strerror(errno));
    } else {
      mapping->address = address;
    }
  }
  ::close(fd);
  UOE_CHECK(error.empty(), path, ": ", error);
  header_ = parse_safetensors_header(mapping->bytes(), mapping->size, mapping->size, path);
  mapping_ = std::move(mapping);
}

const SafetensorsTensorInfo& SafetensorsFile::info(const std::string& name) const {
  const auto* info = header_.find(name);
  UOE_CHECK(info, path_, ": no tensor '", name, "'");
  return *info;
}

torch::Tensor SafetensorsFile::view(const std::string& name) const {
  const SafetensorsTensorInfo& t = info(name);
  const auto options = torch::TensorOptions().dtype(t.dtype);
  if (t.nbytes() == 0) return torch::empty(t.shape, options);
  void* data = const_cast<uint8_t*>(mapping_->bytes() + header_.data_start + t.begin);
  if (reinterpret_cast<uintptr_t>(data) % item_size(t.dtype) != 0) {
    return torch::from_blob(data, t.shape, options).clone();  // misaligned: copy
  }
  auto keep_alive = mapping_;
  return torch::from_blob(
      data, t.shape, [keep_alive](void*) {}, options);
}

torch::Tensor SafetensorsFile::load(const std::string& name, torch::ScalarType dtype) const {
  return view(name).to(dtype, /*non_blocking=*/false, /*copy=*/true);
}

void SafetensorsFile::release(const std::string& name) const {
  const SafetensorsTensorInfo& t = info(name);
  if (t.nbytes() == 0) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t base = reinterpret_cast<uintptr_t>(mapping_->address);
  const uintptr_t first = (base + header_.data_start + t.begin) / page * page;
  const uintptr_t last = (base + header_.data_start + t.end + page - 1) / page * page;
  // Advice only: a failure leaves the pages resident, which is harmless.
  ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace uoe
