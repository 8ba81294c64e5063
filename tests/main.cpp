// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// The one translation unit that compiles Catch2's implementation and main().
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
