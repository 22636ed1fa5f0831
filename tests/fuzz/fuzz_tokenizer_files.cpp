// Fuzzes the two tokenizer file parsers (runtime/tokenizer/): the World
// vocabulary (world_vocab.h) and the Hugging Face tokenizer.json of the 20B
// tokenizer (bpe_tokenizer.h). Each input goes to both. A tokenizer that loads
// must encode and decode a sample of the input without crashing; the World
// tokenizer's ids must decode to the exact bytes it encoded.
#include <cstdlib>
#include <string>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/tokenizer/bpe_tokenizer.h"
#include "runtime/tokenizer/world_tokenizer.h"
#include "runtime/tokenizer/world_vocab.h"

namespace {

// Encodes `text`; checks every id is in the vocabulary; returns the decoded bytes.
// Sets *ok = false when the tokenizer refuses the text (an rwkv::Error).
std::string round_trip(const rwkv::Tokenizer& t, const std::string& text, bool* ok) {
  *ok = true;
  try {
    const std::vector<int32_t> ids = t.encode(text);
    for (int32_t id : ids)
      if (id < 0 || id >= t.vocab_size()) std::abort();
    return t.decode(ids);
  } catch (const rwkv::Error&) {
    *ok = false;
    return "";
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string sample = text.substr(0, 256);
  try {
    const rwkv::WorldTokenizer world(rwkv::parse_world_vocab(text, "fuzz_vocab.txt"), "fuzz_vocab.txt");
    bool ok = false;
    const std::string back = round_trip(world, sample, &ok);
    if (ok && back != sample) std::abort();
  } catch (const rwkv::Error&) {
  }
  try {
    const rwkv::BpeTokenizer bpe(text, "fuzz_tokenizer.json");
    bool ok = false;
    (void)round_trip(bpe, sample, &ok);
  } catch (const rwkv::Error&) {
  }
  return 0;
}
