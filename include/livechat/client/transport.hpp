// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_TRANSPORT_HPP
#define LIVECHAT_CLIENT_TRANSPORT_HPP

// The Transport requirements of client::session (docs/concepts.md, "Client
// transport"), checked with a detection trait so a wrong type fails with one
// clear message, and the close codes the client itself sends. The Clock
// requirements, shared with server::hub, are in livechat/clock.hpp.

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <livechat/protocol/close_codes.hpp>

namespace livechat::client {

namespace detail {
template <class T, class = void>
struct is_client_transport_impl : std::false_type {};

template <class T>
struct is_client_transport_impl<
    T, std::void_t<decltype(std::declval<T&>().connect()),
                   decltype(std::declval<T&>().send(std::declval<std::string>())),
                   decltype(std::declval<T&>().close(std::declval<std::uint16_t>(),
                                                     std::declval<std::string_view>()))>>
    : std::true_type {};
}  // namespace detail

/// True when T provides `connect()`, `send(std::string)` and
/// `close(std::uint16_t code, std::string_view reason)` (docs/concepts.md,
/// "Client transport").
template <class T>
inline constexpr bool is_client_transport_v = detail::is_client_transport_impl<T>::value;

/// Close codes the client uses (the server's are in protocol/close_codes.hpp).
namespace close_codes {
inline constexpr std::uint16_t normal = close_code::normal;  ///< stop()
inline constexpr std::uint16_t timeout = 4000;  ///< heartbeat or connect timeout (ours)
}  // namespace close_codes

}  // namespace livechat::client

#endif
