// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_LIVECHAT_HPP
#define LIVECHAT_LIVECHAT_HPP

// The umbrella header of the core (`livechat::livechat`: C++17 + RapidJSON).
// Adapters with more dependencies have their own headers and targets:
// <livechat/auth/jwt_authenticator.hpp> needs `livechat::jwt` (OpenSSL).

#include <livechat/version.hpp>
#include <livechat/error.hpp>
#include <livechat/clock.hpp>
#include <livechat/text.hpp>
#include <livechat/rate_limit.hpp>
#include <livechat/protocol/timestamp.hpp>
#include <livechat/protocol/room_name.hpp>
#include <livechat/protocol/model.hpp>
#include <livechat/protocol/events.hpp>
#include <livechat/protocol/close_codes.hpp>
#include <livechat/protocol/codec.hpp>
#include <livechat/protocol/json_writer.hpp>
#include <livechat/protocol/message_fields.hpp>
#include <livechat/protocol/server_codec.hpp>
#include <livechat/protocol/line_webhook.hpp>
#include <livechat/rooms/room_registry.hpp>
#include <livechat/presence/presence_tracker.hpp>
#include <livechat/presence/typing_tracker.hpp>
#include <livechat/sessions/session_rules.hpp>
#include <livechat/auth/authenticator.hpp>
#include <livechat/auth/dev_authenticator.hpp>
#include <livechat/store/attachment_record.hpp>
#include <livechat/store/message_store.hpp>
#include <livechat/store/memory_store.hpp>
#include <livechat/server/transport.hpp>
#include <livechat/server/hub_config.hpp>
#include <livechat/server/hub.hpp>
#include <livechat/client/backoff.hpp>
#include <livechat/client/message_queue.hpp>
#include <livechat/client/message_label.hpp>
#include <livechat/client/session.hpp>

#endif
