# tools/rwkv-run/install_tokenizers.cmake: installs the two standard tokenizer
# files (World, GPT-NeoX 20B; not kept in the repository) into
# share/rwkv-run/tokenizers, where an installed rwkv-run looks first after
# $RWKV_TOKENIZER_DIR (runtime/tokenizer/tokenizer.h).
#
# RWKV_TOKENIZER_FILES_DIR: the directory to take them from; empty (default):
# the first of $RWKV_TOKENIZER_DIR, $XDG_DATA_HOME/rwkv-run/tokenizers and
# ~/.local/share/rwkv-run/tokenizers (where scripts/fetch_tokenizers.sh puts
# them) that holds both, checked against scripts/tokenizers.sha256; none found:
# nothing installed (a note says so). "none": never installed.
# Sets RWKV_INSTALLS_TOKENIZERS (cache, internal) for tests/capi.
set(RWKV_TOKENIZER_FILES_DIR "" CACHE STRING
    "directory of the tokenizer files to install into share/rwkv-run/tokenizers (empty: found automatically, none: skip)")
set(rwkv_tokenizer_files rwkv_vocab_v20230424.txt 20B_tokenizer.json)

# rwkv_tokenizers_intact(DIR OUT): OUT is TRUE when DIR holds both files with the
# sums of scripts/tokenizers.sha256.
function(rwkv_tokenizers_intact dir out)
  set(${out} FALSE PARENT_SCOPE)
  file(STRINGS ${PROJECT_SOURCE_DIR}/scripts/tokenizers.sha256 sums)
  foreach(line IN LISTS sums)
    if(NOT line MATCHES "^([0-9a-f]+) +(.+)$")
      continue()
    endif()
    set(want ${CMAKE_MATCH_1})
    set(file ${dir}/${CMAKE_MATCH_2})
    if(NOT EXISTS ${file})
      return()
    endif()
    file(SHA256 ${file} got)
    if(NOT got STREQUAL want)
      return()
    endif()
  endforeach()
  set(${out} TRUE PARENT_SCOPE)
endfunction()

set(rwkv_tokenizer_source "")
if(RWKV_TOKENIZER_FILES_DIR STREQUAL "none")
  message(STATUS "rwkv-run: tokenizer files not installed (RWKV_TOKENIZER_FILES_DIR=none)")
elseif(RWKV_TOKENIZER_FILES_DIR)
  rwkv_tokenizers_intact(${RWKV_TOKENIZER_FILES_DIR} ok)
  if(NOT ok)
    message(FATAL_ERROR "RWKV_TOKENIZER_FILES_DIR=${RWKV_TOKENIZER_FILES_DIR} does not hold "
                        "${rwkv_tokenizer_files} with the sums of scripts/tokenizers.sha256")
  endif()
  set(rwkv_tokenizer_source ${RWKV_TOKENIZER_FILES_DIR})
else()
  set(candidates "")
  if(DEFINED ENV{RWKV_TOKENIZER_DIR} AND NOT "$ENV{RWKV_TOKENIZER_DIR}" STREQUAL "")
    list(APPEND candidates "$ENV{RWKV_TOKENIZER_DIR}")
  endif()
  if(DEFINED ENV{XDG_DATA_HOME} AND NOT "$ENV{XDG_DATA_HOME}" STREQUAL "")
    list(APPEND candidates "$ENV{XDG_DATA_HOME}/rwkv-run/tokenizers")
  elseif(DEFINED ENV{HOME})
    list(APPEND candidates "$ENV{HOME}/.local/share/rwkv-run/tokenizers")
  endif()
  foreach(dir IN LISTS candidates)
    rwkv_tokenizers_intact(${dir} ok)
    if(ok)
      set(rwkv_tokenizer_source ${dir})
      break()
    endif()
  endforeach()
  if(NOT rwkv_tokenizer_source)
    message(STATUS "rwkv-run: no tokenizer files to install (scripts/fetch_tokenizers.sh fetches them, "
                   "or -DRWKV_TOKENIZER_FILES_DIR=DIR)")
  endif()
endif()

if(rwkv_tokenizer_source)
  message(STATUS "rwkv-run: installs the tokenizer files of ${rwkv_tokenizer_source}")
  list(TRANSFORM rwkv_tokenizer_files PREPEND ${rwkv_tokenizer_source}/ OUTPUT_VARIABLE rwkv_tokenizer_paths)
  install(FILES ${rwkv_tokenizer_paths} DESTINATION ${CMAKE_INSTALL_DATADIR}/rwkv-run/tokenizers)
  set(RWKV_INSTALLS_TOKENIZERS ON CACHE INTERNAL "")
else()
  set(RWKV_INSTALLS_TOKENIZERS OFF CACHE INTERNAL "")
endif()
