# Writes the console's static files into a C++ include as raw string
# literals, so the node serves them without reading files at run time.
#   cmake -DDIR=<folder> -DOUT=<file> -DFILES=a,b -P embed.cmake
string(REPLACE "," ";" FILES "${FILES}")
set(content "// Generated from gateway/admin/console by embed.cmake.\n")
foreach(name ${FILES})
  file(READ "${DIR}/${name}" body)
  string(FIND "${body}" ")console\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${name} holds the raw string delimiter )console\"")
  endif()
  string(APPEND content "{\"${name}\", R\"console(${body})console\"},\n")
endforeach()
file(WRITE "${OUT}.tmp" "${content}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
