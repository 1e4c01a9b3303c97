# AnnalsInstall.cmake -- `cmake --install` rules and the installed package.
#
# Installs the public headers, the libraries (the four modules and the
# static internal libraries annals_cluster links privately), the
# annals-journal tool, the CMake package (find_package(annals CONFIG):
# annals::aggregates, ::persistence, ::runtime, ::cluster, with their
# dependencies found through CMakeFindDependencyMacro) and annals.pc.
# Tests, benchmarks, examples and test-only libraries are not installed.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ANNALS_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/annals" CACHE STRING
    "Where the CMake package files go (relative to the prefix)")

# Exported as annals::<name>: the same names as the in-tree aliases.
set(_annals_public aggregates persistence runtime cluster)
set(_annals_internal cluster_ring cluster_etcd cluster_control replication)
foreach(_n IN LISTS _annals_public _annals_internal)
  set_target_properties(annals_${_n} PROPERTIES EXPORT_NAME ${_n})
  list(APPEND _annals_libs annals_${_n})
endforeach()

install(TARGETS ${_annals_libs} EXPORT annalsTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS annals-journal RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(_m IN ITEMS aggregates persistence runtime cluster)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${_m}/include/
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()

install(EXPORT annalsTargets NAMESPACE annals::
        DESTINATION ${ANNALS_INSTALL_CMAKEDIR})
if(ANNALS_FAILPOINTS)
  set(ANNALS_FAILPOINTS_VALUE ON)
  set(ANNALS_CONFIG_FIU_NOTE " and libfiu")
else()
  set(ANNALS_FAILPOINTS_VALUE OFF)
  set(ANNALS_CONFIG_FIU_NOTE "")
endif()
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/annalsConfig.cmake.in
  ${PROJECT_BINARY_DIR}/annalsConfig.cmake
  INSTALL_DESTINATION ${ANNALS_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/annalsConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/annalsConfig.cmake
              ${PROJECT_BINARY_DIR}/annalsConfigVersion.cmake
              ${CMAKE_CURRENT_LIST_DIR}/FindCAF.cmake
        DESTINATION ${ANNALS_INSTALL_CMAKEDIR})

# annals.pc: the libraries are static, so Libs names everything they need.
set(ANNALS_PC_REQUIRES "lmdb openssl")
set(ANNALS_PC_CFLAGS "-DANNALS_FAILPOINTS=0")
if(ANNALS_FAILPOINTS)
  string(APPEND ANNALS_PC_REQUIRES " libfiu")
  set(ANNALS_PC_CFLAGS "-DANNALS_FAILPOINTS=1")
endif()
# Relocatable: the prefix is found from the .pc file's own directory.
file(RELATIVE_PATH ANNALS_PC_RELPREFIX
     "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
string(REGEX REPLACE "/$" "" ANNALS_PC_RELPREFIX "${ANNALS_PC_RELPREFIX}")
set(ANNALS_PC_DL "")
if(CMAKE_DL_LIBS)
  set(ANNALS_PC_DL "-l${CMAKE_DL_LIBS}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/annals.pc.in
               ${PROJECT_BINARY_DIR}/annals.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/annals.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# `cpack -G DEB` in the build tree: annals-dev_<version>_<arch>.deb with
# what is installed above, under /usr, depending on the Debian -dev
# packages the installed package finds.
set(CPACK_PACKAGE_NAME annals-dev)
set(CPACK_PACKAGE_VENDOR annals)
set(CPACK_PACKAGE_CONTACT "annals maintainers <annals@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "event-sourced aggregates on the C++ Actor Framework (static libraries)")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libcaf-dev (>= 0.17.6), liblmdb-dev, libboost-system-dev, libssl-dev, nlohmann-json3-dev, pkg-config")
if(ANNALS_FAILPOINTS)
  string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ", libfiu-dev")
endif()
include(CPack)
