// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_LINE_HTTP_CLIENT_HPP
#define LIVECHAT_EXAMPLES_SERVER_LINE_HTTP_CLIENT_HPP

// A small outbound HTTP(S) client on libcurl: one request in, one response
// (status, headers, a body bounded in size) or an error text out. Written
// for the LINE Messaging API (push now; content download and profile fetch
// next), nothing in it is LINE's.
//
// Design
// - One curl multi handle driven by one worker thread (curl_multi_poll,
//   woken by curl_multi_wakeup when a request is submitted or cancelled).
//   The multi handle owns the connection cache and the DNS cache, so
//   consecutive requests to the same host reuse one connection (and one
//   TLS session) instead of a handshake per request.
// - Why a thread and not curl's socket API driven from Asio: that needs
//   curl's sockets wrapped in Asio descriptors, per-socket interest
//   bookkeeping and a timer callback (curl's asiohiper example, a known
//   source of subtle bugs), for no gain here: the completion is posted to
//   the io_context either way, and the caller's thread never blocks. The
//   thread also takes curl's blocking parts (DNS is threaded in Debian's
//   build, but not everywhere) off the hub's thread.
// - Proxies: nothing here sets CURLOPT_PROXY, so libcurl reads
//   `https_proxy`/`HTTPS_PROXY`, `http_proxy` (lowercase only, as curl
//   does: `HTTP_PROXY` may be set by a CGI request header), `ALL_PROXY` and
//   `NO_PROXY`/`no_proxy` from the environment for every request.
// - TLS: libcurl's defaults (peer and host name verified against the
//   system's CA path); `ca_file` adds a PEM bundle on top (CURLOPT_CAINFO
//   replaces the default bundle file but the default CA directory stays).
// - HTTP/1.1 only: a status line carries the reason phrase the callers log,
//   and one request at a time per host gains nothing from HTTP/2.
// - The completion runs on the io_context's thread through asio::post, and
//   not at all for a cancelled request or once the client is destroyed.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <csignal>
#include <pthread.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <curl/curl.h>

namespace livechat_server::line {

inline bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

/// Printable ASCII only, at most `max` bytes: text from the network that
/// goes into a log line.
inline std::string printable(std::string_view s, std::size_t max = 80) {
  std::string out;
  for (char c : s.substr(0, std::min(max, s.size()))) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  return out;
}

struct http_request {
  std::string method = "GET";  ///< "POST" sends `body`
  std::string url;             ///< http:// or https:// only
  std::vector<std::string> headers;  ///< "Name: value", added to or replacing curl's own
  std::string body;
  /// The whole exchange: resolve, connect, TLS, request and response.
  std::chrono::milliseconds timeout{10000};
  /// Body bytes kept; a longer body ends the transfer (`body_truncated`).
  std::size_t max_body = 64 * 1024;
  /// PEM CA bundle trusted in addition to the system's CA directory; empty: none.
  std::string ca_file;
};

struct http_response {
  /// Final status (>= 200); 0: none arrived, `error` says why. Once a final
  /// status has arrived it stands, whatever happens to the body.
  int status = 0;
  std::string reason;  ///< reason phrase, printable ASCII
  std::vector<std::pair<std::string, std::string>> headers;  ///< of the final response
  std::string body;
  bool body_truncated = false;
  /// `Retry-After` (seconds or an HTTP date, in seconds from now), when sent.
  std::optional<std::chrono::seconds> retry_after;
  /// Empty when the exchange completed; else "resolve: …", "connect: …",
  /// "tls handshake: …", "timed out", "send: …", "no response: …" or another
  /// curl error text (never the request's headers or body).
  std::string error;

  /// The first header called `name` (any case), or empty.
  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (iequals(k, name)) return v;
    return {};
  }
};

/// See the top of this file.
///
/// @par Thread Safety
/// submit() and cancel() may be called from any thread. Completions run on
/// the io_context's thread. The destructor cancels everything in flight and
/// joins the worker (which wakes at once); it must not run inside a
/// completion of this client's own.
class http_client {
 public:
  using request_id = std::uint64_t;
  using completion = std::function<void(http_response)>;

  explicit http_client(asio::io_context& io) : io_(io) {
    static const CURLcode global = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (global != CURLE_OK)
      throw std::runtime_error(std::string("curl_global_init: ") + curl_easy_strerror(global));
    multi_ = curl_multi_init();
    if (multi_ == nullptr) throw std::runtime_error("curl_multi_init failed");
    try {
      worker_ = std::thread([this] { run(); });
    } catch (...) {
      curl_multi_cleanup(multi_);
      throw;
    }
  }

