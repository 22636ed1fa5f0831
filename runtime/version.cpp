// runtime/version.cpp: the library's version string.
#include "runtime/version.h"

namespace rwkv {

const char* version_string() { return RWKV_RUN_VERSION_STRING; }

}  // namespace rwkv
