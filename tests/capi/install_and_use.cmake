# tests/capi/install_and_use.cmake: what a user does with a released rwkv-run.
#   1. cmake --install the build into a fresh temporary prefix
#   2. configure examples/c as a separate project with find_package(rwkv_run)
#      pointed at that prefix, build it, run it on a tiny model
#   3. compile the same example with the flags of the installed pkg-config file
#      (no rpath of its own), run it without LD_LIBRARY_PATH
#   4. the installed rwkv-run, run from / with no tokenizer variables and HOME
#      elsewhere: --version, its chat prompts by name (share/rwkv-run/prompts),
#      and, when the build installs them (EXPECT_TOKENIZERS), the World tokenizer
#      from share/rwkv-run/tokenizers
# Usage: cmake -DBUILD_DIR= -DEXAMPLE_DIR= -DWORK_DIR= -DMODEL= -DC_COMPILER= [-DCONSUMER_LDFLAGS=]
#              [-DEXPECT_TOKENIZERS=ON|OFF] -P install_and_use.cmake
set(run_input "")
function(run what)
  set(input_args "")
  if(run_input)
    set(input_args INPUT_FILE ${run_input})
  endif()
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  WORKING_DIRECTORY / ${input_args})
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "${what}: ok")
  set(last_output "${out}" PARENT_SCOPE)
  set(last_error "${err}" PARENT_SCOPE)
endfunction()

# Runs a program as a user of the install would: no LD_LIBRARY_PATH, no
# tokenizer directory variables, HOME without rwkv-run data.
set(clean_env ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH --unset=RWKV_TOKENIZER_DIR
              --unset=XDG_DATA_HOME HOME=${WORK_DIR}/home)

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
file(MAKE_DIRECTORY ${WORK_DIR}/home)
run("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

# The installed tree: one public header, the library, the package files.
file(GLOB_RECURSE headers RELATIVE ${prefix} ${prefix}/include/*)
if(NOT headers STREQUAL "include/rwkv_run.h")
  message(FATAL_ERROR "installed headers: '${headers}', expected include/rwkv_run.h only")
endif()
file(GLOB_RECURSE configs ${prefix}/*/rwkv_run-config.cmake)
file(GLOB_RECURSE pcs ${prefix}/*/rwkv_run.pc)
file(GLOB_RECURSE libs ${prefix}/*/librwkv_run.so)
if(NOT configs OR NOT pcs OR NOT libs)
  message(FATAL_ERROR "missing in ${prefix}: config '${configs}', pc '${pcs}', library '${libs}'")
endif()

set(extra "")
if(CONSUMER_LDFLAGS)
  set(extra -DCMAKE_EXE_LINKER_FLAGS=${CONSUMER_LDFLAGS})
endif()
run("configure the example with find_package" ${CMAKE_COMMAND} -S ${EXAMPLE_DIR} -B ${WORK_DIR}/build
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_BUILD_TYPE=Release ${extra})
run("build the example" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run("run the example" ${WORK_DIR}/build/rwkv_example_simple ${MODEL} ${WORK_DIR}/find_package.state)
if(NOT last_output MATCHES "OK: ")
  message(FATAL_ERROR "the example did not report OK:\n${last_output}")
endif()

# pkg-config, when installed.
find_program(PKG_CONFIG pkg-config)
if(PKG_CONFIG)
  get_filename_component(pcdir ${pcs} DIRECTORY)
  set(ENV{PKG_CONFIG_PATH} ${pcdir})
  run("pkg-config" ${PKG_CONFIG} --cflags --libs rwkv_run)
  string(STRIP "${last_output}" flags)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  set(ld_extra "")
  if(CONSUMER_LDFLAGS)
    set(ld_extra ${CONSUMER_LDFLAGS})
  endif()
  run("compile the example with pkg-config flags" ${C_COMPILER} -std=c99 ${EXAMPLE_DIR}/simple.c ${flags}
      ${ld_extra} -o ${WORK_DIR}/simple_pkgconfig)
  run("run the pkg-config build without LD_LIBRARY_PATH" ${clean_env} ${WORK_DIR}/simple_pkgconfig ${MODEL}
      ${WORK_DIR}/pkgconfig.state)
  if(NOT last_output MATCHES "OK: ")
    message(FATAL_ERROR "the pkg-config build did not report OK:\n${last_output}")
  endif()
else()
  message(STATUS "pkg-config not found: skipping the pkg-config build")
endif()

# The installed program and its data.
set(rwkv_run ${prefix}/bin/rwkv-run)
if(NOT EXISTS ${rwkv_run})
  message(FATAL_ERROR "missing in ${prefix}: bin/rwkv-run")
endif()
run("installed rwkv-run --version" ${clean_env} ${rwkv_run} --version)
if(NOT last_output MATCHES "^rwkv-run ")
  message(FATAL_ERROR "rwkv-run --version printed:\n${last_output}")
endif()
run("installed rwkv-run chat --help" ${clean_env} ${rwkv_run} chat --help)
string(REPLACE "\n" " " help "${last_output}")
string(REGEX REPLACE " +" " " help "${help}")
string(FIND "${help}" "${prefix}/share/rwkv-run/prompts (assistant, bob-alice)" at)
if(at EQUAL -1)
  message(FATAL_ERROR "rwkv-run chat --help does not name the installed prompts:\n${last_output}")
endif()
# A shipped prompt by name: the replies are Alice's.
file(WRITE ${WORK_DIR}/chat_input.txt "Hi\n")
set(run_input ${WORK_DIR}/chat_input.txt)
run("installed rwkv-run chat --prompt bob-alice" ${clean_env} ${rwkv_run} chat -m ${MODEL} --prompt bob-alice
    --top-p 0 --reply-max 5)
set(run_input "")
if(NOT last_output MATCHES "^Alice:")
  message(FATAL_ERROR "chat --prompt bob-alice replied:\n${last_output}\n${last_error}")
endif()

set(tokenizer ${prefix}/share/rwkv-run/tokenizers/rwkv_vocab_v20230424.txt)
if(EXPECT_TOKENIZERS)
  if(NOT EXISTS ${tokenizer})
    message(FATAL_ERROR "the build installs the tokenizer files, but ${tokenizer} is missing")
  endif()
  run("installed rwkv-run tokenize --tokenizer world" ${clean_env} ${rwkv_run} tokenize --tokenizer world
      --text "Hello, world")
  if(NOT last_output STREQUAL "33155,45,40213\n")
    message(FATAL_ERROR "tokenize --tokenizer world printed:\n${last_output}")
  endif()
else()
  # Without the files: one line naming where they were looked for and how to give them.
  execute_process(COMMAND ${clean_env} ${rwkv_run} tokenize --tokenizer world --text "Hello"
                  WORKING_DIRECTORY / RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(FIND "${err}" "${prefix}/share/rwkv-run/tokenizers" at)
  if(NOT rc EQUAL 1 OR at EQUAL -1 OR NOT err MATCHES "RWKV_TOKENIZER_DIR" OR err MATCHES "scripts/")
    message(FATAL_ERROR "tokenize without tokenizer files: exit ${rc}, stderr:\n${err}")
  endif()
endif()
