// Fuzzes the safetensors reader. The input is a whole file: its header goes through the pure
// parser, and when the parser accepts it, the same bytes are opened as a SafetensorsFile (mmap)
// and every tensor is viewed, converted to float32 and released. The reader may reject a file
// only with InputError; a tensor it hands out must have the shape and byte size of its header.
#include <string>

#include "common/check.h"
#include "formats/safetensors.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const uoe::fuzz::ScratchFile scratch;
  uoe::fuzz::accept_only_input_errors([&] {
    const uoe::SafetensorsHeader header = uoe::parse_safetensors_header(data, size, size, "input");
    const uoe::SafetensorsFile file(scratch.write(uoe::fuzz::as_text(data, size)));
    UOE_ASSERT(file.tensors().size() == header.tensors.size(), "the file and the bytes disagree");
    for (const auto& info : file.tensors()) {
      const torch::Tensor view = file.view(info.name);
      UOE_ASSERT(view.sizes() == torch::IntArrayRef(info.shape) &&
                     uint64_t(view.numel()) * view.element_size() == info.nbytes(),
                 "tensor '", info.name, "' does not match its header entry");
      const torch::Tensor values = file.load(info.name, torch::kFloat32);
      UOE_ASSERT(values.sizes() == view.sizes(), "tensor '", info.name, "' changed shape");
      file.release(info.name);
    }
  });
  return 0;
}
