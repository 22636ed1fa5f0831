// runtime/model/zip_reader.cpp: zip central directory (APPNOTE.TXT sections
// 4.3.12-4.3.16, zip64 4.3.14/4.5.3).
#include "runtime/model/zip_reader.h"

namespace rwkv {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;

uint32_t le32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

struct Directory {
  uint64_t entries = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
};

// Finds the end-of-central-directory record (scanning back over a comment of
// up to 64 KiB) and, if present, the zip64 one.
Directory find_directory(const MappedFile& f) {
  const std::string what = f.path() + " (zip)";
  const uint64_t n = f.size();
  if (n < 22) throw Error(what + ": too small to be a zip archive (" + std::to_string(n) + " bytes)");
  uint64_t lowest = n > 22 + 65535 ? n - 22 - 65535 : 0;
  uint64_t eocd = UINT64_MAX;
  for (uint64_t p = n - 22 + 1; p-- > lowest;) {
    const uint8_t* d = f.data() + p;
    if (le32(d) == kEndSig && p + 22 + (uint64_t(d[20]) | uint64_t(d[21]) << 8) == n) {
      eocd = p;
      break;
    }
  }
  if (eocd == UINT64_MAX)
    throw Error(what + ": no end-of-central-directory record (file truncated or not a zip)");

  ByteCursor c(f.data() + eocd, 22, what, eocd);
  c.u32();
  uint16_t disk = c.u16(), cd_disk = c.u16();
  uint16_t n_disk = c.u16();
  uint16_t n_total = c.u16();
  uint32_t cd_size = c.u32(), cd_offset = c.u32();
  if (disk != 0 || cd_disk != 0 || n_disk != n_total)
    throw Error(what + ": multi-disk zip archives are not supported");
  Directory dir{n_total, cd_offset, cd_size};

  // zip64: a locator sits just before the classic record.
  if (eocd >= 20 && le32(f.data() + eocd - 20) == kZip64LocatorSig) {
    ByteCursor loc(f.data() + eocd - 20, 20, what, eocd - 20);
    loc.u32();
    loc.u32();  // disk with the zip64 record
    uint64_t z_off = loc.u64();
    ByteCursor z(f.span(z_off, 56, "zip64 end-of-central-directory record"), 56, what, z_off);
    if (z.u32() != kZip64EndSig) z.fail("bad zip64 end-of-central-directory signature");
    z.u64();  // record size
    z.u16();
    z.u16();  // versions
    if (z.u32() != 0 || z.u32() != 0) z.fail("multi-disk zip64 archives are not supported");
    uint64_t z_n_disk = z.u64(), z_n_total = z.u64();
    if (z_n_disk != z_n_total) z.fail("multi-disk zip64 archives are not supported");
    dir.entries = z_n_total;
    dir.size = z.u64();
    dir.offset = z.u64();
  }
  f.span(dir.offset, dir.size, "zip central directory");
  if (dir.entries > dir.size / 46)
    throw Error(what + ": central directory claims " + std::to_string(dir.entries) +
                " entries but has only " + std::to_string(dir.size) + " bytes");
  return dir;
}

}  // namespace

bool looks_like_zip(const MappedFile& f) {
  return f.size() >= 4 && le32(f.data()) == kLocalSig;
}

std::vector<ZipEntry> read_zip_directory(const MappedFile& f) {
  const std::string what = f.path() + " (zip)";
  Directory dir = find_directory(f);
  ByteCursor c(f.data() + dir.offset, dir.size, what, dir.offset);
  std::vector<ZipEntry> entries;
  entries.reserve(size_t(dir.entries));
  for (uint64_t i = 0; i < dir.entries; i++) {
    if (c.u32() != kCentralSig) c.fail("bad central directory entry signature");
    c.u16();  // version made by
    c.u16();  // version needed
    uint16_t flags = c.u16();
    uint16_t method = c.u16();
    c.u32();  // time, date
    c.u32();  // crc32
    uint64_t csize = c.u32();
    uint64_t usize = c.u32();
    uint16_t name_len = c.u16(), extra_len = c.u16(), comment_len = c.u16();
    c.u16();  // disk number start
    c.u16();  // internal attributes
    c.u32();  // external attributes
    uint64_t local = c.u32();
    ZipEntry e;
    e.name.assign(reinterpret_cast<const char*>(c.bytes(name_len)), name_len);
    // zip64 extended information: 64-bit values for the fields saturated above.
    ByteCursor extra(c.bytes(extra_len), extra_len, what, dir.offset + c.pos() - extra_len);
    while (extra.remaining() >= 4) {
      uint16_t id = extra.u16(), len = extra.u16();
      ByteCursor field(extra.bytes(len), len, what);
      if (id != 0x0001) continue;
      if (usize == 0xffffffffu) usize = field.u64();
      if (csize == 0xffffffffu) csize = field.u64();
      if (local == 0xffffffffu) local = field.u64();
    }
    c.bytes(comment_len);
    if (flags & 1u) throw Error(what + ": entry '" + e.name + "' is encrypted");
    e.method = method;
    e.size = usize;
    if (method == 0 && csize != usize)
      throw Error(what + ": stored entry '" + e.name + "' has compressed size " +
                  std::to_string(csize) + " != size " + std::to_string(usize));

    // The local header repeats the name and may carry a different extra field
    // (PyTorch pads it so that data is 64-byte aligned).
    ByteCursor lh(f.span(local, 30, "zip local header"), 30, what, local);
    if (lh.u32() != kLocalSig) lh.fail("bad local header signature for '" + e.name + "'");
    lh.bytes(22);
    uint64_t lname = lh.u16(), lextra = lh.u16();
    e.data_offset = local + 30 + lname + lextra;
    f.span(e.data_offset, csize, "zip entry data");
    entries.push_back(std::move(e));
  }
  return entries;
}

}  // namespace rwkv
