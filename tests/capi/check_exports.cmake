# tests/capi/check_exports.cmake: the dynamic symbols that librwkv_run.so
# defines must be exactly the RWKV_API functions declared in rwkv_run.h
# (`nm -D --defined-only`; undefined imports from libc/libstdc++ are not listed).
# Usage: cmake -DLIBRARY=... -DHEADER=... -DNM=nm -P check_exports.cmake
if(NOT NM)
  set(NM nm)
endif()
execute_process(COMMAND ${NM} -D --defined-only ${LIBRARY}
  OUTPUT_VARIABLE out RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} -D failed on ${LIBRARY}: ${err}")
endif()
string(REPLACE "\n" ";" lines "${out}")
set(exported "")
foreach(line IN LISTS lines)
  # "<address> <type> <name>[@@version]"
  if(line MATCHES "^[0-9a-fA-F]+ [A-Za-z] ([^ @]+)")
    list(APPEND exported ${CMAKE_MATCH_1})
  endif()
endforeach()
list(SORT exported)

file(READ ${HEADER} header)
string(REGEX MATCHALL "RWKV_API[^;(]*[ *](rwkv_[a-z0-9_]+)\\(" decls "${header}")
set(declared "")
foreach(d IN LISTS decls)
  string(REGEX REPLACE ".*[ *](rwkv_[a-z0-9_]+)\\($" "\\1" name "${d}")
  list(APPEND declared ${name})
endforeach()
list(SORT declared)

list(LENGTH exported n_exported)
list(LENGTH declared n_declared)
message(STATUS "${n_exported} exported symbols, ${n_declared} declared in rwkv_run.h")
set(extra ${exported})
list(REMOVE_ITEM extra ${declared})
set(missing ${declared})
list(REMOVE_ITEM missing ${exported})
if(extra OR missing OR n_declared EQUAL 0)
  message(FATAL_ERROR "exported symbols differ from rwkv_run.h:\n  exported but not declared: ${extra}\n  declared but not exported: ${missing}")
endif()
message(STATUS "OK: ${LIBRARY} exports exactly the C API")
