// runtime/tokenizer/tokenizer.h: the tokenizers of rwkv-run.
//
// Three kinds, all behind one interface:
//   "world"  RWKV World vocabulary (rwkv_vocab_v20230424.txt, 65536 ids): greedy
//            longest byte match through a trie, exactly as pip's TRIE_TOKENIZER.
//            Any byte string is accepted (invalid UTF-8 is tokenised byte-wise).
//   "20b"    GPT-NeoX-20B byte-level BPE (20B_tokenizer.json, 50277 ids), as the
//            Hugging Face `tokenizers` library runs it: added tokens, NFC, the
//            GPT-2 split pattern, BPE merges by rank. Invalid UTF-8 in the input
//            is first replaced by U+FFFD, one per maximal invalid subpart (what
//            Python's bytes.decode(errors='replace') and Rust's from_utf8_lossy
//            do: the reference library only ever sees valid text).
//   "bytes"  token id = byte value (256 ids): rwkv.cpp's tiny test models.
//
// Token ids are int32_t. A loaded tokenizer is safe to use from several threads.
// decode() returns raw bytes (the concatenation of the
// tokens' bytes); it is the caller's choice how to show invalid UTF-8.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rwkv {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Text (bytes, normally UTF-8) to token ids. Never throws on any input.
  virtual std::vector<int32_t> encode(const std::string& text) const = 0;

  // How many bytes of `text` encode() does not tokenize as they are: 20B
  // replaces invalid UTF-8 by U+FFFD (one per maximal invalid subpart), and
  // this counts the bytes so replaced, so a front end can say so; World and
  // bytes tokenize any bytes and return 0.
  virtual size_t replaced_bytes(const std::string& /*text*/) const { return 0; }

  // Token ids to bytes. Throws rwkv::Error for an id outside [0, vocab_size()).
  // Ids inside the range that have no vocabulary entry (World: 0 = end of text
  // and 65530..65535) decode to nothing.
  std::string decode(const std::vector<int32_t>& ids) const;

  // Number of ids (the model's n_vocab): 65536, 50277 or 256.
  virtual int32_t vocab_size() const = 0;

  // "world", "20b" or "bytes".
  virtual const char* kind() const = 0;

  // The bytes of one token (empty for ids without an entry); throws rwkv::Error
  // for an id outside [0, vocab_size()). Special tokens (20B <|endoftext|>,
  // <|padding|>) give their literal text.
  virtual const std::string& token_bytes(int32_t id) const = 0;

  // True for end-of-text style tokens: World 0, 20B's added tokens marked
  // "special" (0 and 1). pip's decode() gives "" for them (the HF decoder skips
  // special tokens; World 0 has no text).
  virtual bool is_special(int32_t id) const = 0;

  // The file the tokenizer was read from ("" for "bytes").
  const std::string& source() const { return source_; }

 protected:
  std::string source_;
};

// Loads a tokenizer. `path_or_kind` is "world", "20b" or "bytes" (the standard
// files looked up in tokenizer_dir()), or a file path: a JSON file ('{' first)
// is read as a Hugging Face byte-level BPE tokenizer, anything else as a World
// vocabulary. Throws rwkv::Error naming the file (and line) on any problem.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path_or_kind);

// The kind that goes with a model's vocabulary size: 65536 "world", 50277
// "20b", 256 "bytes". Throws rwkv::Error for any other size.
std::string tokenizer_kind_for_vocab(int64_t n_vocab);

// Where the standard tokenizer files ("world", "20b") are looked for, in order:
// $RWKV_TOKENIZER_DIR alone when set; else <prefix>/share/rwkv-run/tokenizers
// beside the running program (program_dir.h: where `cmake --install` puts
// them), then $XDG_DATA_HOME/rwkv-run/tokenizers, else
// ~/.local/share/rwkv-run/tokenizers (where scripts/fetch_tokenizers.sh puts them).
std::vector<std::string> tokenizer_search_dirs();

// The first of tokenizer_search_dirs() holding a standard file, else the last one.
std::string tokenizer_dir();

// The first existing file of a kind ("world", "20b") in tokenizer_search_dirs(); "" if none.
std::string find_tokenizer_file(const std::string& kind);

// One line for a missing standard file: its name, the directories searched, and
// how to provide it (RWKV_TOKENIZER_DIR, or the file's path).
std::string missing_tokenizer_message(const std::string& kind);

// The file a kind names inside `dir` ("world" -> rwkv_vocab_v20230424.txt,
// "20b" -> 20B_tokenizer.json); "" for other strings.
std::string tokenizer_file_for_kind(const std::string& kind, const std::string& dir);

}  // namespace rwkv
