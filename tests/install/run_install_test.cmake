# The install test, run by ctest as `cmake -P` (see CMakeLists.txt here):
#   1. cmake --install of annals' build tree into a fresh prefix
#   2. checks what is there: headers, the package, annals.pc, the libraries
#      and annals-journal, and nothing else (no tests, examples, benches)
#   3. pkg-config resolves annals.pc (its Requires included) and a program
#      built with its flags only opens a journal; the README shows the
#      consumer's CMakeLists.txt as it is
#   4. configures tests/install/consumer with find_package(annals) and only
#      that prefix, builds it (warnings as errors)
#   5. runs its given/when/then tests
#   6. runs its program: the runtime on a temporary LMDB journal, then the
#      same journal under a cluster node alone
# Each step says what failed with the tool's output. The work directory is
# removed at the end, also after a failure (kept when the environment
# variable ANNALS_KEEP_INSTALL_TEST is set, for debugging).
#
# Inputs (-D): ANNALS_BINARY_DIR, CONSUMER_DIR, README, WORK_PARENT, LIBDIR,
# GENERATOR, BUILD_TYPE, CXX_COMPILER, CXX_COMPILER_ID, and optionally
# LAUNCHER, SANITIZERS.
cmake_minimum_required(VERSION 3.25)

string(RANDOM LENGTH 8 _tag)
set(work "${WORK_PARENT}/install-test-${_tag}")
set(prefix "${work}/prefix")
set(build "${work}/consumer-build")
set(data "${work}/cart-data")
string(TIMESTAMP t0 "%s")

function(cleanup)
  if(DEFINED ENV{ANNALS_KEEP_INSTALL_TEST})
    message(STATUS "install test: kept ${work}")
  else()
    file(REMOVE_RECURSE "${work}")
  endif()
endfunction()

function(fail what)
  cleanup()
  message(FATAL_ERROR "install test FAILED: ${what}")
endfunction()

# step(<title> <timeout s> <command...>): runs it, fails with its output.
function(step title timeout)
  string(TIMESTAMP s0 "%s")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE out TIMEOUT ${timeout})
  string(TIMESTAMP s1 "%s")
  math(EXPR secs "${s1} - ${s0}")
  message(STATUS "install test: ${title} (${secs} s)")
  if(NOT rc EQUAL 0)
    message("${out}")
    fail("${title}: ${rc} (command: ${ARGN})")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

# Left behind only by a run killed on its timeout: removed now.
file(GLOB stale "${WORK_PARENT}/install-test-*")
if(stale)
  file(REMOVE_RECURSE ${stale})
endif()
file(MAKE_DIRECTORY "${work}")

# 1. install (what `cmake --build` of the tree made: build it first)
step("[1/6] cmake --install ${ANNALS_BINARY_DIR} --prefix ${prefix}" 120
     ${CMAKE_COMMAND} --install "${ANNALS_BINARY_DIR}" --prefix "${prefix}")

# 2. what was installed
foreach(f IN ITEMS include/annals/aggregate.hpp include/annals/testkit.hpp
        include/annals/runtime.hpp include/annals/runtime_types.hpp
        include/annals/persistence/journal.hpp include/annals/cluster/node.hpp
        ${LIBDIR}/cmake/annals/annalsConfig.cmake
        ${LIBDIR}/cmake/annals/annalsConfigVersion.cmake
        ${LIBDIR}/cmake/annals/annalsTargets.cmake
        ${LIBDIR}/cmake/annals/FindCAF.cmake
        ${LIBDIR}/pkgconfig/annals.pc bin/annals-journal)
  if(NOT EXISTS "${prefix}/${f}")
    fail("[2/6] ${f} is not installed")
  endif()
endforeach()
file(GLOB libs RELATIVE "${prefix}/${LIBDIR}" "${prefix}/${LIBDIR}/*.a"
     "${prefix}/${LIBDIR}/*.so*")
list(SORT libs)
set(want_libs libannals_aggregates.a libannals_cluster.a
    libannals_cluster_control.a libannals_cluster_etcd.a
    libannals_cluster_ring.a libannals_persistence.a libannals_replication.a
    libannals_runtime.a)
