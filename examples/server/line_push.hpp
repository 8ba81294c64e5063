// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_LINE_PUSH_HPP
#define LIVECHAT_EXAMPLES_SERVER_LINE_PUSH_HPP

// The outbound channel: operators' replies pushed to the end user through
// the LINE Messaging API (`POST {api_base}/v2/bot/message/push`).
//
// Design
// - One FIFO queue, one message in flight at a time. That keeps every
//   user's messages in order without per-user bookkeeping, and it is what
//   the failures LINE reports want anyway: 429 (rate limit), 5xx and
//   network errors concern the whole channel, so holding the queue while
//   the head waits to retry is the right reaction, not a side effect. The
//   costs: one TLS connection per message (`Connection: close`) and no
//   parallelism, so each message takes a few round trips to LINE (fine for
//   human operators, not for broadcasts); and a head that keeps failing
//   holds the others for up to max_attempts * request_timeout plus the
//   backoffs (about 2.5 minutes with the defaults) before it is given up.
// - Each message gets a random v4 UUID as `X-Line-Retry-Key`, sent on every
//   attempt of that message: LINE accepts a key once and answers a repeat
//   with 409, so a retry after a lost response is not delivered twice. 409
//   therefore counts as sent.
// - 2xx, 409: sent. 408, 429, 5xx, network errors, TLS errors, timeouts:
//   retried after a full-jitter exponential backoff (a random delay in
//   [0, min(max_backoff, initial_backoff * 2^(n-1))], at least Retry-After
//   when the answer has one), up to max_attempts in all. Any other status:
//   a permanent failure, not retried. Giving up logs one line with the user
//   id and the reason, never the token or the text.
// - Everything runs on the io_context's thread and nothing blocks it:
//   resolve, connect, TLS handshake, write and read are asynchronous and
//   the whole exchange is bounded by request_timeout.
// - The queue lives in memory: what is still queued when the process exits
//   is not pushed (the message itself is stored and stays visible in the
//   console).

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <asio/connect.hpp>
#include <asio/dispatch.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <livechat/protocol/model.hpp>
#include <livechat/version.hpp>

namespace livechat_server {

struct line_push_options {
  /// LINE channel access token, sent as `Authorization: Bearer ...`. Never
  /// logged. Must be printable ASCII without spaces (checked at construction).
  std::string channel_token;
  /// Scheme, host, optional port and optional path prefix of the Messaging
  /// API: `https://host[:port][/prefix]` or `http://host[:port][/prefix]`
  /// (plain HTTP is meant for test doubles). The request goes to
  /// `{api_base}/v2/bot/message/push`.
  std::string api_base = "https://api.line.me";
  /// Upper bound of the random delay before the first retry; doubles with
  /// every further attempt.
  std::chrono::milliseconds initial_backoff{500};
  /// The doubling stops here; also caps a server's Retry-After.
  std::chrono::milliseconds max_backoff{30000};
  /// Attempts per message, the first one included; then it is given up.
  int max_attempts = 8;
  /// Messages held at most, the one in flight included; a message pushed
  /// while the queue is full is dropped (counted and logged).
  std::size_t max_queue = 10000;
  /// Deadline of one attempt: resolve, connect, TLS handshake, request and
  /// response together. Expiry counts as a network error (retried).
  std::chrono::milliseconds request_timeout{10000};
  /// PEM file of CA certificates trusted in addition to the system's
  /// default ones (a TLS-inspecting proxy, a test double); empty: none.
  std::string ca_file;
  /// Where the log lines go (one line, no newline); empty: std::cerr with a
  /// `livechat-server: ` prefix. Called on the io_context's thread, except
  /// for a failure inside push() itself, reported on the caller's thread.
  std::function<void(std::string_view)> log;
};

/// A snapshot of the client's counters; readable from any thread.
struct line_push_stats {
  std::uint64_t sent = 0;                ///< accepted by LINE (2xx, or 409: accepted earlier)
  std::uint64_t failed_permanently = 0;  ///< given up: a 4xx, attempts exhausted, or unusable
  std::uint64_t retried = 0;             ///< attempts after the first one, all messages
  std::uint64_t dropped_queue_full = 0;  ///< pushed while max_queue messages were held
  std::uint64_t in_flight = 0;           ///< 1 while the head message is being sent or waits to retry
  std::uint64_t queued = 0;              ///< messages waiting behind it
};

namespace line_push_detail {

/// `api_base`, taken apart.
struct target {
  bool tls = true;
  std::string host;         ///< for resolving, SNI and certificate checks (no brackets)
  std::string port;         ///< service for the resolver
  std::string host_header;  ///< `Host:` value (brackets, and the port when not the default)
  std::string path;         ///< request target: prefix + /v2/bot/message/push
};

inline bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

/// Throws std::invalid_argument naming what is wrong (never the token).
inline target parse_api_base(std::string_view url) {
  auto bad = [&](const char* why) {
    return std::invalid_argument("line api_base '" + std::string(url) + "': " + why);
  };
  target t;
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) throw bad("expected http://HOST[:PORT] or https://HOST[:PORT]");
  const std::string_view scheme = url.substr(0, sep);
  if (iequals(scheme, "https"))
    t.tls = true;
  else if (iequals(scheme, "http"))
    t.tls = false;
  else
    throw bad("the scheme must be http or https");
  std::string_view rest = url.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) throw bad("no query or fragment allowed");
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view prefix = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  if (authority.find('@') != std::string_view::npos) throw bad("no user info allowed");

