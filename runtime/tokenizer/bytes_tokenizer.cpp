// runtime/tokenizer/bytes_tokenizer.cpp: see bytes_tokenizer.h.
#include "runtime/tokenizer/bytes_tokenizer.h"

#include "runtime/core/error.h"

namespace rwkv {

BytesTokenizer::BytesTokenizer() : bytes_(256) {
  for (int b = 0; b < 256; ++b) bytes_[size_t(b)] = std::string(1, char(b));
}

std::vector<int32_t> BytesTokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
  return ids;
}

const std::string& BytesTokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= 256) throw Error("token id " + std::to_string(id) + " is outside the byte vocabulary (0..255)");
  return bytes_[size_t(id)];
}

}  // namespace rwkv
