# tests/capi/install_and_use.cmake: what a user does with a released rwkv-run.
#   1. cmake --install the build into a fresh temporary prefix
#   2. configure examples/c as a separate project with find_package(rwkv_run)
#      pointed at that prefix, build it, run it on a tiny model
#   3. compile the same example with the flags of the installed pkg-config file, run it
# Usage: cmake -DBUILD_DIR= -DEXAMPLE_DIR= -DWORK_DIR= -DMODEL= -DC_COMPILER= [-DCONSUMER_LDFLAGS=] -P install_and_use.cmake
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "${what}: ok")
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
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
  get_filename_component(libdir ${libs} DIRECTORY)
  set(ld_extra "")
  if(CONSUMER_LDFLAGS)
    set(ld_extra ${CONSUMER_LDFLAGS})
  endif()
  run("compile the example with pkg-config flags" ${C_COMPILER} -std=c99 ${EXAMPLE_DIR}/simple.c ${flags}
      -Wl,-rpath,${libdir} ${ld_extra} -o ${WORK_DIR}/simple_pkgconfig)
  run("run the pkg-config build" ${WORK_DIR}/simple_pkgconfig ${MODEL} ${WORK_DIR}/pkgconfig.state)
else()
  message(STATUS "pkg-config not found: skipping the pkg-config build")
endif()
