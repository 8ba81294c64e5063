// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_AUTH_DEV_AUTHENTICATOR_HPP
#define LIVECHAT_AUTH_DEV_AUTHENTICATOR_HPP

// `--auth dev`: the token is the user id. For local development and tests
// only; it proves nothing about who is on the other end.

#include <string>
#include <string_view>

#include <livechat/auth/authenticator.hpp>
#include <livechat/error.hpp>
#include <livechat/protocol/model.hpp>
#include <livechat/protocol/timestamp.hpp>

namespace livechat {

/// Accepts any valid user id (authenticator::is_valid_user_id: 1..128 bytes
/// of printable UTF-8) as a token, and takes it as the user id;
/// `name` is the user id and `role` is operator.
///
/// @par Thread Safety
/// Stateless; see authenticator for the counters.
///
/// @code
/// livechat::dev_authenticator auth;
/// auto id = auth.authenticate("alice", now);  // {"alice", "alice", operator_}
/// @endcode
class dev_authenticator final : public authenticator {
 protected:
  result<identity> do_authenticate(std::string_view token, system_time /*now*/) override {
    if (!is_valid_user_id(token)) return errc::auth_failed;
    identity id;
    id.user_id = std::string(token);
    id.name = id.user_id;
    id.role = user_role::operator_;
    return id;
  }
};

}  // namespace livechat

#endif
