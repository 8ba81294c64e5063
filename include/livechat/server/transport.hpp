// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_SERVER_TRANSPORT_HPP
#define LIVECHAT_SERVER_TRANSPORT_HPP

// The Transport requirements of server::hub (docs/concepts.md), checked
// with detection traits so a wrong type fails with one clear message.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace livechat::server {

/// The immutable frame the hub hands to every recipient of one event.
using payload_ptr = std::shared_ptr<const std::string>;

namespace detail {
template <class...>
using void_t = void;

template <class T, class = void>
struct is_transport_impl : std::false_type {};

template <class T>
struct is_transport_impl<
    T, void_t<typename T::connection_id,
              decltype(std::declval<T&>().send(std::declval<const typename T::connection_id&>(),
                                               std::declval<const payload_ptr&>())),
              decltype(std::declval<T&>().close(std::declval<const typename T::connection_id&>(),
                                                std::declval<std::uint16_t>(),
                                                std::declval<std::string_view>())),
              decltype(static_cast<std::size_t>(std::declval<T&>().buffered_amount(
                  std::declval<const typename T::connection_id&>())))>>
    : std::bool_constant<std::is_copy_constructible_v<typename T::connection_id>> {};

template <class C, class = void>
struct is_clock_impl : std::false_type {};

template <class C>
struct is_clock_impl<C, void_t<typename C::time_point, decltype(std::declval<const C&>().now()),
                               decltype(std::declval<const C&>().system_now())>>
    : std::is_same<decltype(std::declval<const C&>().now()), typename C::time_point> {};
}  // namespace detail

/// True when T provides `connection_id`, `send(id, payload_ptr)`,
/// `close(id, uint16_t code, string_view reason)` and `buffered_amount(id)`.
///
/// `buffered_amount(id)` is the bytes queued for `id` and not yet written
/// (0 for an unknown id). The hub reads it before every send (close 1013
/// above `hub_config::max_unsent_bytes`) and once more before a droppable
/// event (`soft_unsent_bytes`), so it must be cheap: a counter, not a walk
/// over a queue. An approximation that misses an in-flight write is fine.
template <class T>
inline constexpr bool is_transport_v = detail::is_transport_impl<T>::value;

/// True when C provides `time_point`, `now()` and `system_now()`.
template <class C>
inline constexpr bool is_clock_v = detail::is_clock_impl<C>::value;

}  // namespace livechat::server

#endif
