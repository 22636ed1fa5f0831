// runtime/version.h: the library's version.
#pragma once

#define RWKV_RUN_VERSION_STRING "0.1.0"

namespace rwkv {
const char* version_string();
}  // namespace rwkv
