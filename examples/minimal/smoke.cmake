# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
# ctest livechat.example.minimal (cmake -P): one conversation piped through
# examples/minimal; MINIMAL is the binary.
cmake_minimum_required(VERSION 3.21)
set(input "${CMAKE_CURRENT_BINARY_DIR}/livechat-minimal-input.txt")
file(WRITE "${input}"
  "{\"type\":\"auth\",\"payload\":{\"token\":\"alice\"}}\n"
  "{\"type\":\"join_room\",\"payload\":{\"room\":\"conversation:U1\"}}\n"
  "{\"type\":\"send_message\",\"payload\":{\"room\":\"conversation:U1\",\"text\":\"hi\"}}\n")
execute_process(COMMAND "${MINIMAL}" INPUT_FILE "${input}"
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
file(REMOVE "${input}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "livechat-minimal exited with ${rc}: ${err}")
endif()
# Each answer of the conversation, in order (the sender gets message_sent,
# the room's other connections new_message).
foreach(expected IN ITEMS "\"type\":\"auth_success\"" "\"type\":\"conversation_update\""
                          "\"type\":\"message_sent\"")
  string(FIND "${out}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "livechat-minimal: no ${expected} in:\n${out}")
  endif()
  string(SUBSTRING "${out}" ${at} -1 out)
endforeach()
if(NOT out MATCHES "\"text\":\"hi\"")
  message(FATAL_ERROR "livechat-minimal: the message did not come back:\n${out}")
endif()
message(STATUS "livechat-minimal: ok")
