// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_REDIS_CONNECTION_HPP
#define LIVECHAT_REDIS_CONNECTION_HPP

// One hiredis async connection on an Asio io_context (target
// livechat::redis): connect, reconnect with client::backoff after any loss,
// fire-and-forget commands (PUBLISH, HSET ...) with a bound on the bytes
// written but not yet answered, and SUBSCRIBE/UNSUBSCRIBE per channel,
// renewed after every reconnect. A connection is either a command
// connection or a subscriber (Redis allows nothing else on a subscribed
// connection); livechat/redis/broker.hpp pairs one of each.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <livechat/client/backoff.hpp>
#include <livechat/redis/detail/asio_adapter.hpp>

namespace livechat::redis {

struct connection_options {
  std::string host = "127.0.0.1";  ///< an address: hiredis resolves names with a blocking call
  std::uint16_t port = 6379;
  /// Reconnect delays (full jitter): 50 ms, doubling up to 2 s.
  client::backoff_settings backoff{std::chrono::milliseconds(50), std::chrono::milliseconds(2000), 2.0,
                                   true, std::nullopt, std::chrono::milliseconds(10'000)};
  std::chrono::milliseconds connect_timeout{2000};
  /// Commands written but not answered, in bytes, before new ones are
  /// dropped: a Redis that stopped reading cannot grow this process.
  std::size_t max_pending_bytes = 8u << 20;
};

struct connection_stats {
  std::uint64_t connects = 0;
  std::uint64_t disconnects = 0;
  std::uint64_t commands = 0;
  std::uint64_t dropped = 0;   ///< down, or over max_pending_bytes
  std::uint64_t errors = 0;    ///< error replies
  std::uint64_t messages = 0;  ///< pub/sub messages received
};

/// @par Thread Safety
/// None: everything runs on the io_context's thread. Handlers run from
/// inside the io_context; they may call back into the connection.
class connection {
 public:
  using message_handler = std::function<void(std::string_view channel, std::string_view payload)>;
  using channel_handler = std::function<void(std::string_view channel)>;
  using state_handler = std::function<void(bool up, std::string_view why)>;

  connection(asio::io_context& io, connection_options o)
      : io_(io), opt_(std::move(o)), backoff_(opt_.backoff), retry_(io), connect_timer_(io) {}

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection() { stop(); }

  void on_message(message_handler h) { on_message_ = std::move(h); }
  void on_subscribed(channel_handler h) { on_subscribed_ = std::move(h); }
  void on_state(state_handler h) { on_state_ = std::move(h); }

  /// Connects (and keeps reconnecting until `stop`).
  void start() {
    stopped_ = false;
    if (ac_ == nullptr) connect();
  }

  /// Closes the connection; no handler runs afterwards.
  void stop() {
    stopped_ = true;
    asio::error_code ignored;
    retry_.cancel();
    connect_timer_.cancel();
    if (ac_ != nullptr) {
      redisAsyncContext* ac = ac_;
      ac_ = nullptr;
      up_ = false;
      redisAsyncFree(ac);  // runs the pending callbacks with no reply: ignored while stopped_
    }
  }

  bool up() const noexcept { return up_; }
  std::size_t pending_bytes() const noexcept { return pending_bytes_; }
  const connection_stats& stats() const noexcept { return stats_; }

  /// Sends `argv` as one command; the answer only counts (errors). False,
  /// sending nothing, while down or over max_pending_bytes.
  bool command(const std::vector<std::string_view>& argv) {
    std::size_t bytes = 16;
    for (auto a : argv) bytes += a.size() + 16;
    if (!up_ || subscriber_ || pending_bytes_ + bytes > opt_.max_pending_bytes) {
      ++stats_.dropped;
      return false;
    }
    std::vector<const char*> ptrs;
    std::vector<std::size_t> lens;
    ptrs.reserve(argv.size());
    lens.reserve(argv.size());
    for (auto a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAsyncCommandArgv(ac_, &connection::on_reply, reinterpret_cast<void*>(bytes),
                              static_cast<int>(argv.size()), ptrs.data(), lens.data()) != REDIS_OK) {
      ++stats_.dropped;
      return false;
    }
    pending_bytes_ += bytes;
    ++stats_.commands;
    unflushed_ = true;
    return true;
  }

  /// Writes the commands given since the last flush now rather than when
  /// the loop next polls the socket (after every handler queued before:
  /// the latency of a publish should not include the sends a commit just
  /// queued). One write for all of them; nothing when there are none.
  void flush() {
    if (!unflushed_) return;
    unflushed_ = false;
    if (ac_ != nullptr && up_) detail::asio_adapter::write_now(ac_);
  }

  bool publish(std::string_view channel, std::string_view message) {
    return command({"PUBLISH", channel, message});
  }

  /// Makes this a subscriber connection; the subscription is renewed after
  /// every reconnect, and each confirmation calls the `on_subscribed` handler.
  void subscribe(const std::string& channel) {
    subscriber_ = true;
    if (!channels_.insert(channel).second) return;
    if (up_) send_subscription("SUBSCRIBE", channel);
  }

  void unsubscribe(const std::string& channel) {
    if (channels_.erase(channel) == 0) return;
    if (up_) send_subscription("UNSUBSCRIBE", channel);
  }

  bool subscribed_to(const std::string& channel) const { return channels_.count(channel) != 0; }

 private:
  void connect() {
    redisAsyncContext* ac = redisAsyncConnect(opt_.host.c_str(), opt_.port);
    if (ac == nullptr || ac->err != 0) {
      const std::string why = ac == nullptr ? "out of memory" : ac->errstr;
      if (ac != nullptr) redisAsyncFree(ac);
      schedule_retry(why);
      return;
    }
    ac->data = this;
    if (!detail::asio_adapter::attach(io_, ac)) {
      redisAsyncFree(ac);
      schedule_retry("cannot attach to the event loop");
      return;
    }
    redisAsyncSetConnectCallback(ac, &connection::on_connect);
    redisAsyncSetDisconnectCallback(ac, &connection::on_disconnect);
    ac_ = ac;
    connect_timer_.expires_after(opt_.connect_timeout);
    connect_timer_.async_wait([this, ac](const asio::error_code& ec) {
      if (ec || ac_ != ac || up_) return;
      ac_ = nullptr;
      redisAsyncFree(ac);  // not connected: no disconnect callback
      schedule_retry("connect timeout");
    });
  }

  void schedule_retry(std::string_view why) {
    if (on_state_ && was_up_) on_state_(false, why);
    was_up_ = false;
    if (stopped_) return;
    const auto delay = backoff_.next_delay().value_or(opt_.backoff.cap);
    retry_.expires_after(delay);
    retry_.async_wait([this](const asio::error_code& ec) {
      if (ec || stopped_ || ac_ != nullptr) return;
      connect();
    });
  }

  void send_subscription(const char* verb, const std::string& channel) {
    const char* argv[] = {verb, channel.data()};
    const std::size_t lens[] = {std::char_traits<char>::length(verb), channel.size()};
    redisAsyncCommandArgv(ac_, &connection::on_sub_reply, nullptr, 2, argv, lens);
  }

  static connection* owner(const redisAsyncContext* ac) {
    auto* self = static_cast<connection*>(ac->data);
    return self == nullptr || self->stopped_ || self->ac_ != ac ? nullptr : self;
  }

  static void on_connect(const redisAsyncContext* ac, int status) {
    connection* self = owner(ac);
    if (self == nullptr) return;
    self->connect_timer_.cancel();
    if (status != REDIS_OK) {  // hiredis frees the context after this
      self->ac_ = nullptr;
      self->schedule_retry(ac->errstr);
      return;
    }
    self->up_ = true;
    self->was_up_ = true;
    ++self->stats_.connects;
    self->backoff_.reset();
    for (const auto& ch : self->channels_) self->send_subscription("SUBSCRIBE", ch);
    if (self->on_state_) self->on_state_(true, {});
  }

  static void on_disconnect(const redisAsyncContext* ac, int) {
    connection* self = owner(ac);
    if (self == nullptr) return;
    self->ac_ = nullptr;  // hiredis frees the context after this
    self->up_ = false;
    ++self->stats_.disconnects;
    self->schedule_retry(ac->errstr != nullptr && ac->errstr[0] != '\0' ? ac->errstr : "connection lost");
  }

  static void on_reply(redisAsyncContext* ac, void* r, void* privdata) {
    auto* self = static_cast<connection*>(ac->data);
    if (self == nullptr) return;
    const auto bytes = reinterpret_cast<std::size_t>(privdata);
    self->pending_bytes_ -= bytes <= self->pending_bytes_ ? bytes : self->pending_bytes_;
    const auto* reply = static_cast<const redisReply*>(r);
    if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) ++self->stats_.errors;
  }

  static void on_sub_reply(redisAsyncContext* ac, void* r, void*) {
    connection* self = owner(ac);
    const auto* reply = static_cast<const redisReply*>(r);
    if (self == nullptr || reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
      return;
    const redisReply* kind = reply->element[0];
    const redisReply* channel = reply->element[1];
    if (kind->type != REDIS_REPLY_STRING || channel->type != REDIS_REPLY_STRING) return;
    const std::string_view k(kind->str, kind->len);
    const std::string_view ch(channel->str, channel->len);
    if (k == "message") {
      const redisReply* payload = reply->element[2];
      if (payload->type != REDIS_REPLY_STRING) return;
      ++self->stats_.messages;
      if (self->on_message_) self->on_message_(ch, std::string_view(payload->str, payload->len));
    } else if (k == "subscribe") {
      if (self->on_subscribed_ && self->channels_.count(std::string(ch)) != 0) self->on_subscribed_(ch);
    }
  }

  asio::io_context& io_;
  connection_options opt_;
  client::backoff backoff_;
  asio::steady_timer retry_;
  asio::steady_timer connect_timer_;
  redisAsyncContext* ac_ = nullptr;
  bool up_ = false;
  bool was_up_ = true;  // the first failure to connect is reported too
  bool stopped_ = true;
  bool subscriber_ = false;
  bool unflushed_ = false;  // commands given since flush()
  std::size_t pending_bytes_ = 0;
  std::set<std::string> channels_;
  connection_stats stats_;
  message_handler on_message_;
  channel_handler on_subscribed_;
  state_handler on_state_;
};

}  // namespace livechat::redis

#endif