  std::string_view host;
  std::string_view port;
  bool v6 = false;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) throw bad("unterminated IPv6 literal");
    host = authority.substr(1, close - 1);
    v6 = true;
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw bad("unexpected text after the IPv6 literal");
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (host.empty()) throw bad("no host");
  for (char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (!(std::isalnum(u) || c == '-' || c == '.' || c == '_' || (v6 && c == ':')))
      throw bad("invalid character in the host");
  }
  const std::string_view default_port = t.tls ? "443" : "80";
  if (port.empty()) {
    port = default_port;
  } else {
    unsigned long n = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || n > 65535) throw bad("invalid port");
      n = n * 10 + static_cast<unsigned long>(c - '0');
    }
    if (n == 0 || n > 65535) throw bad("invalid port");
  }
  for (char c : prefix) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) throw bad("invalid character in the path");
  }
  t.host = std::string(host);
  t.port = std::string(port);
  t.host_header = v6 ? "[" + t.host + "]" : t.host;
  if (port != default_port) t.host_header += ":" + t.port;
  t.path = std::string(prefix) + "/v2/bot/message/push";
  return t;
}

/// A random (version 4) UUID in lowercase hex, from OpenSSL's CSPRNG.
inline std::string make_uuid_v4() {
  unsigned char b[16];
  if (RAND_bytes(b, static_cast<int>(sizeof b)) != 1) {
    std::random_device rd;  // the OS source; RAND_bytes only fails when it is unusable too
    for (auto& x : b) x = static_cast<unsigned char>(rd() & 0xffu);
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0fu) | 0x40u);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3fu) | 0x80u);  // RFC 4122 variant
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < sizeof b; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(hex[b[i] >> 4]);
    out.push_back(hex[b[i] & 0x0fu]);
  }
  return out;
}

