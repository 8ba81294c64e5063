// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_SERVER_TRANSPORT_HPP
#define LIVECHAT_SERVER_TRANSPORT_HPP

// The Transport requirements of server::hub (docs/concepts.md), checked
// with detection traits so a wrong type fails with one clear message. The
// Clock requirements, shared with client::session, are in livechat/clock.hpp.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace livechat::server {

/// The immutable frame the hub hands to every recipient of one event.
using payload_ptr = std::shared_ptr<const std::string>;

namespace detail {
// The id is a key of the hub's connection map (std::unordered_map), copied
// into every pending close: checked here so a wrong id type fails with the
// hub's static_assert, not deep inside the standard library.
template <class Id, class = void>
struct is_connection_id_impl : std::false_type {};

template <class Id>
struct is_connection_id_impl<
    Id, std::void_t<decltype(std::declval<const Id&>() == std::declval<const Id&>()),
                    decltype(std::declval<const std::hash<Id>&>()(std::declval<const Id&>()))>>
    : std::bool_constant<
          std::is_copy_constructible_v<Id> && std::is_copy_assignable_v<Id> &&
          std::is_convertible_v<decltype(std::declval<const Id&>() == std::declval<const Id&>()),
                                bool> &&
          std::is_default_constructible_v<std::hash<Id>> &&
          std::is_convertible_v<decltype(std::declval<const std::hash<Id>&>()(
                                    std::declval<const Id&>())),
                                std::size_t>> {};

template <class T, class = void>
struct has_connection_id : std::false_type {};

template <class T>
struct has_connection_id<T, std::void_t<typename T::connection_id>> : std::true_type {};

template <class T, class = void>
struct is_transport_impl : std::false_type {};

template <class T>
struct is_transport_impl<
    T, std::void_t<typename T::connection_id,
                   decltype(std::declval<T&>().send(
                       std::declval<const typename T::connection_id&>(),
                       std::declval<const payload_ptr&>())),
                   decltype(std::declval<T&>().close(
                       std::declval<const typename T::connection_id&>(),
                       std::declval<std::uint16_t>(), std::declval<std::string_view>())),
                   decltype(static_cast<std::size_t>(std::declval<T&>().buffered_amount(
                       std::declval<const typename T::connection_id&>())))>>
    : is_connection_id_impl<typename T::connection_id> {};

// Only the id part, so the hub can name that cause on its own; true when
// there is no id at all (is_transport_v reports that).
template <class T, bool = has_connection_id<T>::value>
struct transport_id_ok : std::true_type {};

template <class T>
struct transport_id_ok<T, true> : is_connection_id_impl<typename T::connection_id> {};
}  // namespace detail

/// True when Id can be a Transport's `connection_id`: copyable,
/// `a == b` convertible to bool, and `std::hash<Id>` usable (the hub keys
/// an `std::unordered_map` with it).
template <class Id>
inline constexpr bool is_connection_id_v = detail::is_connection_id_impl<Id>::value;

/// True when T provides a `connection_id` (see `is_connection_id_v`),
/// `send(id, payload_ptr)`, `close(id, uint16_t code, string_view reason)`
/// and `buffered_amount(id)`.
///
/// `buffered_amount(id)` is the bytes queued for `id` and not yet written
/// (0 for an unknown id). The hub reads it before every send (close 1013
/// above `hub_config::max_unsent_bytes`) and once more before a droppable
/// event (`soft_unsent_bytes`), so it must be cheap: a counter, not a walk
/// over a queue. An approximation that misses an in-flight write is fine.
template <class T>
inline constexpr bool is_transport_v = detail::is_transport_impl<T>::value;

}  // namespace livechat::server

#endif
