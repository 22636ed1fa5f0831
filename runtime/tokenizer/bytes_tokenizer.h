// runtime/tokenizer/bytes_tokenizer.h: token id = byte value (256 ids), the
// vocabulary of rwkv.cpp's tiny byte-level test models.
#pragma once

#include <string>
#include <vector>

#include "runtime/tokenizer/tokenizer.h"

namespace rwkv {

class BytesTokenizer : public Tokenizer {
 public:
  BytesTokenizer();
  std::vector<int32_t> encode(const std::string& text) const override;
  int32_t vocab_size() const override { return 256; }
  const char* kind() const override { return "bytes"; }
  const std::string& token_bytes(int32_t id) const override;
  bool is_special(int32_t) const override { return false; }

 private:
  std::vector<std::string> bytes_;
};

}  // namespace rwkv