/// `{"to":"<to>","messages":[{"type":"text","text":"<text>"}]}`.
inline std::string push_body(std::string_view to, std::string_view text) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto str = [&](std::string_view s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  w.Key("to");
  str(to);
  w.Key("messages");
  w.StartArray();
  w.StartObject();
  w.Key("type");
  w.String("text");
  w.Key("text");
  str(text);
  w.EndObject();
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

/// Printable ASCII only, at most `max` bytes: text from the network that
/// goes into a log line.
inline std::string printable(std::string_view s, std::size_t max = 80) {
  std::string out;
  for (char c : s.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  return out;
}

/// What one attempt came to.
struct attempt_result {
  int status = 0;      ///< HTTP status; 0: no response (see `reason`)
  std::string reason;  ///< reason phrase, or what went wrong before a response
  std::optional<std::chrono::seconds> retry_after;
};

/// Status line and the headers this client looks at.
struct response_head {
  int status = 0;
  std::string reason;
  std::optional<std::size_t> content_length;
  bool chunked = false;
  std::optional<std::chrono::seconds> retry_after;
};

inline std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// Parses `HTTP/1.x NNN reason\r\n(name: value\r\n)*\r\n`; false when malformed.
inline bool parse_head(std::string_view text, response_head& out) {
  auto line_end = text.find("\r\n");
  if (line_end == std::string_view::npos) return false;
  const std::string_view status_line = text.substr(0, line_end);
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ')
    return false;
  int status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    const char c = status_line[i];
    if (c < '0' || c > '9') return false;
    status = status * 10 + (c - '0');
  }
  if (status < 100 || (status_line.size() > 12 && status_line[12] != ' ')) return false;
  out = response_head{};
  out.status = status;
  out.reason = printable(trim(status_line.size() > 12 ? status_line.substr(13) : std::string_view{}));
  std::size_t pos = line_end + 2;
  while (pos < text.size()) {
    line_end = text.find("\r\n", pos);
    if (line_end == std::string_view::npos) line_end = text.size();
    const std::string_view line = text.substr(pos, line_end - pos);
    pos = line_end + 2;
    if (line.empty()) break;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    auto number = [](std::string_view v) -> std::optional<std::size_t> {
      if (v.empty() || v.size() > 15) return std::nullopt;
      std::size_t n = 0;
      for (char c : v) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<std::size_t>(c - '0');
      }
      return n;
    };
    if (iequals(name, "Content-Length")) {
      out.content_length = number(value);
      if (!out.content_length) return false;
    } else if (iequals(name, "Transfer-Encoding")) {
      out.chunked = value.find("chunked") != std::string_view::npos ||
                    value.find("Chunked") != std::string_view::npos;
    } else if (iequals(name, "Retry-After")) {
      // Seconds only; an HTTP date is ignored (the backoff applies).
      if (auto n = number(value); n && *n <= 86400)
        out.retry_after = std::chrono::seconds(static_cast<std::chrono::seconds::rep>(*n));
    }
  }
  if (out.chunked) out.content_length.reset();  // RFC 9112 6.3: chunked wins
  return true;
}

/// One HTTP exchange (one connection, one request, one response), over a
/// plain socket or a TLS stream. Reports exactly once through `done`, then
/// closes the socket. Keeps itself alive through its pending handlers.
template <class Stream>
class exchange : public std::enable_shared_from_this<exchange<Stream>> {
 public:
  using done_fn = std::function<void(attempt_result)>;

  template <class... StreamArgs>
  exchange(asio::io_context& io, std::shared_ptr<const target> t, std::string request,
           std::chrono::milliseconds timeout, done_fn done, StreamArgs&&... stream_args)
      : target_(std::move(t)),
        request_(std::move(request)),
        timeout_(timeout),
        done_(std::move(done)),
        resolver_(io),
        stream_(std::forward<StreamArgs>(stream_args)...),
        timer_(io) {}

  void start() {
    auto self = this->shared_from_this();
    timer_.expires_after(timeout_);
    timer_.async_wait([self](const asio::error_code& ec) {
      if (!ec) self->guard([&] { self->fail("timed out"); });
    });
    resolver_.async_resolve(target_->host, target_->port,
                            [self](const asio::error_code& ec,
                                   const asio::ip::tcp::resolver::results_type& results) {
                              self->guard([&] { self->on_resolve(ec, results); });
                            });
  }

  /// Ends the exchange now without reporting (the client is going away).
  void abort() noexcept {
    finished_ = true;
    done_ = nullptr;
    close();
  }

 private:
  static constexpr std::size_t max_head = 16 * 1024;
  static constexpr std::size_t max_body = 64 * 1024;
  static constexpr bool is_tls = !std::is_same_v<Stream, asio::ip::tcp::socket>;

  template <class F>
  void guard(F&& f) noexcept {
    try {
      f();
    } catch (const std::exception& e) {
      try {
        fail(std::string("internal error: ") + e.what());
      } catch (...) {
        abort();
      }
    } catch (...) {
      try {
        fail("internal error");
      } catch (...) {
        abort();
      }
    }
  }

  void on_resolve(const asio::error_code& ec, const asio::ip::tcp::resolver::results_type& results) {
    if (finished_) return;
    if (ec) return fail("resolve: " + ec.message());
    auto self = this->shared_from_this();
    asio::async_connect(stream_.lowest_layer(), results,
                        [self](const asio::error_code& e, const asio::ip::tcp::endpoint&) {
                          self->guard([&] { self->on_connect(e); });
                        });
  }

