// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_WEBSOCKETPP_SERVER_TRANSPORT_HPP
#define LIVECHAT_WEBSOCKETPP_SERVER_TRANSPORT_HPP

// server::hub's Transport over a websocketpp server endpoint (target
// livechat::websocketpp: standalone Asio, websocketpp 0.8.2, Threads).
// websocketpp 0.8.2 does not compile as C++20 under GCC >= 11
// (zaphoyd/websocketpp#991): build the code that includes this as C++17.
//
// The namespace is livechat::wspp, not livechat::websocketpp: the latter
// would hide ::websocketpp from every `namespace livechat` block and from
// code that says `using namespace livechat`.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/frame.hpp>
#include <websocketpp/server.hpp>
#include <websocketpp/utf8_validator.hpp>

#include <livechat/server/transport.hpp>
#include <livechat/websocketpp/counting_transport.hpp>
#include <livechat/websocketpp/detail/block_pool.hpp>
#include <livechat/websocketpp/detail/close_reason.hpp>

namespace livechat::wspp {

/// What server_transport keeps on each websocketpp connection. websocketpp
/// makes the config's `connection_base` a base class of every connection, so
/// a handler maps its handle to the hub's id without a lookup table. A
/// config of your own derives its connection_base from this.
struct connection_data {
  std::uint64_t livechat_id = 0;  ///< 0 until server_transport::add assigns one
  /// Only with a transport other than counting_endpoint: payload bytes of
  /// the frames given to websocketpp for this connection and not yet written
  /// to the socket; each frame's deleter subtracts its size once websocketpp
  /// drops it (written, or the connection died). The frames live in
  /// websocketpp::connection's members, which die before this base.
  std::size_t unsent_bytes = 0;
};

/// websocketpp's Asio config (no TLS) with connection_data, the counting
/// transport (counting_transport.hpp) and the largest frame PROTOCOL.md
/// allows (64 KiB; websocketpp closes with 1009 beyond, its own default is
/// 32 MB). websocketpp's endpoint only applies a config default it sees
/// changed, so set_max_message_size() at run time too.
struct server_config : ::websocketpp::config::asio {
  using type = server_config;
  using connection_base = connection_data;
  using transport_type = counting_endpoint<::websocketpp::config::asio::transport_config>;
  static const std::size_t max_message_size = 64 * 1024;
};

namespace detail {
/// Whether a websocketpp connection type reports the batch it is writing
/// (counting_connection does).
template <class Connection, class = void>
struct counts_in_flight : std::false_type {};
template <class Connection>
struct counts_in_flight<Connection, std::void_t<decltype(std::declval<const Connection&>().in_flight_bytes())>>
    : std::true_type {};
}  // namespace detail

/// The hub's Transport (livechat/server/transport.hpp) over a
/// `websocketpp::server<Config>`. An id is a slot of a table and a serial
/// number: the slot finds the connection without a hash lookup (the hub
/// makes two calls per recipient of a broadcast), the serial, never
/// reused, keeps a late event for a closed connection from reaching a
/// newer one in the same slot.
///
/// @tparam Config a websocketpp server config whose `connection_base`
/// derives from connection_data (server_config, or one of your own: a TLS
/// config, another socket policy, other request/response types).
///
/// @par Thread Safety
/// None: every call, the hub's and the handlers', on the thread that runs
/// the endpoint's io_context.
///
/// @code
/// livechat::wspp::server_transport<>::endpoint_type endpoint;
/// livechat::wspp::server_transport<> transport(endpoint);
/// livechat::server::hub<livechat::wspp::server_transport<>> hub(transport, clock, store, auth);
/// transport.bind(hub);  // open, message, close and fail handlers
/// endpoint.init_asio(&io);
/// endpoint.listen(8080);
/// endpoint.start_accept();
/// @endcode
template <class Config = server_config>
class server_transport {
  static_assert(std::is_base_of_v<connection_data, typename Config::connection_base>,
                "the websocketpp config's connection_base must derive from livechat::wspp::connection_data");

 public:
  using connection_id = std::uint64_t;
  using endpoint_type = ::websocketpp::server<Config>;
  using connection_ptr = typename endpoint_type::connection_ptr;
  using message_ptr = typename endpoint_type::message_ptr;

  explicit server_transport(endpoint_type& endpoint)
      : endpoint_(endpoint), msg_manager_(std::make_shared<typename Config::con_msg_manager_type>()) {}

