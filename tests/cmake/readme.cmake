# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# README.md's code blocks as consumer projects (included by consumers.cmake).
# Every fenced cpp and cmake block must follow an HTML comment line
#   <!-- readme-test: CASE FILE -->
# and becomes <out>/CASE/FILE, written at configure time (README.md is a
# configure dependency; a file is rewritten only when its block changed, so
# an unchanged README rebuilds nothing). The convention is described at the
# top of README.md.
#
# livechat_readme_projects(<readme> <out dir> <out var>): sets <out var> to
# the CASE names found. A cpp or cmake block without the comment, an unknown
# CASE or a FILE given twice is a configure error.

function(livechat_readme_projects readme out_dir out_var)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${readme}")
  file(READ "${readme}" rest)
  set(cases "")
  set(written "")
  set(block 0)
  # Plain string functions on quoted arguments throughout: code is full of
  # `;` and brackets, which CMake lists would split on.
  while(TRUE)
    string(FIND "${rest}" "\n```" open)
    if(open EQUAL -1)
      break()
    endif()
    math(EXPR open "${open} + 1")
    string(SUBSTRING "${rest}" 0 ${open} before)
    math(EXPR open "${open} + 3")
    string(SUBSTRING "${rest}" ${open} -1 rest)
    string(FIND "${rest}" "\n" eol)
    string(SUBSTRING "${rest}" 0 ${eol} lang)
    math(EXPR eol "${eol} + 1")
    string(SUBSTRING "${rest}" ${eol} -1 rest)
    string(FIND "${rest}" "\n```" close)
    if(close EQUAL -1)
      message(FATAL_ERROR "${readme}: a code block is not closed")
    endif()
    math(EXPR close "${close} + 1")
    string(SUBSTRING "${rest}" 0 ${close} body)
    math(EXPR close "${close} + 3")
    string(SUBSTRING "${rest}" ${close} -1 rest)
    string(STRIP "${lang}" lang)
    if(NOT lang STREQUAL "cpp" AND NOT lang STREQUAL "cmake")
      continue()
    endif()
    math(EXPR block "${block} + 1")
    if(NOT before MATCHES "<!-- readme-test: ([a-z_]+) ([A-Za-z0-9_.]+) -->[ \t]*\n$")
      message(FATAL_ERROR "${readme}: ${lang} block ${block} has no \"<!-- readme-test: CASE FILE -->\" "
        "line before it (see the comment at the top of README.md)")
    endif()
    set(case "${CMAKE_MATCH_1}")
    set(name "${CMAKE_MATCH_2}")
    if(NOT case MATCHES "^(fetch_content|find_package)$")
      message(FATAL_ERROR "${readme}: ${lang} block ${block}: unknown case ${case} (fetch_content, find_package)")
    endif()
    if("${case}/${name}" IN_LIST written)
      message(FATAL_ERROR "${readme}: ${lang} block ${block}: ${case} ${name} given twice")
    endif()
    list(APPEND written "${case}/${name}")
    if(NOT case IN_LIST cases)
      list(APPEND cases ${case})
    endif()
    set(path "${out_dir}/${case}/${name}")
    set(old "")
    if(EXISTS "${path}")
      file(READ "${path}" old)
    endif()
    if(NOT old STREQUAL body)
      file(WRITE "${path}" "${body}")
    endif()
  endwhile()
  set(${out_var} ${cases} PARENT_SCOPE)
endfunction()
