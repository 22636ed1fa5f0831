// runtime/backend/open_backend.h: a backend chosen by a device string, for
// tools that keep their states in host memory (one per call).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "runtime/backend/backend.h"

namespace rwkv {

struct BackendOptions {
  std::string device = "cpu";  // "cpu", "cuda" (= "cuda:0") or "cuda:N"
  int threads = 0;             // cpu: worker threads (0: all cores)
  std::optional<DType> dtype;  // cuda: weight dtype (default: the checkpoint's)
  int n_slots = 1;             // cuda: largest batch
  int max_rows = 512;          // cuda: token rows per round
};

// Parses "cuda:N" into N; -1 for "cpu"; throws rwkv::Error naming the string otherwise.
int parse_device(const std::string& device);

// A backend whose forward() takes host-memory states on every device. Throws
// rwkv::Error for an unknown device, or "cuda" in a build without a GPU path.
std::unique_ptr<Backend> open_backend(const Model& model, const BackendOptions& options);

}  // namespace rwkv
