// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_REDIS_BROKER_HPP
#define LIVECHAT_REDIS_BROKER_HPP

// The cluster's bus over Redis (target livechat::redis): a command
// connection for PUBLISH and the presence lease, and a subscriber
// connection, each reconnecting on its own. `up()` while both are.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/io_context.hpp>

#include <livechat/cluster/bus.hpp>
#include <livechat/redis/connection.hpp>

namespace livechat::redis {

/// `redis://HOST:PORT` (HOST an IPv4 address or a name; PORT 1-65535,
/// default 6379) into connection options; nullopt (and `why`) otherwise.
inline std::optional<connection_options> parse_redis_url(std::string_view url, std::string& why) {
  constexpr std::string_view scheme = "redis://";
  if (url.substr(0, scheme.size()) != scheme) {
    why = "expected redis://HOST:PORT";
    return std::nullopt;
  }
  url.remove_prefix(scheme.size());
  if (!url.empty() && url.back() == '/') url.remove_suffix(1);
  connection_options o;
  const std::size_t colon = url.rfind(':');
  std::string_view host = url.substr(0, colon);
  if (colon != std::string_view::npos) {
    const std::string_view port = url.substr(colon + 1);
    unsigned long p = 0;
    if (port.empty() || port.size() > 5) {
      why = "bad port in redis URL";
      return std::nullopt;
    }
    for (char c : port) {
      if (c < '0' || c > '9') {
        why = "bad port in redis URL";
        return std::nullopt;
      }
      p = p * 10 + static_cast<unsigned long>(c - '0');
    }
    if (p == 0 || p > 65535) {
      why = "bad port in redis URL";
      return std::nullopt;
    }
    o.port = static_cast<std::uint16_t>(p);
  }
  if (host.empty() || host.find_first_of("/@?#") != std::string_view::npos) {
    why = "bad host in redis URL (user, password, database and options are not supported)";
    return std::nullopt;
  }
  o.host = std::string(host);
  return o;
}

/// @par Thread Safety
/// None: the io_context's thread (the hub's) only.
class broker final : public cluster::bus {
 public:
  using message_handler = connection::message_handler;
  using channel_handler = connection::channel_handler;
  /// `up` changed; `why` names the cause of a loss.
  using state_handler = std::function<void(bool up, std::string_view why)>;

  broker(asio::io_context& io, const connection_options& o) : pub_(io, o), sub_(io, o) {
    pub_.on_state([this](bool, std::string_view why) { changed(why); });
    sub_.on_state([this](bool, std::string_view why) { changed(why); });
  }

  void on_message(message_handler h) { sub_.on_message(std::move(h)); }
  void on_subscribed(channel_handler h) { sub_.on_subscribed(std::move(h)); }
  void on_state(state_handler h) { on_state_ = std::move(h); }

  void start() {
    pub_.start();
    sub_.start();
  }
  void stop() {
    pub_.stop();
    sub_.stop();
  }

  bool publish(std::string_view channel, std::string_view message) override {
    return pub_.publish(channel, message);
  }
  void subscribe(const std::string& channel) override { sub_.subscribe(channel); }
  void unsubscribe(const std::string& channel) override { sub_.unsubscribe(channel); }
  bool command(const std::vector<std::string>& argv) override {
    std::vector<std::string_view> v(argv.begin(), argv.end());
    return pub_.command(v);
  }
  void flush() override { pub_.flush(); }
  bool up() const override { return pub_.up() && sub_.up(); }

  const connection& publisher() const noexcept { return pub_; }
  const connection& subscriber() const noexcept { return sub_; }

 private:
  void changed(std::string_view why) {
    const bool now = up();
    if (now == last_up_) return;
    last_up_ = now;
    if (on_state_) on_state_(now, why);
  }

  connection pub_;
  connection sub_;
  bool last_up_ = false;
  state_handler on_state_;
};

}  // namespace livechat::redis

#endif
