// runtime/tokenizer/world_vocab_check.cpp: see world_vocab_check.h.
#include "runtime/tokenizer/world_vocab_check.h"

#include <cstdint>
#include <cstdio>

#include "runtime/core/error.h"

namespace rwkv {

namespace {

// The official rwkv_vocab_v20230424.txt (1093733 bytes, 65529 lines; a copy is
// testdata/tokenizer/rwkv_vocab_v20230424.txt): its tokens and the FNV-1a 64
// checksum of its table as table_checksum() computes it.
constexpr size_t kOfficialTokens = 65529;
constexpr uint64_t kOfficialChecksum = 0x5051c95515dafe6eull;

// FNV-1a 64 over (id u32 LE, length u32 LE, bytes) of every token, by id.
uint64_t table_checksum(const std::vector<std::string>& tokens, size_t* count, size_t* max_id) {
  uint64_t h = 0xCBF29CE484222325ull;
  auto add = [&h](const unsigned char* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001B3ull;
  };
  auto add_u32 = [&add](uint32_t v) {
    const unsigned char b[4] = {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)};
    add(b, 4);
  };
  *count = 0;
  *max_id = 0;
  for (size_t id = 0; id < tokens.size(); ++id) {
    if (tokens[id].empty()) continue;  // an id the file does not have
    add_u32(uint32_t(id));
    add_u32(uint32_t(tokens[id].size()));
    add(reinterpret_cast<const unsigned char*>(tokens[id].data()), tokens[id].size());
    ++*count;
    *max_id = id;
  }
  return h;
}

std::string file_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

void check_official_world_vocab(const std::vector<std::string>& tokens, const std::string& path) {
  if (file_name(path) != kOfficialWorldVocabName) return;
  size_t count = 0, max_id = 0;
  const uint64_t sum = table_checksum(tokens, &count, &max_id);
  if (count == kOfficialTokens && sum == kOfficialChecksum) return;
  char hex[2][24];
  std::snprintf(hex[0], sizeof hex[0], "%016llx", static_cast<unsigned long long>(sum));
  std::snprintf(hex[1], sizeof hex[1], "%016llx", static_cast<unsigned long long>(kOfficialChecksum));
  throw Error(path + ": not the official World vocabulary its name says: " + std::to_string(count) +
              " tokens (largest id " + std::to_string(max_id) + ", table checksum " + hex[0] + "), the official " +
              kOfficialWorldVocabName + " has " + std::to_string(kOfficialTokens) + " (ids 1.." +
              std::to_string(kOfficialTokens) + ", checksum " + hex[1] +
              "); truncated or modified? (fetch it again with scripts/fetch_tokenizers.sh; give a custom "
              "vocabulary another file name)");
}

}  // namespace rwkv
