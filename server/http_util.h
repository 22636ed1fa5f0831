// server/http_util.h: the OpenAI-style error object every error answer carries
// (http_server.cpp, http_completions.cpp). Includes cpp-httplib: only the
// server's .cpp files include this header.
#pragma once

#include <httplib.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace rwkv {
namespace server {

// {"error": {"message", "type", "param", "code"}}, param and code null when "".
inline nlohmann::json error_body(const std::string& message, const std::string& type, const std::string& param = "",
                                 const std::string& code = "") {
  using json = nlohmann::json;
  return json{{"error",
               {{"message", message},
                {"type", type},
                {"param", param.empty() ? json() : json(param)},
                {"code", code.empty() ? json() : json(code)}}}};
}

// An error answer (503 also says Retry-After: 1).
inline void send_error(httplib::Response& res, int status, const std::string& type, const std::string& message,
                       const std::string& param = "", const std::string& code = "") {
  res.status = status;
  if (status == 503) res.set_header("Retry-After", "1");
  res.set_content(error_body(message, type, param, code).dump(), "application/json");
}

// A client's POST of a JSON body whose answer is handed to `on_data` piece by piece as it arrives
// (server-sent events); on_data returns false to drop the connection. For the load benchmark
// (load_client.cpp) and the tests.
inline httplib::Result post_stream(httplib::Client& client, const std::string& path, const httplib::Headers& headers,
                                   const std::string& body, std::function<bool(const char*, size_t)> on_data) {
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.headers = headers;
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [on_data](const char* data, size_t n, uint64_t, uint64_t) { return on_data(data, n); };
  return client.send(req);
}

}  // namespace server
}  // namespace rwkv
