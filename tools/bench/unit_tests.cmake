# Included from tests/unit/CMakeLists.txt (one line there): the baselines' unit tests, built only
# when squeeze-bench's library is (SQUEEZE_BUILD_BENCH).
if(TARGET squeeze_bench_lib)
  add_executable(squeeze_unit_baselines ${CMAKE_CURRENT_SOURCE_DIR}/test_baselines.cc)
  target_link_libraries(squeeze_unit_baselines PRIVATE squeeze_bench_lib)
  squeeze_unit_tests(squeeze_unit_baselines bench)
endif()
