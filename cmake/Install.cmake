# `cmake --install`: the plugin, libsqueeze (static and shared), libsqueeze_c (the C API the
# Python binding loads), the public headers, a CMake package (find_package(Squeeze):
# Squeeze::squeeze, Squeeze::squeeze_shared, Squeeze::squeeze_c, Squeeze::nccl_net_squeeze and,
# with the CUDA backend, Squeeze::squeeze_cuda) and a pkg-config file (squeeze.pc), in the GNU
# directories under CMAKE_INSTALL_PREFIX. ctest install_consumer (tests/packaging/install_test.sh)
# installs into a temporary prefix and builds a consumer with find_package and with pkg-config.
#
# Components: `plugin` (libnccl-net-squeeze.so, libsqueeze_c.so) and `devel` (everything else).
# The Python wheel (pyproject.toml: scikit-build-core sets SKBUILD) installs only the component
# `python`: the plugin and libsqueeze_c.so into the `squeeze` package, as squeeze/lib/.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

if(SKBUILD)
  install(TARGETS nccl-net-squeeze squeeze_c LIBRARY DESTINATION squeeze/lib COMPONENT python)
  return()
endif()

set(SQUEEZE_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/Squeeze CACHE STRING
    "Where the CMake package (SqueezeConfig.cmake) is installed, relative to the prefix")

set_target_properties(nccl-net-squeeze PROPERTIES EXPORT_NAME nccl_net_squeeze)
install(TARGETS nccl-net-squeeze squeeze_c EXPORT SqueezeTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT plugin
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set(_squeeze_install_targets squeeze squeeze_shared)
set(SQUEEZE_PACKAGE_HAS_CUDA OFF)
if(TARGET squeeze_cuda)
  set(SQUEEZE_PACKAGE_HAS_CUDA ON)
  list(APPEND _squeeze_install_targets squeeze_cuda)
endif()
install(TARGETS ${_squeeze_install_targets} EXPORT SqueezeTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT devel
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT devel
                NAMELINK_COMPONENT devel
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The public headers. codec_cuda.h only with the library that implements it.
set(_squeeze_headers codec.h format.h hd.h squeeze_c.h)
if(SQUEEZE_PACKAGE_HAS_CUDA)
  list(APPEND _squeeze_headers codec_cuda.h)
endif()
list(TRANSFORM _squeeze_headers PREPEND ${PROJECT_SOURCE_DIR}/include/squeeze/)
install(FILES ${_squeeze_headers} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/squeeze COMPONENT devel)

install(EXPORT SqueezeTargets NAMESPACE Squeeze:: DESTINATION ${SQUEEZE_INSTALL_CMAKEDIR}
        FILE SqueezeTargets.cmake COMPONENT devel)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/SqueezeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/SqueezeConfig.cmake INSTALL_DESTINATION ${SQUEEZE_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/SqueezeConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/SqueezeConfig.cmake
              ${PROJECT_BINARY_DIR}/cmake/SqueezeConfigVersion.cmake
        DESTINATION ${SQUEEZE_INSTALL_CMAKEDIR} COMPONENT devel)

# pkg-config: relocatable (the prefix is found from the .pc file's own place).
file(RELATIVE_PATH SQUEEZE_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" SQUEEZE_PC_TO_PREFIX "${SQUEEZE_PC_TO_PREFIX}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/squeeze.pc.in ${PROJECT_BINARY_DIR}/cmake/squeeze.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cmake/squeeze.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT devel)

# Not under the sanitizers: the installed libsqueeze.a would need their runtime in the consumer.
if(SQUEEZE_BUILD_TESTS AND NOT SQUEEZE_SANITIZE)
  add_test(NAME install_consumer
           COMMAND bash ${PROJECT_SOURCE_DIR}/tests/packaging/install_test.sh ${PROJECT_BINARY_DIR})
  set_tests_properties(install_consumer PROPERTIES LABELS "packaging" TIMEOUT 300)
endif()