  ~http_client() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    curl_multi_wakeup(multi_);
    worker_.join();
    curl_multi_cleanup(multi_);  // after every easy handle was removed and cleaned up
  }

  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  /// Starts `r`; `done` runs once on the io_context's thread, unless the
  /// request is cancelled or the client destroyed first.
  request_id submit(http_request r, completion done) {
    request_id id = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      id = ++last_id_;
      incoming_.push_back(pending{id, std::move(r), std::move(done)});
    }
    curl_multi_wakeup(multi_);
    return id;
  }

  /// Abandons a request: its completion will not run (if it is already
  /// posted to the io_context, it still runs; check on the caller's side).
  void cancel(request_id id) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cancelled_.push_back(id);
    }
    curl_multi_wakeup(multi_);
  }

 private:
  struct pending {
    request_id id;
    http_request request;
    completion done;
  };

  /// One request on the worker thread.
  struct transfer {
    request_id id = 0;
    http_request request;
    completion done;
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    http_response response;
    int last_status = 0;  ///< of the latest status line (1xx included)
    char error[CURL_ERROR_SIZE] = {};

    transfer() = default;
    transfer(const transfer&) = delete;
    transfer& operator=(const transfer&) = delete;
    ~transfer() {
      if (easy != nullptr) curl_easy_cleanup(easy);
      curl_slist_free_all(headers);
    }
  };

  static constexpr std::size_t max_header_lines = 100;

  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) noexcept {
    auto* t = static_cast<transfer*>(user);
    const std::size_t bytes = size * n;
    std::string& body = t->response.body;
    if (bytes > t->request.max_body - body.size()) {
      t->response.body_truncated = true;
      return 0;  // ends the transfer (CURLE_WRITE_ERROR); the status stands
    }
    try {
      body.append(data, bytes);
    } catch (...) {
      return 0;
    }
    return bytes;
  }

  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) noexcept {
    auto* t = static_cast<transfer*>(user);
    const std::size_t bytes = size * n;
    std::string_view line(data, bytes);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    try {
      if (line.substr(0, 5) == "HTTP/") {  // a new response (a 1xx may come first): start over
        t->response.headers.clear();
        t->response.reason.clear();
        t->last_status = 0;
        const auto sp = line.find(' ');
        if (sp != std::string_view::npos && line.size() >= sp + 4) {
          int code = 0;
          for (char c : line.substr(sp + 1, 3)) code = code * 10 + (c >= '0' && c <= '9' ? c - '0' : 0);
          t->last_status = code;
          const std::string_view rest = line.substr(std::min(line.size(), sp + 5));
          t->response.reason = printable(rest);
        }
      } else if (!line.empty() && t->response.headers.size() < max_header_lines) {
        const auto colon = line.find(':');
        if (colon != std::string_view::npos) {
          std::string_view value = line.substr(colon + 1);
          while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
          while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
          t->response.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
        }
      }
    } catch (...) {
      return 0;
    }
    return bytes;
  }

  template <class T>
  static void set(CURL* easy, CURLoption option, T value) {
    const CURLcode rc = curl_easy_setopt(easy, option, value);
    if (rc != CURLE_OK) throw std::runtime_error(std::string("curl option: ") + curl_easy_strerror(rc));
  }

  /// A configured easy handle for `t` (throws on failure; `t` frees it).
  static void prepare(transfer& t) {
    t.easy = curl_easy_init();
    if (t.easy == nullptr) throw std::runtime_error("curl_easy_init failed");
    CURL* e = t.easy;
    const http_request& r = t.request;
    set(e, CURLOPT_URL, r.url.c_str());
    set(e, CURLOPT_PROTOCOLS_STR, "http,https");
    set(e, CURLOPT_NOSIGNAL, 1L);  // threads: no alarm(); SIGPIPE is blocked on the worker
    set(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    set(e, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count()));
    set(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(r.timeout.count()));
    set(e, CURLOPT_TCP_NODELAY, 1L);
    set(e, CURLOPT_TCP_KEEPALIVE, 1L);
    set(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);  // a proxy's CONNECT answer is not the response
    set(e, CURLOPT_ERRORBUFFER, t.error);
    set(e, CURLOPT_PRIVATE, static_cast<void*>(&t));
    set(e, CURLOPT_WRITEFUNCTION, &http_client::on_body);
    set(e, CURLOPT_WRITEDATA, static_cast<void*>(&t));
    set(e, CURLOPT_HEADERFUNCTION, &http_client::on_header);
    set(e, CURLOPT_HEADERDATA, static_cast<void*>(&t));
    if (!r.ca_file.empty()) set(e, CURLOPT_CAINFO, r.ca_file.c_str());
    if (r.method == "POST") {
      set(e, CURLOPT_POST, 1L);
      set(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
      set(e, CURLOPT_POSTFIELDS, r.body.data());  // t.request outlives the transfer
    } else if (r.method != "GET") {
      set(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
    }
    // No "Expect: 100-continue" round trip for a large body.
    std::vector<std::string> lines = r.headers;
    lines.emplace_back("Expect:");
    for (const auto& h : lines) {
      curl_slist* next = curl_slist_append(t.headers, h.c_str());
      if (next == nullptr) throw std::runtime_error("curl_slist_append failed");
      t.headers = next;
    }
    set(e, CURLOPT_HTTPHEADER, t.headers);
  }

  static std::string describe(CURLcode rc, const char* detail) {
    std::string what = detail != nullptr && *detail != '\0' ? printable(detail, 200) : curl_easy_strerror(rc);
    switch (rc) {
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
        return "resolve: " + what;
      case CURLE_COULDNT_CONNECT:
        return "connect: " + what;
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CIPHER:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_ISSUER_ERROR:
      case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      case CURLE_SSL_INVALIDCERTSTATUS:
        return "tls handshake: " + what;
      case CURLE_OPERATION_TIMEDOUT:
        return "timed out";
      case CURLE_SEND_ERROR:
        return "send: " + what;
      case CURLE_RECV_ERROR:
      case CURLE_GOT_NOTHING:
      case CURLE_PARTIAL_FILE:
        return "no response: " + what;
      default:
        return what;
    }
  }

  /// On the worker: fills in the outcome of a finished transfer and posts
  /// its completion.
  void finish(std::unique_ptr<transfer> t, CURLcode rc) {
    http_response& out = t->response;
    long code = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    out.status = code >= 200 && code <= 999 ? static_cast<int>(code) : 0;
    if (out.status == 0) {
      out.headers.clear();
      out.reason.clear();
    }
    curl_off_t retry_after = 0;
    if (curl_easy_getinfo(t->easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0 &&
        retry_after <= 86400)
      out.retry_after = std::chrono::seconds(static_cast<std::chrono::seconds::rep>(retry_after));
    if (rc != CURLE_OK) {
      if (rc == CURLE_WRITE_ERROR && out.body_truncated)
        out.error = "body over " + std::to_string(t->request.max_body) + " bytes";
      else
        out.error = describe(rc, t->error);
    }
    post(std::move(t->done), std::move(out));
  }

  void post(completion done, http_response r) {
    if (!done) return;
    asio::post(io_, [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
  }

  void start(pending p) {
    auto t = std::make_unique<transfer>();
    t->id = p.id;
    t->request = std::move(p.request);
    t->done = std::move(p.done);
    try {
      prepare(*t);
      const CURLMcode mc = curl_multi_add_handle(multi_, t->easy);
      if (mc != CURLM_OK) throw std::runtime_error(std::string("curl_multi_add_handle: ") + curl_multi_strerror(mc));
    } catch (const std::exception& e) {
      http_response r;
      r.error = std::string("internal error: ") + e.what();
      post(std::move(t->done), std::move(r));
      return;
    }
    active_[t->id] = std::move(t);
  }

  void drop(request_id id) {
    const auto it = active_.find(id);
    if (it == active_.end()) return;
    curl_multi_remove_handle(multi_, it->second->easy);
    active_.erase(it);
  }

  /// The worker: takes submissions and cancellations, drives the transfers,
  /// sleeps in curl_multi_poll until a socket, a timeout or a wakeup.
  void run() noexcept {
    // A peer that resets a TLS connection must not kill the process with
    // SIGPIPE (OpenSSL writes with plain send()); blocked here, the write
    // just fails with EPIPE. Only this thread's mask changes.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    for (;;) {
      std::vector<pending> incoming;
      std::vector<request_id> cancelled;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) break;
        incoming.swap(incoming_);
        cancelled.swap(cancelled_);
      }
      try {
        for (auto& p : incoming) start(std::move(p));
        for (request_id id : cancelled) drop(id);
        int running = 0;
        curl_multi_perform(multi_, &running);
        int left = 0;
        while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
          if (m->msg != CURLMSG_DONE) continue;
          void* priv = nullptr;
          curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
          const CURLcode rc = m->data.result;  // m is invalid after remove_handle
          const request_id id = static_cast<transfer*>(priv)->id;
          const auto it = active_.find(id);
          if (it == active_.end()) continue;
          std::unique_ptr<transfer> t = std::move(it->second);
          active_.erase(it);
          curl_multi_remove_handle(multi_, t->easy);
          finish(std::move(t), rc);
        }
      } catch (...) {  // bad_alloc posting a completion: that request is lost, the rest go on
      }
      curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
    }
    for (auto& [id, t] : active_) curl_multi_remove_handle(multi_, t->easy);
    active_.clear();
  }

  asio::io_context& io_;
  CURLM* multi_ = nullptr;
  std::thread worker_;

  std::mutex mutex_;  // guards the three below
  bool stopping_ = false;
  std::vector<pending> incoming_;
  std::vector<request_id> cancelled_;
  request_id last_id_ = 0;

  std::map<request_id, std::unique_ptr<transfer>> active_;  // worker only
};

}  // namespace livechat_server::line

#endif
