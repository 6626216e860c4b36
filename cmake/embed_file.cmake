# Turns a file into a C++ header holding its bytes, so that a file shipped in the repository
# (docs/examples/policy.yaml) is also the copy built into a program, with no second copy in the
# source tree. Script mode:
#
#   cmake -DINPUT=FILE -DOUTPUT=HEADER -DSYMBOL=kName -DNAMESPACE=ns -P embed_file.cmake
#
# The header defines `inline constexpr std::string_view SYMBOL` in NAMESPACE. The bytes are
# written as hex, so the file may hold anything (quotes, backslashes, a raw string's delimiter).
# HEADER is rewritten only when its text changes, so an unchanged input rebuilds nothing.
foreach(var INPUT OUTPUT SYMBOL NAMESPACE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_file.cmake: -D${var}=... is required")
  endif()
endforeach()

file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# Sixteen bytes a line (CMake's regular expressions have no {n}).
string(REPEAT "0x[0-9a-f][0-9a-f]," 16 line)
string(REGEX REPLACE "(${line})" "\\1\n    " bytes "${bytes}")

file(RELATIVE_PATH shown "${CMAKE_CURRENT_LIST_DIR}/.." "${INPUT}")
set(text "// Generated from ${shown} by cmake/embed_file.cmake. Do not edit: edit ${shown}.
#pragma once

#include <string_view>

namespace ${NAMESPACE} {

inline constexpr char ${SYMBOL}Bytes[${size} + 1] = {
    ${bytes}0x00};
inline constexpr std::string_view ${SYMBOL}(${SYMBOL}Bytes, ${size});

}  // namespace ${NAMESPACE}
")

if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old)
  if(old STREQUAL text)
    return()
  endif()
endif()
file(WRITE "${OUTPUT}" "${text}")