  void on_connect(const asio::error_code& ec) {
    if (finished_) return;
    if (ec) return fail("connect: " + ec.message());
    asio::error_code ignored;
    stream_.lowest_layer().set_option(asio::ip::tcp::no_delay(true), ignored);
    auto self = this->shared_from_this();
    if constexpr (is_tls) {
      // SNI (for a host name only: RFC 6066 forbids IP literals), then the
      // peer's chain against the trust store and its name against the host.
      asio::error_code ip_ec;
      (void)asio::ip::make_address(target_->host, ip_ec);
      // SSL_set_tlsext_host_name() spelled out: the macro's C cast trips -Wold-style-cast.
      if (ip_ec && SSL_ctrl(stream_.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME,
                            TLSEXT_NAMETYPE_host_name, const_cast<char*>(target_->host.c_str())) != 1)
        return fail("tls: cannot set the server name");
      stream_.set_verify_mode(asio::ssl::verify_peer);
      stream_.set_verify_callback(asio::ssl::host_name_verification(target_->host));
      stream_.async_handshake(asio::ssl::stream_base::client, [self](const asio::error_code& e) {
        self->guard([&] { self->on_handshake(e); });
      });
    } else {
      write();
    }
  }

  void on_handshake(const asio::error_code& ec) {
    if (finished_) return;
    if (ec) return fail("tls handshake: " + ec.message());
    write();
  }

  void write() {
    auto self = this->shared_from_this();
    asio::async_write(stream_, asio::buffer(request_),
                      [self](const asio::error_code& ec, std::size_t) {
                        self->guard([&] {
                          if (self->finished_) return;
                          if (ec) return self->fail("send: " + ec.message());
                          self->read_head();
                        });
                      });
  }

  void read_head() {
    auto self = this->shared_from_this();
    asio::async_read_until(stream_, asio::dynamic_buffer(buffer_, max_head), "\r\n\r\n",
                           [self](const asio::error_code& ec, std::size_t n) {
                             self->guard([&] { self->on_head(ec, n); });
                           });
  }

  void on_head(const asio::error_code& ec, std::size_t n) {
    if (finished_) return;
    if (ec) return fail("no response: " + ec.message());
    response_head head;
    if (!parse_head(std::string_view(buffer_).substr(0, n), head))
      return fail("malformed response");
    buffer_.erase(0, n);
    if (head.status < 200) {  // 1xx: an interim answer, the real one follows
      if (++interim_ > 4) return fail("too many interim responses");
      return read_head();
    }
    // From here the outcome is known: whatever happens to the body (an
    // error, the timeout) the status stands. A 2xx is not retried because
    // its body was cut short.
    result_.status = head.status;
    result_.reason = head.reason;
    result_.retry_after = head.retry_after;
    const bool no_body = head.status == 204 || head.status == 304 ||
                         (head.content_length && *head.content_length <= buffer_.size());
    if (no_body) return finish();
    auto self = this->shared_from_this();
    auto on_body = [self](const asio::error_code&, std::size_t) {
      self->guard([&] { self->finish(); });
    };
    if (head.content_length) {
      const std::size_t need = *head.content_length - buffer_.size();
      if (*head.content_length > max_body) return finish();  // not worth reading
      asio::async_read(stream_, asio::dynamic_buffer(buffer_, max_body),
                       asio::transfer_exactly(need), on_body);
    } else {  // chunked or delimited by the close: read until EOF (or max_body)
      asio::async_read(stream_, asio::dynamic_buffer(buffer_, max_body), on_body);
    }
  }

  void fail(std::string why) {
    if (finished_) return;
    if (result_.status == 0) result_.reason = std::move(why);
    finish();
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    close();
    if (done_) {
      done_fn done = std::move(done_);
      done_ = nullptr;
      done(std::move(result_));
    }
  }

  void close() noexcept {
    asio::error_code ignored;
    try {
      timer_.cancel();
      resolver_.cancel();
    } catch (...) {  // cancel() throws only when the OS refuses; the close below still ends it all
    }
    stream_.lowest_layer().close(ignored);
  }

