#include "formats/hdf5_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/check.h"
#include "common/files.h"
#include "common/log.h"

namespace uoe {
namespace {

// Owns one HDF5 identifier and closes it with the matching H5?close.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

herr_t collect_error(unsigned, const H5E_error2_t* error, void* data) {
  auto* messages = static_cast<std::vector<std::string>*>(data);
  if (error->desc && error->desc[0]) {
    messages->push_back(c10::str(error->func_name ? error->func_name : "?", ": ", error->desc));
  }
  return 0;
}

// The outermost and innermost entries of HDF5's error stack (then cleared), e.g.
// "H5Fopen: unable to open file; H5FD_sec2_open: unable to open file: name = '...', errno = 13".
std::string h5_error_detail() {
  std::vector<std::string> messages;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &messages);
  H5Eclear2(H5E_DEFAULT);
  if (messages.empty()) return "no HDF5 error message";
  if (messages.size() == 1) return messages.front();
  return messages.front() + "; " + messages.back();
}

struct TypePair {
  hid_t file_type;
  hid_t memory_type;
};

TypePair hdf5_types(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat32:
      return {H5T_IEEE_F32LE, H5T_NATIVE_FLOAT};
    case torch::kFloat64:
      return {H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE};
    case torch::kInt32:
      return {H5T_STD_I32LE, H5T_NATIVE_INT32};
    case torch::kInt64:
      return {H5T_STD_I64LE, H5T_NATIVE_INT64};
    case torch::kUInt8:
      return {H5T_STD_U8LE, H5T_NATIVE_UINT8};
    case torch::kBFloat16:
      return {H5T_STD_U16LE, H5T_NATIVE_UINT16};
    default:
      UOE_ASSERT(false, "HDF5 files do not support dtype ", dtype);
  }
  return {};
}

constexpr const char* kDtypeAttribute = "dtype";

void write_string_attribute(hid_t object, const std::string& name, const std::string& value,
                            const std::string& where) {
  if (H5_CHECK(H5Aexists(object, name.c_str()), where) > 0) {
    H5_CHECK(H5Adelete(object, name.c_str()), where);
  }
  Handle type(H5_CHECK(H5Tcopy(H5T_C_S1), where), H5Tclose);
  H5_CHECK(H5Tset_size(type.get(), H5T_VARIABLE), where);
  H5_CHECK(H5Tset_cset(type.get(), H5T_CSET_UTF8), where);
  Handle space(H5_CHECK(H5Screate(H5S_SCALAR), where), H5Sclose);
  Handle attr(
      H5_CHECK(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
               where, " attribute ", name),
      H5Aclose);
  const char* data = value.c_str();
  H5_CHECK(H5Awrite(attr.get(), type.get(), &data), where, " attribute ", name);
}

std::string read_string_attribute(hid_t object, const std::string& name, const std::string& where) {
  UOE_CHECK(H5_CHECK(H5Aexists(object, name.c_str()), where) > 0, where, ": missing attribute '",
            name, "'");
  Handle attr(H5_CHECK(H5Aopen(object, name.c_str(), H5P_DEFAULT), where), H5Aclose);
  Handle file_type(H5_CHECK(H5Aget_type(attr.get()), where), H5Tclose);
  UOE_CHECK(H5Tget_class(file_type.get()) == H5T_STRING, where, ": attribute '", name,
            "' is not a string");
  Handle type(H5_CHECK(H5Tcopy(H5T_C_S1), where), H5Tclose);
  H5_CHECK(H5Tset_cset(type.get(), H5Tget_cset(file_type.get())), where);
  if (H5_CHECK(H5Tis_variable_str(file_type.get()), where) > 0) {
    H5_CHECK(H5Tset_size(type.get(), H5T_VARIABLE), where);
    char* data = nullptr;
    H5_CHECK(H5Aread(attr.get(), type.get(), &data), where, " attribute ", name);
    std::string value = data ? data : "";
    H5free_memory(data);
    return value;
  }
  // Fixed length: one more byte than stored, so that a null-padded (unterminated) string of full
  // length keeps its last character when HDF5 converts it to a null-terminated one.
  const size_t size = H5Tget_size(file_type.get()) + 1;
  H5_CHECK(H5Tset_size(type.get(), size), where);
  std::string value(size, '\0');
  H5_CHECK(H5Aread(attr.get(), type.get(), value.data()), where, " attribute ", name);
  value.resize(std::strlen(value.c_str()));
  return value;
}

}  // namespace

void silence_hdf5_errors() {
  static const bool silenced = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)silenced;
}

void throw_h5_error(const char* call, int64_t code, const std::string& where) {
  throw InternalError(c10::str(rank_tag(), " HDF5 call ", call, " failed with code ", code,
                               where.empty() ? "" : " (", where, where.empty() ? "" : ")", ": ",
                               h5_error_detail()));
}

