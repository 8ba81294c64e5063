// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// The client needs nothing from the server side: the Clock trait it checks
// lives in livechat/clock.hpp, not in server/transport.hpp. Built as part
// of `all` (tests/compile/CMakeLists.txt).
#include <livechat/client/session.hpp>

#if defined(LIVECHAT_SERVER_TRANSPORT_HPP) || defined(LIVECHAT_SERVER_HUB_HPP)
#error "livechat/client/session.hpp pulls in a server header"
#endif

static_assert(livechat::is_clock_v<livechat::default_clock>);