  std::shared_ptr<const target> target_;
  std::string request_;
  std::chrono::milliseconds timeout_;
  done_fn done_;
  asio::ip::tcp::resolver resolver_;
  Stream stream_;
  asio::steady_timer timer_;
  std::string buffer_;
  attempt_result result_;
  int interim_ = 0;
  bool finished_ = false;
};

/// The queue and the retry policy; owned by line_push_client, reached by
/// handlers through weak pointers so destroying the client is always safe.
class push_queue : public std::enable_shared_from_this<push_queue> {
 public:
  push_queue(asio::io_context& io, line_push_options o)
      : io_(io), opts_(std::move(o)), backoff_timer_(io), rng_(std::random_device{}()) {
    for (char c : opts_.channel_token) {
      const auto u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u >= 0x7f)
        throw std::invalid_argument("line channel token: only printable ASCII without spaces");
    }
    if (opts_.max_attempts < 1) throw std::invalid_argument("line max_attempts must be >= 1");
    if (opts_.max_queue < 1) throw std::invalid_argument("line max_queue must be >= 1");
    if (opts_.initial_backoff.count() < 0 || opts_.max_backoff.count() < 0 ||
        opts_.request_timeout.count() <= 0)
      throw std::invalid_argument("line backoff and timeout must be positive");
    target_ = std::make_shared<const target>(parse_api_base(opts_.api_base));
    if (target_->tls) {
      tls_ = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
      tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
      tls_->set_default_verify_paths();
      if (!opts_.ca_file.empty()) tls_->load_verify_file(opts_.ca_file);
      tls_->set_verify_mode(asio::ssl::verify_peer);
    }
  }

  push_queue(const push_queue&) = delete;
  push_queue& operator=(const push_queue&) = delete;

  /// On the io_context's thread.
  void enqueue(std::string room, std::string text) {
    constexpr std::string_view prefix = "conversation:";
    if (room.compare(0, prefix.size(), prefix) != 0 || room.size() == prefix.size()) {
      failed_permanently_.fetch_add(1, std::memory_order_relaxed);
      log("outbound message in room '" + printable(room) + "' not sent: not a conversation room");
      return;
    }
    std::string to = room.substr(prefix.size());
    if (queue_.size() >= opts_.max_queue) {
      dropped_queue_full_.fetch_add(1, std::memory_order_relaxed);
      if (dropped_this_episode_++ == 0)
        log("outbound to " + to + " dropped: queue full (" + std::to_string(opts_.max_queue) +
            " messages); further drops are counted, not logged, until it is half empty");
      return;
    }
    item it;
    it.body = push_body(to, text);
    it.to = std::move(to);
    it.retry_key = make_uuid_v4();
    queue_.push_back(std::move(it));
    publish_sizes();
    pump();
  }

  /// On the io_context's thread; the destructor of line_push_client.
  void stop() noexcept {
    stopped_ = true;
    try {
      backoff_timer_.cancel();
    } catch (...) {  // nothing useful to do; the handler checks stopped_
    }
    if (abort_current_) abort_current_();
    abort_current_ = nullptr;
  }

  /// A message that could not even be queued (an allocation failed).
  void lost(const char* what) noexcept {
    failed_permanently_.fetch_add(1, std::memory_order_relaxed);
    try {
      log(std::string("outbound message lost: ") + what);
    } catch (...) {  // out of memory: the counter has it
    }
  }

  line_push_stats stats() const noexcept {
    line_push_stats s;
    s.sent = sent_.load(std::memory_order_relaxed);
    s.failed_permanently = failed_permanently_.load(std::memory_order_relaxed);
    s.retried = retried_.load(std::memory_order_relaxed);
    s.dropped_queue_full = dropped_queue_full_.load(std::memory_order_relaxed);
    s.in_flight = in_flight_.load(std::memory_order_relaxed);
    s.queued = queued_.load(std::memory_order_relaxed);
    return s;
  }

  void log(const std::string& line) const noexcept {
    try {
      if (opts_.log)
        opts_.log(line);
      else
        std::cerr << "livechat-server: " << line << '\n';
    } catch (...) {  // a log sink that throws must not take the queue down
    }
  }

 private:
  struct item {
    std::string to;         ///< LINE user id (the conversation id)
    std::string body;       ///< JSON, built once
    std::string retry_key;  ///< the same on every attempt
    int attempts = 0;
  };

  void publish_sizes() {
    const bool head_busy = busy_ && !queue_.empty();
    in_flight_.store(head_busy ? 1 : 0, std::memory_order_relaxed);
    queued_.store(queue_.size() - (head_busy ? 1 : 0), std::memory_order_relaxed);
    if (dropped_this_episode_ != 0 && queue_.size() <= opts_.max_queue / 2) {
      log("outbound queue has room again; " + std::to_string(dropped_this_episode_) +
          " messages were dropped while it was full");
      dropped_this_episode_ = 0;
    }
  }

  /// Starts the head message if nothing is in flight.
  void pump() {
    if (busy_ || stopped_ || queue_.empty()) return;
    busy_ = true;
    publish_sizes();
    attempt();
  }

  std::string request_for(const item& it) const {
    std::string r;
    r.reserve(400 + it.body.size() + opts_.channel_token.size());
    r += "POST " + target_->path + " HTTP/1.1\r\n";
    r += "Host: " + target_->host_header + "\r\n";
    r += "Authorization: Bearer " + opts_.channel_token + "\r\n";
    r += "Content-Type: application/json\r\n";
    r += "Content-Length: " + std::to_string(it.body.size()) + "\r\n";
    r += "X-Line-Retry-Key: " + it.retry_key + "\r\n";
    r += "User-Agent: livechat-server/" LIVECHAT_VERSION_STRING "\r\n";
    r += "Accept: application/json\r\n";
    r += "Connection: close\r\n\r\n";
    r += it.body;
    return r;
  }

  /// Starts one attempt of the head message. Whatever goes wrong here
  /// (an allocation, the resolver's thread) counts as a failed attempt.
  void attempt() noexcept {
    try {
      item& head = queue_.front();
      ++head.attempts;
      if (head.attempts > 1) retried_.fetch_add(1, std::memory_order_relaxed);
      std::weak_ptr<push_queue> weak = weak_from_this();
      auto done = [weak](attempt_result r) {
        if (auto self = weak.lock()) self->on_result(std::move(r));
      };
      if (tls_) {
        using tls_stream = asio::ssl::stream<asio::ip::tcp::socket>;
        auto x = std::make_shared<exchange<tls_stream>>(io_, target_, request_for(head),
                                                        opts_.request_timeout, std::move(done),
                                                        io_, *tls_);
        abort_current_ = [x, keep = tls_] { x->abort(); };  // keep: the context outlives the stream
        x->start();
      } else {
        auto x = std::make_shared<exchange<asio::ip::tcp::socket>>(
            io_, target_, request_for(head), opts_.request_timeout, std::move(done), io_);
        abort_current_ = [x] { x->abort(); };
        x->start();
      }
    } catch (const std::exception& e) {
      attempt_failed(e.what());
    } catch (...) {
      attempt_failed("unknown error");
    }
  }

  void attempt_failed(const char* what) noexcept {
    if (abort_current_) abort_current_();
    abort_current_ = nullptr;
    attempt_result r;
    try {
      r.reason = std::string("internal error: ") + what;
    } catch (...) {
    }
    on_result(std::move(r));  // retried after a backoff like a network error, or given up
  }

  static bool retryable(int status) noexcept {
    return status == 0 || status == 408 || status == 429 || status >= 500;
  }

  void on_result(attempt_result r) noexcept {
    abort_current_ = nullptr;
    if (stopped_ || queue_.empty()) return;
    try {
      item& head = queue_.front();
      if ((r.status >= 200 && r.status < 300) || r.status == 409) {
        sent_.fetch_add(1, std::memory_order_relaxed);
        return next();
      }
      if (retryable(r.status) && head.attempts < opts_.max_attempts) {
        schedule_retry(head.attempts, r.retry_after);
        return;
      }
      failed_permanently_.fetch_add(1, std::memory_order_relaxed);
      const std::string why = r.status == 0 ? r.reason
                                            : "HTTP " + std::to_string(r.status) +
                                                  (r.reason.empty() ? "" : " " + r.reason);
      log("outbound to " + head.to + " failed after " + std::to_string(head.attempts) +
          " attempts: " + why);
      next();
    } catch (const std::exception& e) {  // bad_alloc at worst: drop the head, go on
      give_up_head(e.what());
    } catch (...) {
      give_up_head("unknown error");
    }
  }

  void give_up_head(const char* what) noexcept {
    lost(what);
    try {
      next();
    } catch (...) {
      busy_ = false;
    }
  }

  void next() {
    queue_.pop_front();
    busy_ = false;
    publish_sizes();
    pump();
  }

  /// Full jitter: uniform in [0, min(max_backoff, initial * 2^(n-1))], but
  /// not less than the server's Retry-After (itself capped at max_backoff).
  void schedule_retry(int failed_attempts, std::optional<std::chrono::seconds> retry_after) {
    using ms = std::chrono::milliseconds;
    ms cap = opts_.initial_backoff;
    for (int i = 1; i < failed_attempts && cap < opts_.max_backoff; ++i) cap *= 2;
    cap = std::min(cap, opts_.max_backoff);
    std::uniform_int_distribution<ms::rep> pick(0, cap.count());
    ms delay(pick(rng_));
    if (retry_after) delay = std::max(delay, std::min(ms(*retry_after), opts_.max_backoff));
    std::weak_ptr<push_queue> weak = weak_from_this();
    backoff_timer_.expires_after(delay);
    backoff_timer_.async_wait([weak](const asio::error_code& ec) {
      if (ec) return;
      auto self = weak.lock();
      if (!self || self->stopped_ || self->queue_.empty()) return;
      self->attempt();
    });
  }

  asio::io_context& io_;
  line_push_options opts_;
  std::shared_ptr<const target> target_;
  std::shared_ptr<asio::ssl::context> tls_;  // null for http://
  std::deque<item> queue_;                   // the head is the one in flight
  bool busy_ = false;
  bool stopped_ = false;
  std::function<void()> abort_current_;
  asio::steady_timer backoff_timer_;
  std::mt19937_64 rng_;  // jitter only; the retry keys come from RAND_bytes
  std::size_t dropped_this_episode_ = 0;

  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> failed_permanently_{0};
  std::atomic<std::uint64_t> retried_{0};
  std::atomic<std::uint64_t> dropped_queue_full_{0};
  std::atomic<std::uint64_t> in_flight_{0};
  std::atomic<std::uint64_t> queued_{0};
};

}  // namespace line_push_detail

