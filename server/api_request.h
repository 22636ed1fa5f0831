// server/api_request.h: the body of POST /v1/completions and
// /v1/chat/completions, read and checked (docs/server.md, "Requests").
//
// Every problem is an ApiError with the HTTP status and an OpenAI-style error
// (type, message naming the field, param). Fields a server may ignore (user,
// metadata, ...) are ignored; fields asking for what rwkv-run does not do
// (n > 1, logprobs, echo, best_of > 1, suffix, tools) are refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "server/chat_format.h"

namespace rwkv {
namespace server {

struct ApiError : std::runtime_error {
  ApiError(int status, std::string type, const std::string& message, std::string param = "", std::string code = "")
      : std::runtime_error(message), status(status), type(std::move(type)), param(std::move(param)),
        code(std::move(code)) {}
  int status;
  std::string type;   // "invalid_request_error", "authentication_error", ...
  std::string param;  // the field at fault, or ""
  std::string code;   // e.g. "model_not_found", "context_length_exceeded", or ""
};

// The server's defaults for what a request leaves out (rwkv-run serve's sampling options).
struct RequestDefaults {
  double temperature = 1.0, top_p = 0.85;
  int top_k = 0;
  double presence_penalty = 0.2, frequency_penalty = 0.2, penalty_decay = 0.996;
  size_t completion_max_tokens = 16;  // /v1/completions without max_tokens (OpenAI's default)
  size_t chat_max_tokens = 1024;      // /v1/chat/completions without max_tokens
  size_t max_tokens_limit = 16384;    // the largest max_tokens accepted
};

struct ApiRequest {
  bool chat = false;
  std::string model;                 // "" when not given
  std::vector<std::string> pieces;   // completions: the prompt; chat: render_chat()'s pieces
  std::vector<int32_t> prompt_ids;   // completions given token ids instead of text
  bool stream = false, include_usage = false;
  size_t max_tokens = 16;
  double temperature = 1.0, top_p = 1.0, presence_penalty = 0, frequency_penalty = 0, penalty_decay = 0.996;
  int top_k = 0;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  std::vector<std::pair<int32_t, float>> logit_bias;  // token, bias in [-100, 100]
};

// Parses and checks `body`; `tokenizer_kind` renders chat messages. Throws ApiError.
ApiRequest parse_api_request(const std::string& body, bool chat, const std::string& tokenizer_kind,
                             const RequestDefaults& defaults);

}  // namespace server
}  // namespace rwkv
