// Fuzzes the server's request parsing and chat rendering (server/api_request.h,
// server/chat_format.h): any body, as a completion or a chat request, for each
// tokenizer family. A malformed body must be an ApiError (a 400-style answer),
// never another exception or a crash; what parses must have a prompt.
#include <cstdlib>
#include <string>

#include "server/api_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  for (const bool chat : {false, true})
    for (const char* kind : {"world", "20b"}) {
      try {
        const rwkv::server::ApiRequest r =
            rwkv::server::parse_api_request(body, chat, kind, rwkv::server::RequestDefaults{});
        if (r.pieces.empty() && r.prompt_ids.empty()) std::abort();
        if (r.max_tokens < 1) std::abort();
      } catch (const rwkv::server::ApiError& e) {
        if (e.status < 400 || e.status > 499) std::abort();
      }
    }
  return 0;
}
