# Project-wide warning and sanitizer flags, applied through the interface target squeeze_flags so
# that third-party code (GoogleTest, Google Benchmark) is not built with them.
add_library(squeeze_flags INTERFACE)
target_compile_options(squeeze_flags INTERFACE
  $<$<COMPILE_LANGUAGE:CXX,C>:-Wall -Wextra -Wshadow -Wno-unused-parameter>
  $<$<AND:$<COMPILE_LANGUAGE:CXX,C>,$<BOOL:${SQUEEZE_WERROR}>>:-Werror>
  $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${SQUEEZE_WERROR}>>:-Werror=all-warnings>
  # The codec's error checks rely on IEEE single-precision results that are identical on every
  # backend, so no contraction of a*b+c into an FMA.
  $<$<COMPILE_LANGUAGE:CXX,C>:-ffp-contract=off>
  $<$<COMPILE_LANGUAGE:CUDA>:--fmad=false -ftz=false -prec-div=true>)
if(SQUEEZE_SANITIZE)
  target_compile_options(squeeze_flags INTERFACE
    $<$<COMPILE_LANGUAGE:CXX,C>:-fsanitize=${SQUEEZE_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all>)
  target_link_options(squeeze_flags INTERFACE -fsanitize=${SQUEEZE_SANITIZE})
  message(STATUS "Squeeze: sanitizers ${SQUEEZE_SANITIZE}")
endif()