Hdf5File::Hdf5File(const std::string& path, Mode mode) : path_(path) {
  silence_hdf5_errors();
  // Use file locking where the file system supports it; ignore it where it does not (Lustre, NFS).
  Handle access(H5_CHECK(H5Pcreate(H5P_FILE_ACCESS), path), H5Pclose);
#if H5_VERSION_GE(1, 12, 1) || (H5_VERSION_GE(1, 10, 7) && !H5_VERSION_GE(1, 12, 0))
  H5_CHECK(H5Pset_file_locking(access.get(), true, true), path);
#endif
  if (mode == Mode::kRead) {
    UOE_CHECK(is_file(path), "cannot open '", path, "': no such file");
    UOE_CHECK(H5Fis_hdf5(path.c_str()) > 0, "'", path, "' is not an HDF5 file");
    id_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, access.get());
    UOE_CHECK(id_ >= 0, "cannot open HDF5 file '", path, "': ", h5_error_detail());
  } else {
    id_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get());
    UOE_CHECK(id_ >= 0, "cannot create HDF5 file '", path, "': ", h5_error_detail());
  }
}

Hdf5File::~Hdf5File() {
  if (id_ >= 0) H5Fclose(id_);
}

Hdf5File::Hdf5File(Hdf5File&& other) noexcept : path_(std::move(other.path_)), id_(other.id_) {
  other.id_ = -1;
}

Hdf5File& Hdf5File::operator=(Hdf5File&& other) noexcept {
  if (this != &other) {
    if (id_ >= 0) H5Fclose(id_);
    path_ = std::move(other.path_);
    id_ = other.id_;
    other.id_ = -1;
  }
  return *this;
}

void Hdf5File::close() {
  if (id_ < 0) return;
  const hid_t id = id_;
  id_ = -1;
  H5_CHECK(H5Fclose(id), path_);
}

std::string Hdf5File::where(const std::string& name) const {
  return c10::str(path_, ": dataset '", name, "'");
}

hid_t Hdf5File::open_dataset(const std::string& name) const {
  UOE_CHECK(has_dataset(name), path_, ": no dataset '", name, "'");
  return H5_CHECK(H5Dopen2(id_, name.c_str(), H5P_DEFAULT), where(name));
}

bool Hdf5File::has_dataset(const std::string& name) const {
  if (name.empty() || name.find('/') != std::string::npos) return false;
  if (H5_CHECK(H5Lexists(id_, name.c_str(), H5P_DEFAULT), where(name)) <= 0) return false;
  Handle object(H5_CHECK(H5Oopen(id_, name.c_str(), H5P_DEFAULT), where(name)), H5Oclose);
  return H5Iget_type(object.get()) == H5I_DATASET;
}

std::vector<std::string> Hdf5File::dataset_names() const {
  H5G_info_t info;
  H5_CHECK(H5Gget_info(id_, &info), path_);
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t size = H5_CHECK(
        H5Lget_name_by_idx(id_, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT),
        path_);
    std::string name(static_cast<size_t>(size) + 1, '\0');
    H5_CHECK(H5Lget_name_by_idx(id_, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                                H5P_DEFAULT),
             path_);
    name.resize(static_cast<size_t>(size));
    if (has_dataset(name)) names.push_back(name);
  }
  return names;
}

std::vector<int64_t> Hdf5File::shape(const std::string& name) const {
  Handle dataset(open_dataset(name), H5Dclose);
  Handle space(H5_CHECK(H5Dget_space(dataset.get()), where(name)), H5Sclose);
  const int ndims = H5_CHECK(H5Sget_simple_extent_ndims(space.get()), where(name));
  std::vector<hsize_t> dims(static_cast<size_t>(ndims));
  H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), where(name));
  return std::vector<int64_t>(dims.begin(), dims.end());
}

torch::ScalarType Hdf5File::dtype(const std::string& name) const {
  Handle dataset(open_dataset(name), H5Dclose);
  Handle type(H5_CHECK(H5Dget_type(dataset.get()), where(name)), H5Tclose);
  const H5T_class_t type_class = H5Tget_class(type.get());
  const size_t size = H5Tget_size(type.get());
  if (type_class == H5T_FLOAT && size == 4) return torch::kFloat32;
  if (type_class == H5T_FLOAT && size == 8) return torch::kFloat64;
  if (type_class == H5T_INTEGER) {
    const bool is_signed = H5Tget_sign(type.get()) == H5T_SGN_2;
    if (is_signed && size == 4) return torch::kInt32;
    if (is_signed && size == 8) return torch::kInt64;
    if (!is_signed && size == 1) return torch::kUInt8;
    if (!is_signed && size == 2 &&
        H5_CHECK(H5Aexists(dataset.get(), kDtypeAttribute), where(name)) > 0 &&
        read_string_attribute(dataset.get(), kDtypeAttribute, where(name)) == "bfloat16") {
      return torch::kBFloat16;
    }
  }
  UOE_CHECK(false, where(name), " has an unsupported type (HDF5 class ", int(type_class), ", ",
            size, " bytes); expected float32, float64, bfloat16, int32, int64 or uint8");
  return torch::kFloat32;
}

