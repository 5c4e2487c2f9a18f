#pragma once
// A small RAII wrapper over the HDF5 C API (serial library) for uoe's files: tensors as named
// datasets in the root group, string and int64 attributes on the root group.
//
// dtypes: float32, float64, int32, int64 and uint8 are stored as the matching little-endian HDF5
// types; bfloat16 is stored as uint16 with the dataset attribute dtype = "bfloat16" (h5py and
// other readers see the raw bits). String attributes are variable-length UTF-8 (h5py reads them as
// str); fixed-length string attributes written by other tools are read too.
//
// Errors: a missing or non-HDF5 file, a missing dataset or attribute, or a dataset with the wrong
// shape or dtype throws InputError naming the file and the dataset. A failing HDF5 call (H5_CHECK)
// throws InternalError with the call, its return code, the file, HDF5's own message and the rank.
// HDF5's automatic error printing is switched off, so those messages are the only ones.
#include <hdf5.h>
#include <torch/torch.h>

#include <string>
#include <vector>

// H5_CHECK(call[, where...]): `where` (any c10::str arguments) names the file and dataset.
// Evaluates to the call's result (an id or a status), which HDF5 makes negative on failure.
#define H5_CHECK(call, ...) \
  ::uoe::h5_check((::uoe::silence_hdf5_errors(), (call)), #call, ::c10::str(__VA_ARGS__))

namespace uoe {

// Switches off HDF5's automatic error printing (the first call does it; later calls are free).
void silence_hdf5_errors();

[[noreturn]] void throw_h5_error(const char* call, int64_t code, const std::string& where);

template <typename T>
T h5_check(T result, const char* call, const std::string& where) {
  if (result < 0) throw_h5_error(call, static_cast<int64_t>(result), where);
  return result;
}

class Hdf5File {
 public:
  enum class Mode {
    kRead,    // the file must exist and be HDF5
    kCreate,  // creates the file, replacing any existing one
  };

  Hdf5File(const std::string& path, Mode mode);
  ~Hdf5File();
  Hdf5File(Hdf5File&& other) noexcept;
  Hdf5File& operator=(Hdf5File&& other) noexcept;
  Hdf5File(const Hdf5File&) = delete;
  Hdf5File& operator=(const Hdf5File&) = delete;

  const std::string& path() const { return path_; }
  // Flushes and closes the file; the object must not be used afterwards.
  void close();

  bool has_dataset(const std::string& name) const;
  std::vector<std::string> dataset_names() const;  // sorted by name
  std::vector<int64_t> shape(const std::string& name) const;
  torch::ScalarType dtype(const std::string& name) const;
  // The whole dataset as a contiguous CPU tensor of its stored dtype.
  torch::Tensor read(const std::string& name) const;
  // Copies the dataset into `dst` (any device, no autograd). The stored shape must equal dst's and
  // the dtype too, except that floating-point types convert (fp32 <-> bf16); otherwise InputError
  // naming the file, the dataset and both shapes or dtypes.
  void read_into(const std::string& name, const torch::Tensor& dst) const;
  // Writes a new dataset (name without '/'); the tensor may live on any device.
  void write(const std::string& name, const torch::Tensor& tensor);

  void set_attribute(const std::string& name, const std::string& value);
  void set_attribute(const std::string& name, int64_t value);
  bool has_attribute(const std::string& name) const;
  std::string string_attribute(const std::string& name) const;
  int64_t int_attribute(const std::string& name) const;

 private:
  hid_t open_dataset(const std::string& name) const;  // caller closes; InputError when missing
  std::string where(const std::string& name) const;   // "<path>: dataset '<name>'"

  std::string path_;
  hid_t id_ = -1;
};

// Writes a new HDF5 file atomically: everything goes to "<path>.tmp.<pid>", which commit()
// renames to `path`. Without commit() (an exception on the way) the temporary file is deleted.
class Hdf5Writer {
 public:
  explicit Hdf5Writer(const std::string& path);
  ~Hdf5Writer();
  Hdf5Writer(const Hdf5Writer&) = delete;
  Hdf5Writer& operator=(const Hdf5Writer&) = delete;

  void write(const std::string& name, const torch::Tensor& tensor) { file_.write(name, tensor); }
  void set_attribute(const std::string& name, const std::string& value) {
    file_.set_attribute(name, value);
  }
  void set_attribute(const std::string& name, int64_t value) { file_.set_attribute(name, value); }
  void commit();

 private:
  std::string path_, tmp_path_;
  Hdf5File file_;
  bool committed_ = false;
};

}  // namespace uoe
