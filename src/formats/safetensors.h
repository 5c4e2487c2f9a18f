#pragma once
// Reading safetensors files (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON header, then the data section. The header is a JSON object
// {"<tensor>": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"<key>": "<string>"}}; offsets are byte offsets into the data section.
//
// Files are untrusted input: the header is validated completely before any tensor is touched
// (length bound, JSON object without repeated keys, supported dtype, non-negative shape without
// overflow, offsets inside the data section, byte size = numel x item size, no two tensors
// overlapping). Every violation is an InputError naming the file and, where there is one, the
// tensor. Supported dtypes: F32, BF16, F16 (weights) and I64 (token ids in test fixtures).
//
// The file is memory-mapped read-only: opening it reads no tensor data, and a rank that reads only
// its own experts never touches (or holds in memory) the pages of the other experts. Views share
// the mapping and keep it alive after the SafetensorsFile is gone.
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace uoe {

// Largest header accepted (the safetensors library uses the same bound).
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// "F32" | "BF16" | "F16" | "I64" -> dtype; anything else is an InputError naming `where` and
// listing the supported dtypes.
torch::ScalarType parse_safetensors_dtype(const std::string& name, const std::string& where);
// kFloat32 | kBFloat16 | kFloat16 | kInt64 -> "F32" | "BF16" | "F16" | "I64"; InputError naming
// `where` otherwise.
std::string safetensors_dtype_name(torch::ScalarType dtype, const std::string& where);

struct SafetensorsTensorInfo {
  std::string name;
  torch::ScalarType dtype = torch::kFloat32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte range [begin, end) in the data section
  uint64_t end = 0;

  uint64_t nbytes() const { return end - begin; }
};

struct SafetensorsHeader {
  uint64_t data_start = 0;                      // 8 + header length: file offset of the data
  std::vector<SafetensorsTensorInfo> tensors;   // in data order (ascending begin, then name)
  std::map<std::string, std::string> metadata;  // "__metadata__"
  std::map<std::string, size_t> index;          // name -> position in `tensors`

  // The tensor named `name`, or nullptr.
  const SafetensorsTensorInfo* find(const std::string& name) const;
};

// Parses and validates the header of a safetensors file. `data` holds the first `size` bytes of
// the file (at least the 8-byte length and the header; the whole file is fine) and `file_size` is
// the size of the whole file. `source` names the file in error messages. Pure: reads nothing else,
// so a fuzzer can call it with arbitrary bytes (with file_size = size).
SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, uint64_t file_size,
                                           const std::string& source);

class SafetensorsFile {
 public:
  // Maps `path` and validates its header; InputError naming the path when it cannot be opened or
  // is not a valid safetensors file.
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return path_; }
  const SafetensorsHeader& header() const { return header_; }
  const std::vector<SafetensorsTensorInfo>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  bool contains(const std::string& name) const { return header_.find(name) != nullptr; }
  // InputError naming the file when the tensor is absent.
  const SafetensorsTensorInfo& info(const std::string& name) const;

  // The tensor in its stored dtype, without copying: a CPU tensor on the mapped pages, which keeps
  // the mapping alive. READ-ONLY: the pages are mapped without write permission, so an in-place
  // operation on the view crashes the process; use load() or clone() for a tensor to modify.
  // (A tensor whose offset is not a multiple of its item size is copied instead.)
  torch::Tensor view(const std::string& name) const;
  // A contiguous copy converted to `dtype`.
  torch::Tensor load(const std::string& name, torch::ScalarType dtype) const;
  // Lets the kernel take the tensor's pages out of this process's resident set (they stay in the
  // page cache and come back on the next access); the loader calls it after copying a tensor so
  // that a rank's resident size stays close to what it holds. Views remain valid.
  void release(const std::string& name) const;

 private:
  struct Mapping;
  std::string path_;
  std::shared_ptr<const Mapping> mapping_;
  SafetensorsHeader header_;
};

}  // namespace uoe
