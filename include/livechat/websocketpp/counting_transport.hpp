// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_WEBSOCKETPP_COUNTING_TRANSPORT_HPP
#define LIVECHAT_WEBSOCKETPP_COUNTING_TRANSPORT_HPP

// websocketpp's Asio transport, with connections that know how many bytes
// the write in progress carries.
//
// Why: the hub's backpressure needs each connection's unsent bytes, exact.
// websocketpp counts the frames waiting in its send queue
// (get_buffered_amount) but forgets a batch once it hands it to Asio, and
// that batch can be as large as the queue was. Counting it from outside
// meant giving every recipient of a broadcast its own shared_ptr control
// block with a deleter, so a thousand recipients touched a thousand blocks
// three times each (queue, batch, release). This transport sees the batch
// itself: websocketpp::connection::write_frame hands every batch to its
// transport's `async_write(buffers, handler)`, one at a time per connection,
// and that call is made through the transport type the config names, so a
// derived connection's overload is the one that runs.
//
// Use it in a websocketpp config as the transport type:
//
// @code
// struct my_config : websocketpp::config::asio {
//   // ...
//   using transport_type = livechat::wspp::counting_endpoint<transport_config>;
// };
// @endcode
//
// server_transport then reports `get_buffered_amount() + in_flight_bytes()`
// (payload bytes, as websocketpp counts its queue) and shares one frame
// among all recipients; with another transport it falls back to a control
// block per recipient.
//
// In a config without enable_multithreading (the bundled server's), its
// connections also queue websocketpp's deferred calls (write_frame after a
// send, pings, closes) on one detail::dispatch_batch per io_context, so a
// broadcast's burst is one posted operation, not one per recipient.

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include <livechat/websocketpp/detail/dispatch_batch.hpp>

#include <websocketpp/transport/asio/connection.hpp>
#include <websocketpp/transport/asio/endpoint.hpp>
#include <websocketpp/version.hpp>

// write_frame's batch layout (below) is websocketpp 0.8's: check it again
// before allowing another version.
static_assert(::websocketpp::major_version == 0 && ::websocketpp::minor_version == 8,
              "livechat/websocketpp/counting_transport.hpp is written against websocketpp 0.8");

namespace livechat::wspp {

/// websocketpp::transport::asio::connection plus `in_flight_bytes()`.
///
/// @par Thread Safety
/// As the base: the counter is written and read on the thread that runs the
/// connection's handlers (server_transport's rule).
template <class TransportConfig>
class counting_connection : public ::websocketpp::transport::asio::connection<TransportConfig> {
  using base = ::websocketpp::transport::asio::connection<TransportConfig>;

 public:
  using base::base;
  using base::async_write;  // the single-buffer overload (HTTP handshakes)

  /// Payload bytes of the batch being written (the frames websocketpp took
  /// from its queue), 0 when no write is in progress. Like
  /// get_buffered_amount(), it leaves out the frame headers (2 to 10 bytes
  /// a frame).
  std::size_t in_flight_bytes() const noexcept { return in_flight_; }

  /// websocketpp runs `write_frame` (after a send to an idle connection or
  /// a finished write), pings, pongs and closes through this. In a config
  /// without enable_multithreading, every connection of an io_context
  /// queues them on one detail::dispatch_batch: one posted operation runs a
  /// whole burst, in order (see there). Otherwise the base posts each
  /// through the connection's strand.
  ::websocketpp::lib::error_code dispatch(::websocketpp::transport::dispatch_handler handler) {
    if constexpr (!TransportConfig::enable_multithreading) {
      if (batch_ != nullptr) {
        batch_->queue(std::move(handler));
        return {};
      }
    }
    return base::dispatch(std::move(handler));
  }

  /// websocketpp writes each batch of frames through this overload, and
  /// starts the next one only from the handler: one batch at a time.
  void async_write(const std::vector<::websocketpp::transport::buffer>& bufs,
                   ::websocketpp::transport::write_handler handler) {
    // websocketpp 0.8's write_frame hands each frame as two buffers, its
    // header then its payload.
    std::size_t bytes = 0;
    for (std::size_t i = 1; i < bufs.size(); i += 2) bytes += bufs[i].len;
    in_flight_ = bytes;
    // The base keeps the connection alive (a shared_ptr in the bound
    // handler) until the handler has run, so `this` is valid in it. A
    // one-pointer lambda fits in std::function without an allocation, and
    // the handler it calls is moved out first: it may start the next write.
    pending_ = std::move(handler);
    base::async_write(bufs, [this](const ::websocketpp::lib::error_code& ec) {
      in_flight_ = 0;
      auto h = std::move(pending_);
      if (h) h(ec);
    });
  }

 private:
  template <class>
  friend class counting_endpoint;

  std::size_t in_flight_ = 0;
  detail::dispatch_batch* batch_ = nullptr;  // set by counting_endpoint::init
  ::websocketpp::transport::write_handler pending_;
};

/// websocketpp::transport::asio::endpoint whose connections are
/// counting_connection; in a single-threaded config it also hands each new
/// connection its io_context's dispatch_batch. Everything else is the
/// base's.
template <class TransportConfig>
class counting_endpoint : public ::websocketpp::transport::asio::endpoint<TransportConfig> {
  using base = ::websocketpp::transport::asio::endpoint<TransportConfig>;

 public:
  using transport_con_type = counting_connection<TransportConfig>;

 protected:
  /// websocketpp::endpoint initializes each new connection through its
  /// transport type, so this is the one that runs: it gives the connection
  /// its io_context's dispatch_batch.
  ::websocketpp::lib::error_code init(std::shared_ptr<transport_con_type> tcon) {
    if constexpr (!TransportConfig::enable_multithreading) {
      tcon->batch_ = &::asio::use_service<detail::dispatch_batch>(base::get_io_service());
    }
    return base::init(std::move(tcon));
  }
};

}  // namespace livechat::wspp

#endif
