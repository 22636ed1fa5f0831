// server/http_completions.cpp: POST /v1/completions and /v1/chat/completions
// (http_server.h): a checked request becomes a GenerationRequest for the
// scheduler, whose events are answered as one JSON object or as server-sent
// events.
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>

#include "runtime/core/error.h"
#include "runtime/generate/stop_strings.h"
#include "server/http_server.h"
#include "server/http_util.h"

namespace rwkv {
namespace server {

namespace {

using json = nlohmann::json;

std::string sse(const json& j) { return "data: " + j.dump() + "\n\n"; }

json usage_json(const SequenceEvent& e) {
  return json{{"prompt_tokens", e.prompt_tokens},
              {"completion_tokens", e.completion_tokens},
              {"total_tokens", e.prompt_tokens + e.completion_tokens},
              {"prompt_tokens_details", {{"cached_tokens", e.cached_tokens}}}};
}

// One choice of a response or a chunk: text (completions) or message / delta (chat).
json choice_json(bool chat, bool chunk, const std::string& text, const json& finish_reason, bool first = false) {
  json c{{"index", 0}, {"finish_reason", finish_reason}};
  if (!chat) {
    c["text"] = text;
    c["logprobs"] = nullptr;
  } else if (!chunk) {
    c["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || first) delta["content"] = text;
    c["delta"] = delta;
  }
  return c;
}

// A finished sequence that did not end normally, as an HTTP status and a message.
bool failed(const SequenceEvent& e, int* status, std::string* message) {
  if (e.reason == FinishReason::cancelled) {
    *status = 503;
    *message = "the generation was cancelled (the server is shutting down)";
    return true;
  }
  if (e.reason == FinishReason::error) {
    *status = 500;
    *message = "the generation failed: " + e.error;
    return true;
  }
  return false;
}

uint64_t random_seed() {
  std::random_device rd;
  return ((uint64_t)rd() << 32) ^ rd();
}

// The whole generation, waited for.
void answer_whole(SequenceHandle& h, json base, bool chat, httplib::Response& res) {
  std::string text;
  for (;;)
    for (SequenceEvent& e : h.wait(std::chrono::milliseconds(1000))) {
      if (!e.finished) {
        text += e.text;
        continue;
      }
      int status = 0;
      std::string message;
      if (failed(e, &status, &message)) return send_error(res, status, "server_error", message);
      base["choices"] = json::array({choice_json(chat, false, text, finish_reason_name(e.reason))});
      base["usage"] = usage_json(e);
      res.set_content(base.dump(), "application/json");
      return;
    }
}

// The generation as server-sent events; false (the connection is dropped) when the client left.
bool stream_events(SequenceHandle& h, const json& base, bool chat, bool include_usage, int ping_ms,
                   httplib::DataSink& sink) {
  auto write = [&sink](const std::string& s) { return sink.write(s.data(), s.size()); };
  auto chunk = [&](const std::string& text, const json& finish, bool first) {
    json c = base;
    c["choices"] = json::array({choice_json(chat, true, text, finish, first)});
    return sse(c);
  };
  if (chat && !write(chunk("", nullptr, true))) return h.cancel(), false;
  for (;;) {
    std::vector<SequenceEvent> events = h.wait(std::chrono::milliseconds(ping_ms));
    if (events.empty() && !write(": ping\n\n")) return h.cancel(), false;
    for (SequenceEvent& e : events) {
      if (!e.finished) {
        if (!write(chunk(e.text, nullptr, false))) return h.cancel(), false;
        continue;
      }
      int status = 0;
      std::string message;
      if (failed(e, &status, &message)) {
        write(sse(error_body(message, "server_error")));
      } else {
        write(chunk("", finish_reason_name(e.reason), false));
        if (include_usage) {
          json u = base;
          u["choices"] = json::array();
          u["usage"] = usage_json(e);
          write(sse(u));
        }
      }
      write("data: [DONE]\n\n");
      sink.done();
      return true;
    }
  }
}

}  // namespace

GenerationRequest HttpServer::to_generation(const ApiRequest& a) const {
  const int32_t n_vocab = tokenizer_.vocab_size();
  GenerationRequest g;
  for (int32_t id : a.prompt_ids) {
    if (id >= n_vocab)
      throw ApiError(400, "invalid_request_error",
                     "prompt token " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(n_vocab) + ")",
                     "prompt");
    g.prompt.push_back(id);
  }
  for (size_t i = 0; i < a.pieces.size(); ++i) {
    const std::vector<int32_t> ids = tokenizer_.encode(a.pieces[i]);
    g.prompt.insert(g.prompt.end(), ids.begin(), ids.end());
    if (a.chat && i + 1 < a.pieces.size() && !g.prompt.empty()) g.cache_points.push_back(g.prompt.size());
  }
  if (g.prompt.empty()) throw ApiError(400, "invalid_request_error", "the prompt has no tokens", "prompt");
  if (g.prompt.size() > opt_.max_prompt_tokens)
    throw ApiError(400, "invalid_request_error",
                   "the prompt has " + std::to_string(g.prompt.size()) + " tokens, more than this server's limit of " +
                       std::to_string(opt_.max_prompt_tokens) + " (--max-prompt-tokens)",
                   a.chat ? "messages" : "prompt", "context_length_exceeded");
  if (!a.chat) g.cache_points.push_back(g.prompt.size());
  SamplerParams& sp = g.sampling;
  sp.temperature = a.temperature;
  sp.top_p = a.top_p;
  sp.top_k = a.top_k;
  sp.alpha_presence = a.presence_penalty;
  sp.alpha_frequency = a.frequency_penalty;
  sp.alpha_decay = a.penalty_decay;
  const std::string kind = tokenizer_.kind();
  if (kind == "world" || kind == "20b") sp.token_stop.push_back(0);  // end of text, as rwkv-run generate
  sp.seed = a.seed ? *a.seed : random_seed();
  for (const auto& [id, bias] : a.logit_bias) {
    if (id >= n_vocab)
      throw ApiError(400, "invalid_request_error", "logit_bias token " + std::to_string(id) + " is outside the vocabulary",
                     "logit_bias");
    if (bias <= -100)
      sp.token_ban.push_back(id);
    else
      g.logit_bias.push_back(StepBias{id, bias});
  }
  if (g.logit_bias.size() > Sampler::kMaxStepBias)
    throw ApiError(400, "invalid_request_error",
                   "at most " + std::to_string(Sampler::kMaxStepBias) + " logit_bias entries above -100", "logit_bias");
  g.stop_strings = a.stop;
  if (a.chat) g.stop_strings.push_back(chat_turn_separator());
  try {
    StopStringFilter check(g.stop_strings);
  } catch (const Error& e) {
    throw ApiError(400, "invalid_request_error", std::string("'stop': ") + e.what(), "stop");
  }
  g.max_tokens = a.max_tokens;
  return g;
}

void HttpServer::completions(const std::string& body, bool chat, void* response) {
  httplib::Response& res = *static_cast<httplib::Response*>(response);
  ApiRequest a;
  GenerationRequest g;
  try {
    a = parse_api_request(body, chat, tokenizer_.kind(), opt_.defaults);
    if (!a.model.empty() && a.model != opt_.model_id)
      throw ApiError(404, "invalid_request_error",
                     "the model '" + a.model + "' does not exist; this server has '" + opt_.model_id + "' (GET /v1/models)",
                     "model", "model_not_found");
    g = to_generation(a);
  } catch (const ApiError& e) {
    return send_error(res, e.status, e.type, e.what(), e.param, e.code);
  }
  std::shared_ptr<SequenceHandle> h;
  const Scheduler::Submit submitted = scheduler_.submit(std::move(g), &h);
  if (submitted == Scheduler::Submit::queue_full)
    return send_error(res, 503, "server_error", "the server is busy: every slot is in use and the queue is full; retry later");
  if (submitted == Scheduler::Submit::shutting_down)
    return send_error(res, 503, "server_error", "the server is shutting down");
  char id[32];
  std::snprintf(id, sizeof id, "%s%012llx", chat ? "chatcmpl-" : "cmpl-", (unsigned long long)next_id_++);
  json base{{"id", id}, {"object", chat ? "chat.completion" : "text_completion"},
            {"created", (long long)std::time(nullptr)}, {"model", opt_.model_id}};
  if (!a.stream) return answer_whole(*h, base, chat, res);
  if (chat) base["object"] = "chat.completion.chunk";
  res.set_header("Cache-Control", "no-cache");
  const bool usage = a.include_usage;
  const int ping_ms = opt_.ping_ms;
  res.set_chunked_content_provider(
      "text/event-stream",
      [h, base, chat, usage, ping_ms](size_t, httplib::DataSink& sink) {
        return stream_events(*h, base, chat, usage, ping_ms, sink);
      },
      [h](bool) { h->cancel(); });  // a no-op once finished; frees the slot of a client that left
}

}  // namespace server
}  // namespace rwkv