torch::Tensor Hdf5File::read(const std::string& name) const {
  const auto dims = shape(name);
  const auto scalar_type = dtype(name);
  auto tensor = torch::empty(dims, torch::TensorOptions().dtype(scalar_type));  // CPU, contiguous
  if (tensor.numel() == 0) return tensor;
  Handle dataset(open_dataset(name), H5Dclose);
  H5_CHECK(H5Dread(dataset.get(), hdf5_types(scalar_type).memory_type, H5S_ALL, H5S_ALL,
                   H5P_DEFAULT, tensor.data_ptr()),
           where(name));
  return tensor;
}

void Hdf5File::read_into(const std::string& name, const torch::Tensor& dst) const {
  const auto dims = shape(name);
  UOE_CHECK(dst.sizes() == at::IntArrayRef(dims), where(name), " has shape ", at::IntArrayRef(dims),
            ", expected ", dst.sizes());
  const auto stored = dtype(name);
  // Floating-point weights convert (fp32 <-> bf16, one tensor at a time, as HF's loader does for
  // torch_dtype); any other difference is a file for another model.
  UOE_CHECK(stored == dst.scalar_type() ||
                (c10::isFloatingType(stored) && c10::isFloatingType(dst.scalar_type())),
            where(name), " has dtype ", stored, ", expected ", dst.scalar_type());
  torch::NoGradGuard no_grad;
  dst.copy_(read(name));
}

void Hdf5File::write(const std::string& name, const torch::Tensor& tensor) {
  UOE_ASSERT(!name.empty() && name.find('/') == std::string::npos, "bad dataset name '", name, "'");
  UOE_ASSERT(!has_dataset(name), where(name), " written twice");
  const auto types = hdf5_types(tensor.scalar_type());
  auto data = tensor.detach().to(torch::kCPU).contiguous();
  const std::vector<hsize_t> dims(data.sizes().begin(), data.sizes().end());
  Handle space(dims.empty()
                   ? H5_CHECK(H5Screate(H5S_SCALAR), where(name))
                   : H5_CHECK(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                              where(name)),
               H5Sclose);
  // Without modification times, the same tensors give byte-identical files.
  Handle create(H5_CHECK(H5Pcreate(H5P_DATASET_CREATE), where(name)), H5Pclose);
  H5_CHECK(H5Pset_obj_track_times(create.get(), false), where(name));
  Handle dataset(H5_CHECK(H5Dcreate2(id_, name.c_str(), types.file_type, space.get(), H5P_DEFAULT,
                                     create.get(), H5P_DEFAULT),
                          where(name)),
                 H5Dclose);
  if (data.numel() > 0) {
    H5_CHECK(
        H5Dwrite(dataset.get(), types.memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data_ptr()),
        where(name));
  }
  if (data.scalar_type() == torch::kBFloat16) {
    write_string_attribute(dataset.get(), kDtypeAttribute, "bfloat16", where(name));
  }
}

void Hdf5File::set_attribute(const std::string& name, const std::string& value) {
  write_string_attribute(id_, name, value, path_);
}

void Hdf5File::set_attribute(const std::string& name, int64_t value) {
  if (H5_CHECK(H5Aexists(id_, name.c_str()), path_) > 0) {
    H5_CHECK(H5Adelete(id_, name.c_str()), path_);
  }
  Handle space(H5_CHECK(H5Screate(H5S_SCALAR), path_), H5Sclose);
  Handle attr(
      H5_CHECK(H5Acreate2(id_, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
               path_, " attribute ", name),
      H5Aclose);
  H5_CHECK(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), path_, " attribute ", name);
}

bool Hdf5File::has_attribute(const std::string& name) const {
  return H5_CHECK(H5Aexists(id_, name.c_str()), path_) > 0;
}

std::string Hdf5File::string_attribute(const std::string& name) const {
  return read_string_attribute(id_, name, path_);
}

int64_t Hdf5File::int_attribute(const std::string& name) const {
  UOE_CHECK(has_attribute(name), path_, ": missing attribute '", name, "'");
  Handle attr(H5_CHECK(H5Aopen(id_, name.c_str(), H5P_DEFAULT), path_), H5Aclose);
  Handle type(H5_CHECK(H5Aget_type(attr.get()), path_), H5Tclose);
  UOE_CHECK(H5Tget_class(type.get()) == H5T_INTEGER, path_, ": attribute '", name,
            "' is not an integer");
  int64_t value = 0;
  H5_CHECK(H5Aread(attr.get(), H5T_NATIVE_INT64, &value), path_, " attribute ", name);
  return value;
}

Hdf5Writer::Hdf5Writer(const std::string& path)
    : path_(path),
      tmp_path_(c10::str(path, ".tmp.", ::getpid())),
      file_(tmp_path_, Hdf5File::Mode::kCreate) {}

Hdf5Writer::~Hdf5Writer() {
  if (committed_) return;
  try {
    file_.close();
  } catch (const std::exception&) {
    // The temporary file is removed below either way.
  }
  std::remove(tmp_path_.c_str());
}

void Hdf5Writer::commit() {
  UOE_ASSERT(!committed_, path_, " committed twice");
  file_.close();
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(tmp_path_.c_str());
    UOE_CHECK(false, "cannot rename ", tmp_path_, " to ", path_, ": ", reason);
  }
  committed_ = true;
}

}  // namespace uoe
