// server/api_request.cpp: see api_request.h.
#include "server/api_request.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>

namespace rwkv {
namespace server {

namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& param, const std::string& message) {
  throw ApiError(400, "invalid_request_error", message, param);
}

// A number field within [lo, hi], or `fallback` when absent or null.
double number_field(const json& j, const char* name, double lo, double hi, double fallback) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number()) bad(name, std::string("'") + name + "' must be a number");
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi)
    bad(name, std::string("'") + name + "' must be in [" + json(lo).dump() + ", " + json(hi).dump() + "], got " +
                  it->dump());
  return v;
}

// An integer field within [lo, hi], or `fallback`.
long long integer_field(const json& j, const char* name, long long lo, long long hi, long long fallback) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) bad(name, std::string("'") + name + "' must be an integer");
  if (it->is_number_unsigned() && it->get<unsigned long long>() > (unsigned long long)hi)
    bad(name, std::string("'") + name + "' must be at most " + std::to_string(hi));
  const long long v = it->get<long long>();
  if (v < lo || v > hi)
    bad(name, std::string("'") + name + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v;
}

bool bool_field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return false;
  if (!it->is_boolean()) bad(name, std::string("'") + name + "' must be true or false");
  return it->get<bool>();
}

// Fields whose non-default values rwkv-run does not implement.
void refuse_unsupported(const json& j) {
  if (integer_field(j, "n", 1, 1 << 20, 1) != 1) bad("n", "'n' must be 1 (one choice per request)");
  if (integer_field(j, "best_of", 1, 1 << 20, 1) != 1) bad("best_of", "'best_of' must be 1");
  for (const char* name : {"logprobs", "top_logprobs", "echo", "suffix", "tools", "functions", "tool_choice"}) {
    auto it = j.find(name);
    if (it != j.end() && !it->is_null() && !(it->is_boolean() && !it->get<bool>()))
      bad(name, std::string("'") + name + "' is not supported by rwkv-run serve");
  }
}

std::string text_content(const json& content, size_t index) {
  const std::string param = "messages[" + std::to_string(index) + "].content";
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) bad(param, "'" + param + "' must be a string or an array of text parts");
  std::string text;
  for (const json& part : content) {
    if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
        !part["text"].is_string())
      bad(param, "'" + param + "' parts must be {\"type\": \"text\", \"text\": \"...\"}");
    text += part["text"].get<std::string>();
  }
  return text;
}

std::vector<ChatMessage> read_messages(const json& j) {
  auto it = j.find("messages");
  if (it == j.end() || !it->is_array() || it->empty()) bad("messages", "'messages' must be a non-empty array");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string param = "messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      bad(param, "'" + param + "' must be an object with a string 'role'");
    const std::string role = m["role"].get<std::string>();
    if (role != "system" && role != "user" && role != "assistant" && role != "developer")
      bad(param + ".role", "'" + param + ".role' must be system, user or assistant, got '" + role + "'");
    if (!m.contains("content")) bad(param + ".content", "'" + param + ".content' is missing");
    out.push_back(ChatMessage{role == "developer" ? "system" : role, text_content(m["content"], i)});
  }
  return out;
}

void read_prompt(const json& j, ApiRequest& r) {
  auto it = j.find("prompt");
  if (it == j.end()) bad("prompt", "'prompt' is missing");
  const json& p = *it;
  if (p.is_string()) {
    r.pieces = {p.get<std::string>()};
  } else if (p.is_array() && p.size() == 1 && p[0].is_string()) {
    r.pieces = {p[0].get<std::string>()};
  } else if (p.is_array() && !p.empty() && p[0].is_number_integer()) {
    for (const json& t : p) {
      if (!t.is_number_integer() || t.get<long long>() < 0 || t.get<long long>() > INT32_MAX)
        bad("prompt", "'prompt' token ids must be integers in [0, 2^31)");
      r.prompt_ids.push_back((int32_t)t.get<long long>());
    }
  } else {
    bad("prompt", "'prompt' must be a string, an array of one string, or an array of token ids");
  }
  if (r.prompt_ids.empty() && r.pieces[0].empty()) bad("prompt", "'prompt' is empty");
}

