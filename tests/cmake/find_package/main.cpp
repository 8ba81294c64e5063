// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// Uses the installed headers through the umbrella; exits non-zero on a wrong answer.
#include <livechat/livechat.hpp>

#include <chrono>
#include <cstdio>
#include <string>

int main() {
  const livechat::system_time t{std::chrono::milliseconds{1764102265123}};
  const std::string ts = livechat::format_timestamp(t);
  if (ts != "2025-11-25T20:24:25.123Z") {
    std::fprintf(stderr, "format_timestamp: got %s\n", ts.c_str());
    return 1;
  }
  if (!livechat::is_valid_room("conversation:abc") || livechat::is_valid_room("lobby")) {
    std::fprintf(stderr, "is_valid_room: wrong answer\n");
    return 1;
  }
  std::printf("livechat %s: ok\n", LIVECHAT_VERSION_STRING);
  return 0;
}
