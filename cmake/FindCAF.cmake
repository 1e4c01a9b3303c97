# FindCAF.cmake -- locate the C++ Actor Framework 0.17 as packaged by Debian.
#
# Debian's libcaf-dev ships neither a CMake package config nor a .pc file.
# This module defines the imported targets CAF::core, CAF::io and
# CAF::openssl (the names newer CAF releases export), so switching to an
# upstream config later needs no change in the targets that link them.
#
#   find_package(CAF 0.17 REQUIRED COMPONENTS core io)

find_path(CAF_INCLUDE_DIR NAMES caf/all.hpp)
set(_caf_comps ${CAF_FIND_COMPONENTS})
if(NOT _caf_comps)
  set(_caf_comps core)
endif()
foreach(_c IN LISTS _caf_comps)
  find_library(CAF_${_c}_LIBRARY NAMES caf_${_c})
  if(CAF_${_c}_LIBRARY)
    set(CAF_${_c}_FOUND TRUE)
  endif()
endforeach()
if(CAF_INCLUDE_DIR)
  file(STRINGS "${CAF_INCLUDE_DIR}/caf/config.hpp" _caf_v
       REGEX "#define CAF_VERSION [0-9]+")
  string(REGEX REPLACE ".*CAF_VERSION ([0-9]+).*" "\\1" _caf_v "${_caf_v}")
  math(EXPR _caf_major "${_caf_v} / 10000")
  math(EXPR _caf_minor "(${_caf_v} / 100) % 100")
  math(EXPR _caf_patch "${_caf_v} % 100")
  set(CAF_VERSION "${_caf_major}.${_caf_minor}.${_caf_patch}")
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CAF REQUIRED_VARS CAF_INCLUDE_DIR
  VERSION_VAR CAF_VERSION HANDLE_COMPONENTS)
if(CAF_FOUND)
  find_package(Threads REQUIRED)
  foreach(_c IN LISTS _caf_comps)
    if(CAF_${_c}_FOUND AND NOT TARGET CAF::${_c})
      add_library(CAF::${_c} UNKNOWN IMPORTED)
      set_target_properties(CAF::${_c} PROPERTIES
        IMPORTED_LOCATION "${CAF_${_c}_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES Threads::Threads)
    endif()
  endforeach()
  if(TARGET CAF::io AND TARGET CAF::core)
    set_property(TARGET CAF::io APPEND PROPERTY
      INTERFACE_LINK_LIBRARIES CAF::core)
  endif()
  if(TARGET CAF::openssl AND TARGET CAF::io)
    set_property(TARGET CAF::openssl APPEND PROPERTY
      INTERFACE_LINK_LIBRARIES CAF::io)
  endif()
endif()
mark_as_advanced(CAF_INCLUDE_DIR)
