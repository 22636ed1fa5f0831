// runtime/tokenizer/world_vocab_check.h: is a file named like the official
// World vocabulary really that vocabulary?
//
// A copy of rwkv_vocab_v20230424.txt cut at a line boundary still parses (its
// lines are independent) and tokenizes, just worse, and silently. So a file
// with the official name must hold exactly the official token table: 65529
// tokens, ids 1..65529, and the same bytes for each (compared through a
// checksum of the parsed table, so LF/CRLF line ends do not matter). Files
// with other names are custom vocabularies and are not compared.
#pragma once

#include <string>
#include <vector>

namespace rwkv {

constexpr const char* kOfficialWorldVocabName = "rwkv_vocab_v20230424.txt";

// Throws rwkv::Error naming `path` and what was expected when `path`'s file
// name is kOfficialWorldVocabName but `tokens` (as parse_world_vocab returns
// them) differ from the official table.
void check_official_world_vocab(const std::vector<std::string>& tokens, const std::string& path);

}  // namespace rwkv
