// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// server::hub over a transport whose connection_id has `==` but no
// std::hash. Built twice by tests/compile/CMakeLists.txt: with
// LIVECHAT_COMPILE_CONTROL the id is hashable and the TU must compile (so
// the failure below has no other cause); without it, compiling must fail
// with the hub's static_assert message, not only inside <unordered_map>.
#include <livechat/clock.hpp>
#include <livechat/server/hub.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

namespace {

struct id {
  int v = 0;
  friend bool operator==(const id& a, const id& b) { return a.v == b.v; }
};

}  // namespace

#ifdef LIVECHAT_COMPILE_CONTROL
template <>
struct std::hash<id> {
  std::size_t operator()(const id& x) const noexcept { return std::hash<int>{}(x.v); }
};
#endif

namespace {

struct transport {
  using connection_id = id;
  void send(const connection_id&, const livechat::server::payload_ptr&) {}
  void close(const connection_id&, std::uint16_t, std::string_view) {}
  std::size_t buffered_amount(const connection_id&) const { return 0; }
};

}  // namespace

// Instantiates the class (its static_asserts and member declarations) and
// the members that use the id as a map key. Never called.
[[maybe_unused]] inline void use(livechat::server::hub<transport, livechat::manual_clock>& h) {
  h.on_open(id{1});
  h.on_message(id{1}, "{}");
  h.on_close(id{1});
}