  server_transport(const server_transport&) = delete;
  server_transport& operator=(const server_transport&) = delete;
  ~server_transport() {
    if (pool_ != nullptr) pool_->release();  // frames still queued give their blocks back later
  }

  // --- Transport requirements ----------------------------------------------

  /// Queues one text frame. Every recipient of a broadcast gets the same
  /// prepared websocketpp message (header + payload built once, shared by
  /// all send queues): the hub hands us the same payload pointer for each
  /// recipient in a row, so a one-entry cache keyed by that pointer turns N
  /// copies, N UTF-8 validations and N header encodings into one. Holding
  /// the payload keeps its address from being reused for a different one.
  void send(const connection_id& id, const livechat::server::payload_ptr& payload) {
    auto* con = find(id);
    if (con == nullptr || !payload) return;
    if (payload != cached_payload_) {
      cached_frame_ = prepare(*payload);
      cached_payload_ = cached_frame_ ? payload : nullptr;
    }
    if (!cached_frame_) return;
    if constexpr (counts_in_flight) {
      // websocketpp counts it while queued, the transport while written.
      (void)con->send(cached_frame_);  // fails only when no longer open
    } else {
      // Every recipient gets its own control block over the one shared
      // frame, so its deleter can tell this connection when the frame is
      // gone. The frame is written from websocketpp's queue and then from
      // Asio's in-flight batch, which websocketpp no longer counts; this
      // counts both.
      const std::size_t size = cached_size_;
      con->unsent_bytes += size;
      // Its control block comes from pool_: one per recipient, recycled.
      message_ptr counted(cached_frame_.get(), frame_release{&con->unsent_bytes, size, cached_frame_},
                          detail::pool_allocator<char>(pool_));
      // Fails only when the connection is no longer open (the deleter has
      // run by then): nothing to do.
      (void)con->send(counted);
    }
  }

  /// Starts the closing handshake. The close handler reports the end later.
  void close(const connection_id& id, std::uint16_t code, std::string_view reason) {
    auto* con = find(id);
    if (con == nullptr) return;
    ::websocketpp::lib::error_code ec;
    con->close(code, detail::close_reason(reason), ec);  // ec: already closing/closed
  }

  /// Payload bytes of the frames sent to this connection and not yet written
  /// to the socket: those waiting in websocketpp's queue and the batch being
  /// written, until all of that batch is written. (Frame headers, 2 to 10
  /// bytes a frame, and the kernel's socket buffer are not counted.) With
  /// counting_endpoint, websocketpp's own frames (pongs, the close frame)
  /// count too.
  std::size_t buffered_amount(const connection_id& id) {
    auto* con = find(id);
    if (con == nullptr) return 0;
    if constexpr (counts_in_flight)
      return con->get_buffered_amount() + con->in_flight_bytes();
    else
      return con->unsent_bytes;
  }

  // --- For the endpoint's handlers -----------------------------------------

  /// Open handler: gives the connection its id (then call hub.on_open(id)).
  connection_id add(const connection_ptr& con) {
    std::size_t slot = slots_.size();
    if (free_.empty()) {
      if (slot > slot_mask) throw std::length_error("server_transport: too many connections");
      slots_.emplace_back();
    } else {
      slot = free_.back();
      free_.pop_back();
    }
    const connection_id id = (++last_serial_ << slot_bits) | slot;
    slots_[slot] = {id, con};
    con->livechat_id = id;
    return id;
  }

  /// Close/fail handler: forgets the connection; 0 when it was never added
  /// (a handshake that failed, a plain HTTP request), else its id (then
  /// call hub.on_close(id)).
  connection_id remove(const connection_ptr& con) {
    const connection_id id = con->livechat_id;
    if (id == 0 || find(id) == nullptr) return 0;
    const auto slot = static_cast<std::size_t>(id & slot_mask);
    slots_[slot] = {};
    free_.push_back(slot);
    return id;
  }

  /// Open WebSocket connections, those closing included.
  std::size_t size() const noexcept { return slots_.size() - free_.size(); }