std::vector<std::string> read_stop(const json& j) {
  auto it = j.find("stop");
  if (it == j.end() || it->is_null()) return {};
  if (it->is_string()) return {it->get<std::string>()};
  if (!it->is_array() || it->size() > 16) bad("stop", "'stop' must be a string or an array of at most 16 strings");
  std::vector<std::string> out;
  for (const json& s : *it) {
    if (!s.is_string()) bad("stop", "'stop' entries must be strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

std::vector<std::pair<int32_t, float>> read_logit_bias(const json& j) {
  auto it = j.find("logit_bias");
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_object()) bad("logit_bias", "'logit_bias' must be an object of token id -> bias");
  std::vector<std::pair<int32_t, float>> out;
  for (auto e = it->begin(); e != it->end(); ++e) {
    const std::string& key = e.key();
    char* end = nullptr;
    const long long id = key.empty() || key.size() > 10 ? -1 : std::strtoll(key.c_str(), &end, 10);
    if (id < 0 || id > INT32_MAX || *end != '\0') bad("logit_bias", "'logit_bias' keys must be token ids, got '" + key + "'");
    if (!e.value().is_number() || !std::isfinite(e.value().get<double>()) || std::fabs(e.value().get<double>()) > 100)
      bad("logit_bias", "'logit_bias' values must be numbers in [-100, 100]");
    out.emplace_back((int32_t)id, e.value().get<float>());
  }
  return out;
}

void read_sampling(const json& j, const RequestDefaults& d, ApiRequest& r) {
  r.temperature = number_field(j, "temperature", 0, 2, d.temperature);
  r.top_p = number_field(j, "top_p", 0, 1, d.top_p);
  r.top_k = (int)integer_field(j, "top_k", 0, 1 << 30, d.top_k);
  r.presence_penalty = number_field(j, "presence_penalty", -2, 2, d.presence_penalty);
  r.frequency_penalty = number_field(j, "frequency_penalty", -2, 2, d.frequency_penalty);
  r.penalty_decay = number_field(j, "penalty_decay", 0, 1, d.penalty_decay);
  auto seed = j.find("seed");
  if (seed != j.end() && !seed->is_null()) {
    if (!seed->is_number_integer()) bad("seed", "'seed' must be an integer");
    r.seed = seed->is_number_unsigned() ? seed->get<uint64_t>() : (uint64_t)seed->get<int64_t>();
  }
  r.stop = read_stop(j);
  r.logit_bias = read_logit_bias(j);
}

}  // namespace

ApiRequest parse_api_request(const std::string& body, bool chat, const std::string& tokenizer_kind,
                             const RequestDefaults& defaults) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) bad("", "the request body is not valid JSON");
  if (!j.is_object()) bad("", "the request body must be a JSON object");
  ApiRequest r;
  r.chat = chat;
  auto model = j.find("model");
  if (model != j.end() && !model->is_null()) {
    if (!model->is_string()) bad("model", "'model' must be a string");
    r.model = model->get<std::string>();
  }
  refuse_unsupported(j);
  if (chat)
    r.pieces = render_chat(read_messages(j), tokenizer_kind);
  else
    read_prompt(j, r);
  const long long fallback = (long long)(chat ? defaults.chat_max_tokens : defaults.completion_max_tokens);
  const char* max_name = j.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  r.max_tokens = (size_t)integer_field(j, max_name, 1, (long long)defaults.max_tokens_limit, fallback);
  r.stream = bool_field(j, "stream");
  auto options = j.find("stream_options");
  if (options != j.end() && !options->is_null()) {
    if (!options->is_object()) bad("stream_options", "'stream_options' must be an object");
    r.include_usage = bool_field(*options, "include_usage");
  }
  read_sampling(j, defaults, r);
  return r;
}

}  // namespace server
}  // namespace rwkv
