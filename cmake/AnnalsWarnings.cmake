# annals_target_defaults(<target>): C++20 and the project's warning set.
# Warnings apply to our own targets only, never to consumers.
option(ANNALS_WERROR "Treat warnings as errors" OFF)
function(annals_target_defaults target)
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow)
  if(ANNALS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