  /// Sets the endpoint's open, message, close and fail handlers to drive
  /// `hub` (a server::hub over this transport): open → add + on_open, text
  /// frame → on_message, binary frame → on_binary, close or fail → remove +
  /// on_close. An embedder with a policy of its own (refusing during
  /// shutdown, counting) sets these handlers itself with add() and remove().
  /// The hub catches what its entry points throw; `hub` must outlive the
  /// endpoint's handlers.
  template <class Hub>
  void bind(Hub& hub) {
    endpoint_.set_open_handler([this, &hub](::websocketpp::connection_hdl hdl) {
      if (auto con = get(hdl)) hub.on_open(add(con));
    });
    endpoint_.set_message_handler([this, &hub](::websocketpp::connection_hdl hdl, message_ptr msg) {
      auto con = get(hdl);
      if (!con || con->livechat_id == 0) return;
      if (msg->get_opcode() == ::websocketpp::frame::opcode::text)
        hub.on_message(con->livechat_id, msg->get_payload());
      else
        hub.on_binary(con->livechat_id);
    });
    auto gone = [this, &hub](::websocketpp::connection_hdl hdl) {
      if (auto con = get(hdl))
        if (const connection_id id = remove(con); id != 0) hub.on_close(id);
    };
    endpoint_.set_close_handler(gone);
    endpoint_.set_fail_handler(gone);
  }

 private:
  connection_ptr get(const ::websocketpp::connection_hdl& hdl) {
    ::websocketpp::lib::error_code ec;
    return endpoint_.get_con_from_hdl(hdl, ec);  // null if already gone
  }

  // The table holds each connection from add() to remove() (its close or
  // fail handler, which websocketpp runs for every connection that
  // opened), so a pointer found here is alive for the current call.
  typename connection_ptr::element_type* find(const connection_id& id) const noexcept {
    const auto slot = static_cast<std::size_t>(id & slot_mask);
    if (slot >= slots_.size() || slots_[slot].id != id) return nullptr;
    return slots_[slot].con.get();
  }

  // Text frames are mostly ASCII: skip the ASCII prefix 8 bytes at a time,
  // then let websocketpp's validator check the rest byte by byte.
  static bool valid_utf8(const std::string& s) {
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      std::uint64_t word;
      std::memcpy(&word, s.data() + i, 8);
      if ((word & 0x8080808080808080ULL) != 0) break;
    }
    ::websocketpp::utf8_validator::validator v;
    return v.decode(s.begin() + static_cast<std::ptrdiff_t>(i), s.end()) && v.complete();
  }

  struct frame_release {
    std::size_t* counter;
    std::size_t size;
    message_ptr frame;  // keeps the shared frame alive
    void operator()(typename message_ptr::element_type*) noexcept { *counter -= size; }
  };

  // A finished server-to-client frame (servers do not mask), as
  // websocketpp's own processor would build it. nullptr for invalid UTF-8:
  // a text frame must never carry it, and the hub's encoder never makes it.
  message_ptr prepare(const std::string& payload) {
    if (!valid_utf8(payload)) return nullptr;
    auto msg = msg_manager_->get_message(::websocketpp::frame::opcode::text, 0);
    ::websocketpp::frame::basic_header h(::websocketpp::frame::opcode::text, payload.size(),
                                         /*fin=*/true, /*mask=*/false);
    msg->set_header(::websocketpp::frame::prepare_header(
        h, ::websocketpp::frame::extended_header(payload.size())));
    msg->set_payload(payload);
    msg->set_prepared(true);
    cached_size_ = payload.size();  // as websocketpp counts its queue
    return msg;
  }

  static constexpr bool counts_in_flight =
      detail::counts_in_flight<typename connection_ptr::element_type>::value;

  endpoint_type& endpoint_;
  std::shared_ptr<typename Config::con_msg_manager_type> msg_manager_;
  // An id is (serial << slot_bits) | slot: 2^24 connections at once, 2^40
  // over the transport's life.
  static constexpr unsigned slot_bits = 24;
  static constexpr connection_id slot_mask = (connection_id{1} << slot_bits) - 1;
  struct slot_entry {
    connection_id id = 0;
    connection_ptr con;
  };
  std::vector<slot_entry> slots_;
  std::vector<std::size_t> free_;  // empty slots, reused before the table grows
  connection_id last_serial_ = 0;
  // Up to 16,384 control blocks (~1 MB) kept for reuse.
  // Only without counting_endpoint.
  detail::block_pool* pool_ = counts_in_flight ? nullptr : detail::block_pool::create(16 * 1024);
  livechat::server::payload_ptr cached_payload_;
  message_ptr cached_frame_;
  std::size_t cached_size_ = 0;
};

static_assert(livechat::server::is_transport_v<server_transport<>>,
              "server_transport must meet the hub's Transport requirements");

}  // namespace livechat::wspp

#endif
