// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_AUTH_AUTHENTICATOR_HPP
#define LIVECHAT_AUTH_AUTHENTICATOR_HPP

// The Authenticator runtime interface: maps an `auth` token to an identity.
// Public non-virtual `authenticate` rejects the obviously bad and counts;
// backends implement `do_authenticate`.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <livechat/detail/utf8.hpp>
#include <livechat/error.hpp>
#include <livechat/protocol/model.hpp>
#include <livechat/protocol/timestamp.hpp>

namespace livechat {

struct authenticator_stats {
  std::uint64_t accepted = 0;
  std::uint64_t rejected = 0;
};

/// @par Thread Safety
/// One thread at a time (the hub's): the counters are plain integers.
/// The implementations shipped here keep no other state after construction.
class authenticator {
 public:
  /// Tokens longer than this are rejected before any parsing.
  static constexpr std::size_t max_token_length = 8192;

  /// The longest user id, in bytes, that any authenticator hands out (a
  /// dev token, a JWT `sub`), so switching modes never changes which user
  /// ids can exist.
  static constexpr std::size_t max_user_id_length = 128;

  /// The user-id rule shared by every authenticator: 1..max_user_id_length
  /// bytes of printable UTF-8. User ids are echoed into presence lists,
  /// logs and operators' screens (see detail::is_printable_utf8).
  static bool is_valid_user_id(std::string_view id) noexcept {
    return !id.empty() && id.size() <= max_user_id_length && detail::is_printable_utf8(id);
  }

  virtual ~authenticator() = default;

  /// `errc::auth_failed` for any rejected token (the reason is not told to
  /// the client: it would help an attacker more than a user).
  result<identity> authenticate(std::string_view token, system_time now) {
    if (token.empty() || token.size() > max_token_length) {
      ++stats_.rejected;
      return errc::auth_failed;
    }
    auto r = do_authenticate(token, now);
    if (r)
      ++stats_.accepted;
    else
      ++stats_.rejected;
    return r;
  }

  const authenticator_stats& stats() const noexcept { return stats_; }

 protected:
  virtual result<identity> do_authenticate(std::string_view token, system_time now) = 0;

 private:
  authenticator_stats stats_;
};

}  // namespace livechat

#endif
