// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_LOG_WEBSOCKETPP_LOGGER_HPP
#define LIVECHAT_EXAMPLES_SERVER_LOG_WEBSOCKETPP_LOGGER_HPP

// A websocketpp logger policy (the config's alog_type / elog_type, in place
// of websocketpp::log::basic) that hands every line to the server's sink
// (sink.hpp): `event=websocketpp_<channel> msg="..."`, so each channel is
// its own rate-limit kind and websocketpp's text, which quotes what peers
// sent, is escaped like any other value.
//
// websocketpp constructs its loggers itself (one per endpoint, shared by
// every connection), so the sink is attached afterwards with
// set_sink(&sink) on endpoint.get_alog() and get_elog(); a logger without a
// sink writes nothing.

#include <string>
#include <string_view>

#include <websocketpp/logger/levels.hpp>

#include "sink.hpp"

namespace livechat_server::logging {

/// The sink level of a websocketpp error-log channel. fatal: a connection
/// is lost to a library or socket failure. rerror (websocketpp's
/// "recoverable error"): nearly always a peer that broke the protocol or
/// hung up, so warn. websocketpp's warn and info are about peer behaviour
/// too ("got non-close frame while closing", one per frame a closed client
/// keeps sending), which is noise unless debugging.
inline level elog_level(websocketpp::log::level channel) noexcept {
  using el = websocketpp::log::elevel;
  if (channel & el::fatal) return level::error;
  if (channel & el::rerror) return level::warn;
  if (channel & el::devel) return level::trace;
  return level::debug;
}

/// Access-log channels are debug (frames, connects, HTTP) or trace (devel).
inline level alog_level(websocketpp::log::level channel) noexcept {
  return (channel & websocketpp::log::alevel::devel) ? level::trace : level::debug;
}

/// The error-log channels worth enabling at `min`: websocketpp builds each
/// message before it calls write, so channels the sink would drop are
/// turned off at the source.
inline websocketpp::log::level elog_channels(level min) noexcept {
  using el = websocketpp::log::elevel;
  websocketpp::log::level c = 0;
  for (websocketpp::log::level ch : {el::devel, el::library, el::info, el::warn, el::rerror, el::fatal})
    if (min != level::off && elog_level(ch) >= min) c |= ch;
  return c;
}

/// The access-log channels enabled at `min`: `disconnect` (close codes and
/// reasons) at debug and below, nothing else. websocketpp's connect, http
/// and fail lines quote the request URI, and clients put tokens in query
/// strings (docs/security.md: no token is ever written to a log).
inline websocketpp::log::level alog_channels(level min) noexcept {
  // By value: websocketpp's static const levels have no out-of-line definitions.
  const websocketpp::log::level disconnect = websocketpp::log::alevel::disconnect;
  return min <= level::debug ? disconnect : websocketpp::log::level{0};
}

/// Requirements of websocketpp's logger policy (see websocketpp/logger/
/// basic.hpp): the two constructors websocketpp calls, channel masks,
/// write, static_test and dynamic_test. `Concurrency` is unused: the sink
/// has its own mutex.
template <class Concurrency, class Names>
class websocketpp_logger {
 public:
  using channel_level = websocketpp::log::level;
  using hint = websocketpp::log::channel_type_hint::value;

  explicit websocketpp_logger(hint h = websocketpp::log::channel_type_hint::access) noexcept
      : websocketpp_logger(0xffffffff, h) {}
  websocketpp_logger(channel_level static_channels, hint h) noexcept
      : static_channels_(static_channels), error_log_(h == websocketpp::log::channel_type_hint::error) {}

  void set_sink(sink* s) noexcept { sink_ = s; }

  void set_channels(channel_level channels) noexcept {
    if (channels == Names::none) return clear_channels(Names::all);
    dynamic_channels_ |= channels & static_channels_;
  }
  void clear_channels(channel_level channels) noexcept { dynamic_channels_ &= ~channels; }

  void write(channel_level channel, const std::string& msg) { write(channel, msg.c_str()); }
  void write(channel_level channel, const char* msg) {
    if (sink_ == nullptr || !dynamic_test(channel)) return;
    level l = error_log_ ? elog_level(channel) : alog_level(channel);
    // The server logs its own refusals (event=handshake_refused, with the
    // address and the reason); this line would repeat each one without them.
    if (error_log_ && std::string_view(msg).rfind("Handshake ended with HTTP error", 0) == 0)
      l = level::debug;
    if (!sink_->enabled(l)) return;
    const std::string event = std::string("websocketpp_") + Names::channel_name(channel);
    sink_->write(l, event, {field("msg", msg)});
  }

  constexpr bool static_test(channel_level channel) const noexcept {
    return (channel & static_channels_) != 0;
  }
  bool dynamic_test(channel_level channel) const noexcept { return (channel & dynamic_channels_) != 0; }

 private:
  channel_level static_channels_;
  channel_level dynamic_channels_ = 0;
  bool error_log_;
  sink* sink_ = nullptr;
};

}  // namespace livechat_server::logging

#endif
