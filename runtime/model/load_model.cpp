// runtime/model/load_model.cpp: open any supported model file.
//
// The format is detected from the content: a zip archive is an official
// PyTorch checkpoint, the ggml magic marks an rwkv.cpp file, anything else must
// be safetensors (whose reader rejects non-safetensors input with a message).
#include <new>
#include <stdexcept>

#include "runtime/model/readers.h"
#include "runtime/model/zip_reader.h"

namespace rwkv {

namespace {

bool looks_like_ggml(const MappedFile& f) {
  if (f.size() < 4) return false;
  const uint8_t* p = f.data();
  return (uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24) ==
         0x67676d66u;
}

std::unique_ptr<Model> read_any_format(const std::shared_ptr<MappedFile>& file) {
  auto m = std::make_unique<Model>();
  m->file_ = file;
  m->info.path = file->path();
  m->info.file_bytes = file->size();
  if (file->size() == 0) throw Error(file->path() + ": empty file");
  if (looks_like_zip(*file)) read_pth(file, *m);
  else if (looks_like_ggml(*file)) read_ggml(file, *m);
  else read_safetensors(file, *m);
  check_model(*m, file->path());
  return m;
}

}  // namespace

std::unique_ptr<Model> load_model(std::shared_ptr<MappedFile> file, ProgressFn, void*) {
  // A hostile header can still ask for more memory than there is: that is an
  // error about this file, not an abort of the process.
  try {
    return read_any_format(file);
  } catch (const std::bad_alloc&) {
    throw OutOfMemoryError(file->path() + ": out of memory while loading the model (" + std::to_string(file->size()) +
                "-byte file)");
  } catch (const std::length_error&) {
    throw OutOfMemoryError(file->path() + ": out of memory while loading the model (a size beyond any allocation)");
  }
}

std::unique_ptr<Model> load_model(const std::string& path, ProgressFn progress, void* progress_user) {
  return load_model(MappedFile::open(path, progress, progress_user));
}

}  // namespace rwkv
