# `cmake --install`: the plugin, libsqueeze (static and shared), the public headers, a CMake package
# (find_package(Squeeze): Squeeze::squeeze, Squeeze::squeeze_shared, Squeeze::nccl_net_squeeze and,
# with the CUDA backend, Squeeze::squeeze_cuda) and a pkg-config file (squeeze.pc), in the GNU
# directories under CMAKE_INSTALL_PREFIX. tests/packaging checks them with a consumer project.
#
# Components: `plugin` (libnccl-net-squeeze.so alone) and `devel` (everything else). A Python wheel
# (pyproject.toml, scikit-build-core sets SKBUILD) installs the plugin component only, into the
# `squeeze` package: squeeze/lib/libnccl-net-squeeze.so.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

if(SKBUILD)
  install(TARGETS nccl-net-squeeze LIBRARY DESTINATION squeeze/lib COMPONENT plugin)
  return()
endif()

set(SQUEEZE_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/Squeeze CACHE STRING
    "Where the CMake package (SqueezeConfig.cmake) is installed, relative to the prefix")

set_target_properties(nccl-net-squeeze PROPERTIES EXPORT_NAME nccl_net_squeeze)
install(TARGETS nccl-net-squeeze EXPORT SqueezeTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT plugin)
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
set(_squeeze_headers codec.h format.h hd.h)
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
