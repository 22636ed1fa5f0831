// runtime/tokenizer/world_vocab.h: reader of the RWKV World vocabulary file
// (rwkv_vocab_v20230424.txt). One token a line: `<id> <literal> <byte length>`,
// the literal a Python str ('...' or "...", UTF-8 encoded) or bytes (b'...')
// with Python's escapes; LF or CRLF line ends. Split as pip does: the id runs
// to the first space, the literal to the last space.
#pragma once

#include <string>
#include <vector>

namespace rwkv {

// Token bytes indexed by id; ids absent from the file have empty entries. The
// vector's size is max(65536, largest id + 1). Every single byte must be a
// token (the greedy match needs it). Throws rwkv::Error "<source>:<line>: ..."
// for a malformed line, a duplicate id or a length that does not match.
std::vector<std::string> parse_world_vocab(const std::string& content, const std::string& source);

// Decodes one Python string or bytes literal (no surrounding spaces) to bytes.
// Throws rwkv::Error with `what` describing the problem on malformed input.
std::string decode_python_literal(const std::string& literal);

}  // namespace rwkv
