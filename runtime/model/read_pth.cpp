// runtime/model/read_pth.cpp: official PyTorch checkpoints (torch.save of a
// dict of tensors: a zip archive holding <archive>/data.pkl and one entry
// <archive>/data/<key> per storage, stored uncompressed).
#include <map>

#include "runtime/model/byte_ranges.h"
#include "runtime/model/readers.h"
#include "runtime/model/torch_pickle.h"
#include "runtime/model/zip_reader.h"

namespace rwkv {

void add_file_tensor(Model& m, Tensor t) {
  if (reinterpret_cast<uintptr_t>(t.data) % dtype_size(t.dtype) == 0) {
    m.add_view(std::move(t));
    return;
  }
  const uint8_t* src = static_cast<const uint8_t*>(t.data);
  std::vector<uint8_t> copy(src, src + t.nbytes);
  m.add_owned(std::move(t), std::move(copy));
}

void read_pth(const std::shared_ptr<MappedFile>& file, Model& m) {
  const std::string& path = file->path();
  std::vector<ZipEntry> entries = read_zip_directory(*file);

  // The archive's top folder is whatever precedes "/data.pkl".
  const ZipEntry* pkl = nullptr;
  std::map<std::string, const ZipEntry*> by_name;
  for (const ZipEntry& e : entries) {
    if (!by_name.emplace(e.name, &e).second)
      throw Error(path + ": zip entry '" + e.name + "' appears twice");
    const std::string suffix = "/data.pkl";
    if (e.name.size() > suffix.size() &&
        e.name.compare(e.name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        e.name.find('/') == e.name.size() - suffix.size()) {
      if (pkl) throw Error(path + ": more than one data.pkl in the archive");
      pkl = &e;
    }
  }
  if (!pkl) throw Error(path + ": zip archive has no <name>/data.pkl: not a torch.save checkpoint");
  const std::string prefix = pkl->name.substr(0, pkl->name.size() - 8);  // "<name>/"

  auto stored = [&](const ZipEntry& e) {
    if (e.method != 0)
      throw Error(path + ": zip entry '" + e.name + "' is compressed (method " +
                  std::to_string(e.method) +
                  "); torch.save stores entries uncompressed, re-save the file with torch.save");
    return file->span(e.data_offset, e.size, "zip entry");
  };

  auto bo = by_name.find(prefix + "byteorder");
  if (bo != by_name.end()) {
    const uint8_t* p = stored(*bo->second);
    std::string order(reinterpret_cast<const char*>(p), size_t(bo->second->size));
    if (order != "little") throw Error(path + ": byteorder '" + order + "' is not supported");
  }

  const uint8_t* pkl_data = stored(*pkl);
  std::vector<PickledTensor> tensors = read_torch_pickle(pkl_data, pkl->size, path);

  std::vector<ByteRange> ranges;  // every tensor's bytes in the file, checked for overlaps at the end
  for (PickledTensor& pt : tensors) {
    auto it = by_name.find(prefix + "data/" + pt.storage_key);
    if (it == by_name.end())
      throw Error(path + ": tensor '" + pt.name + "' refers to missing storage data/" + pt.storage_key);
    const ZipEntry& e = *it->second;
    const uint8_t* base = stored(e);
    const uint64_t esize = dtype_size(pt.dtype);
    uint64_t storage_bytes;
    if (!mul_ok(pt.storage_numel, esize, &storage_bytes) || storage_bytes > e.size)
      throw Error(path + ": storage data/" + pt.storage_key + " holds " + std::to_string(e.size) +
                  " bytes, less than the " + std::to_string(pt.storage_numel) + " elements of tensor '" +
                  pt.name + "'");
    Tensor t;
    t.name = pt.name;
    t.dtype = pt.dtype;
    t.shape = pt.shape;
    t.data = base + pt.offset * esize;  // offset + numel <= storage_numel (checked)
    t.nbytes = size_t(uint64_t(t.numel()) * esize);
    const uint64_t begin = e.data_offset + pt.offset * esize;
    ranges.push_back(ByteRange{begin, begin + t.nbytes, pt.name});
    add_file_tensor(m, std::move(t));
  }
  check_disjoint(ranges, path);
  m.info.format = "pth";
}

}  // namespace rwkv