/// Pushes operators' replies to the end user through the LINE Messaging
/// API. See the top of this file for the delivery policy.
///
/// @par Thread Safety
/// push() and stats() may be called from any thread: push() hands the
/// message to the io_context's thread (inline when called there, as from
/// the hub's outbound handler). Construct and destroy the client on that
/// thread or while the io_context is not running. Destroying it abandons
/// what is still queued and the attempt in flight.
/// @par Exceptions
/// The constructor throws std::invalid_argument for unusable options
/// (api_base, token) and asio::system_error when the CA file cannot be
/// loaded. Nothing is thrown out of push() or of a completion handler.
class line_push_client {
 public:
  line_push_client(asio::io_context& io, line_push_options options)
      : io_(io), queue_(std::make_shared<line_push_detail::push_queue>(io, std::move(options))) {}

  ~line_push_client() { queue_->stop(); }

  line_push_client(const line_push_client&) = delete;
  line_push_client& operator=(const line_push_client&) = delete;

  /// Queues `m.text` for the end user of `m.room` (`conversation:{userId}`)
  /// and starts sending if idle. Never blocks and never throws.
  void push(const livechat::message& m) noexcept {
    try {
      std::weak_ptr<line_push_detail::push_queue> weak = queue_;
      asio::dispatch(io_, [weak, room = m.room, text = m.text]() mutable {
        auto q = weak.lock();
        if (!q) return;
        try {
          q->enqueue(std::move(room), std::move(text));
        } catch (const std::exception& e) {
          q->lost(e.what());
        } catch (...) {
          q->lost("unknown error");
        }
      });
    } catch (const std::exception& e) {
      queue_->lost(e.what());
    } catch (...) {
      queue_->lost("unknown error");
    }
  }

  line_push_stats stats() const noexcept { return queue_->stats(); }

 private:
  asio::io_context& io_;
  std::shared_ptr<line_push_detail::push_queue> queue_;
};

}  // namespace livechat_server

#endif
