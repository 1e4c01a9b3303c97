# annals_target_defaults(<target>): C++20 and the project's warning set.
# Warnings apply to our own targets only, never to consumers.
option(ANNALS_WERROR "Treat warnings as errors" OFF)
function(annals_target_defaults target)
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow)
  if(ANNALS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(ANNALS_SANITIZERS AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 reports false -Wrestrict / -Wmaybe-uninitialized positives in
    # libstdc++ string code under ASan instrumentation (GCC PR 105651).
    target_compile_options(${target} PRIVATE -Wno-restrict
                           -Wno-maybe-uninitialized)
  endif()
endfunction()