file(GLOB bins RELATIVE "${prefix}/bin" "${prefix}/bin/*")
if(NOT libs STREQUAL want_libs OR NOT bins STREQUAL "annals-journal")
  fail("[2/6] installed libraries '${libs}' and programs '${bins}', expected "
       "'${want_libs}' and 'annals-journal' only")
endif()
list(JOIN libs " " libs_text)
message(STATUS "install test: [2/6] headers, package, annals.pc, "
               "${libs_text}, annals-journal")

# 3. pkg-config
find_program(PKG_CONFIG pkg-config REQUIRED)
set(ENV{PKG_CONFIG_PATH} "${prefix}/${LIBDIR}/pkgconfig")
step("[3/6] pkg-config --cflags --libs annals" 30
     ${PKG_CONFIG} --cflags --libs annals)
string(STRIP "${step_output}" pc_flags)
if(NOT pc_flags MATCHES "-lannals_runtime" OR NOT pc_flags MATCHES "-llmdb")
  fail("[3/6] pkg-config gave '${pc_flags}'")
endif()
# A program built with only those flags opens a journal.
separate_arguments(pc_args UNIX_COMMAND "${pc_flags}")
set(san_args "")
if(SANITIZERS)
  set(san_args "-fsanitize=${SANITIZERS}")
endif()
file(WRITE "${work}/pc/main.cpp" [=[
#include "annals/persistence/journal.hpp"
int main(int argc, char** argv) {
  return argc == 2 && annals::open_lmdb_journal(argv[1]) ? 0 : 1;
}
]=])
step("[3/6] a program built with pkg-config's flags only" 300
     "${CXX_COMPILER}" -std=c++20 ${san_args} "${work}/pc/main.cpp"
     -o "${work}/pc/pc-check" ${pc_args})
step("[3/6] ... opens a journal" 60 "${work}/pc/pc-check" "${work}/pc/data")

# The README's snippet is this project's CMakeLists.txt (from
# cmake_minimum_required on): it must not drift.
file(READ "${CONSUMER_DIR}/CMakeLists.txt" lists)
string(FIND "${lists}" "cmake_minimum_required" at)
string(SUBSTRING "${lists}" ${at} -1 snippet)
file(READ "${README}" readme)
string(FIND "${readme}" "```cmake\n${snippet}```" at)
if(at EQUAL -1)
  fail("README.md, 'Use annals in your project', does not show "
       "tests/install/consumer/CMakeLists.txt as it is")
endif()

# 4. configure and build the consumer against the prefix only
set(args -S "${CONSUMER_DIR}" -B "${build}" -G "${GENERATOR}"
    "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
    "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    -DCMAKE_COMPILE_WARNING_AS_ERROR=ON)
if(LAUNCHER)
  list(APPEND args "-DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER}")
endif()
if(SANITIZERS) # the installed libraries are instrumented: so is the consumer
  set(flags "-fsanitize=${SANITIZERS} -fno-omit-frame-pointer")
  if(CXX_COMPILER_ID STREQUAL "GNU") # as cmake/AnnalsWarnings.cmake: GCC 12
    string(APPEND flags " -Wno-restrict -Wno-maybe-uninitialized")
  endif()
  list(APPEND args "-DCMAKE_CXX_FLAGS=${flags}"
       "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=${SANITIZERS}")
endif()
step("[4/6] configure tests/install/consumer (find_package(annals))" 120
     ${CMAKE_COMMAND} ${args})
file(STRINGS "${build}/CMakeCache.txt" found REGEX "^annals_DIR:")
string(FIND "${found}" "annals_DIR:PATH=${prefix}/" at)
if(NOT at EQUAL 0)
  fail("[4/6] annals found outside the prefix: ${found}")
endif()
cmake_host_system_information(RESULT jobs QUERY NUMBER_OF_LOGICAL_CORES)
step("[4/6] build the consumer (-j${jobs})" 420
     ${CMAKE_COMMAND} --build "${build}" --parallel ${jobs})

# 5., 6. run its tests and its program
step("[5/6] cart-tests (given/when/then with annals' test kit)" 120
     "${build}/cart-tests")
step("[6/6] cart-demo ${data} (the runtime on an LMDB journal, then a node)" 120
     "${build}/cart-demo" "${data}")
message("${step_output}")

cleanup()
string(TIMESTAMP t1 "%s")
math(EXPR secs "${t1} - ${t0}")
message(STATUS "install test: passed in ${secs} s")
