# Turns the console's files into a C source of byte arrays, run at build time:
#   cmake -DOUT=assets.c -DDIR=gateway/ui -DFILES="index.html;app.js;style.css" -P embed.cmake
# Pure CMake, so embedding needs no tool beyond the build's own.
set(body "/* Generated from gateway/ui by embed.cmake: do not edit. */\n#include \"gateway/ui/assets.h\"\n\n")
set(table "")
set(i 0)
foreach(name IN LISTS FILES)
  file(READ "${DIR}/${name}" hex HEX)
  string(LENGTH "${hex}" digits)
  math(EXPR size "${digits} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  # Sixteen bytes a line (CMake's regexes have no {n}).
  string(REPEAT "0x..," 16 line)
  string(REGEX REPLACE "(${line})" "\\1\n    " bytes "${bytes}")
  # A NUL after the bytes keeps an empty file a valid array.
  string(APPEND body "static const unsigned char asset_${i}[] = {\n    ${bytes}0x00};\n\n")
  string(APPEND table "    {\"${name}\", asset_${i}, ${size}},\n")
  math(EXPR i "${i} + 1")
endforeach()
string(APPEND body "const tg_ui_asset tg__ui_assets[] = {\n${table}};\n")
string(APPEND body "const size_t tg__ui_asset_count = ${i};\n")
file(WRITE "${OUT}" "${body}")
