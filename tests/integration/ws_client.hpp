// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Test-side WebSocket client and raw HTTP helper for the integration tests.
//
// WsClient is a small synchronous wrapper over websocketpp's asio client: it
// owns its own io_context, run on a background thread, and hands every
// received text frame to the test thread through a queue. Every wait is
// bounded (kDefaultTimeout unless told otherwise), so a silent or hung server
// makes a test fail, never hang.
//
// The Catch2 assertions used here (REQUIRE, FAIL) must only run on the test
// thread: the websocketpp handlers only fill the queue and the state fields.
//
// websocketpp and Asio stay out of this header: their code lives once in
// ws_client.cpp (detail::WsTransport, http_raw). Instantiated in every test
// file, they made each one cost ~25 s of compile time.
#ifndef LIVECHAT_TESTS_INTEGRATION_WS_CLIENT_HPP
#define LIVECHAT_TESTS_INTEGRATION_WS_CLIENT_HPP

#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace livechat_itest {

using Millis = std::chrono::milliseconds;
inline constexpr Millis kDefaultTimeout{5000};
inline constexpr const char* kWsPath = "/api/v1/ws/live-chat";

// ---------------------------------------------------------------------------
// JSON helpers
// ---------------------------------------------------------------------------

/// Compact JSON text of a rapidjson value.
inline std::string to_json(const rapidjson::Value& v) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    v.Accept(w);
    return std::string(buf.GetString(), buf.GetSize());
}

/// A JSON string literal (with quotes) for `s`.
inline std::string json_quote(const std::string& s) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    return std::string(buf.GetString(), buf.GetSize());
}

/// One frame received from the server. Copyable (the parsed document is
/// shared). Field access goes through JSON pointers ("/payload/message/seq"),
/// and the accessors return printable sentinels instead of crashing, so a
/// failed CHECK shows what actually arrived.
class Event {
public:
    Event() : doc_(std::make_shared<rapidjson::Document>()) {}

    static Event from_text(std::string raw) {
        Event e;
        e.raw_ = std::move(raw);
        e.doc_->Parse(e.raw_.c_str(), e.raw_.size());
        e.valid_ = !e.doc_->HasParseError() && e.doc_->IsObject();
        return e;
    }

    static Event from_binary(std::string raw) {
        Event e;
        e.raw_ = std::move(raw);
        e.binary_ = true;
        return e;
    }

    const std::string& raw() const { return raw_; }
    bool valid() const { return valid_; }
    bool binary() const { return binary_; }
    const rapidjson::Document& doc() const { return *doc_; }

    /// The envelope `type`, or "<binary frame>" / "<invalid json>" / "<no type>".
    std::string type() const {
        if (binary_) return "<binary frame>";
        if (!valid_) return "<invalid json>";
        auto it = doc_->FindMember("type");
        if (it == doc_->MemberEnd() || !it->value.IsString()) return "<no type>";
        return it->value.GetString();
    }

    /// The value at a JSON pointer, or nullptr.
    const rapidjson::Value* get(const std::string& pointer) const {
        if (!valid_) return nullptr;
        rapidjson::Pointer p(pointer.c_str());
        if (!p.IsValid()) return nullptr;
        return p.Get(*doc_);
    }

    bool has(const std::string& pointer) const { return get(pointer) != nullptr; }

    /// The string at `pointer`, or "<missing POINTER>" / "<not a string: JSON>".
    std::string str(const std::string& pointer) const {
        const rapidjson::Value* v = get(pointer);
        if (v == nullptr) return "<missing " + pointer + ">";
        if (!v->IsString()) return "<not a string: " + to_json(*v) + ">";
        return std::string(v->GetString(), v->GetStringLength());
    }

    /// Compact JSON of the value at `pointer` ("1", "true", "null", ...), or
    /// "<missing POINTER>". Handy for numbers and booleans: CHECK(e.json(p) == "1").
    std::string json(const std::string& pointer) const {
        const rapidjson::Value* v = get(pointer);
        if (v == nullptr) return "<missing " + pointer + ">";
        return to_json(*v);
    }

    /// Number of elements of the array at `pointer`, or -1 if not an array.
    long size(const std::string& pointer) const {
        const rapidjson::Value* v = get(pointer);
        if (v == nullptr || !v->IsArray()) return -1;
        return static_cast<long>(v->Size());
    }

    bool is_string(const std::string& pointer) const {
        const rapidjson::Value* v = get(pointer);
        return v != nullptr && v->IsString();
    }

private:
    std::string raw_;
    std::shared_ptr<rapidjson::Document> doc_;
    bool valid_ = false;
    bool binary_ = false;
};

inline std::ostream& operator<<(std::ostream& os, const Event& e) {
    if (e.binary()) return os << "<binary frame of " << e.raw().size() << " bytes>";
    if (e.raw().size() > 2000) return os << e.raw().substr(0, 2000) << "...(truncated)";
    return os << e.raw();
}

/// True for `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, milliseconds), the protocol's
/// timestamp format.
inline bool is_iso_timestamp(const std::string& s) {
    static const std::regex re(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$)");
    return std::regex_match(s, re);
}

/// The types of a list of events, for readable assertions.
inline std::vector<std::string> types_of(const std::vector<Event>& events) {
    std::vector<std::string> out;
    out.reserve(events.size());
    for (const auto& e : events) out.push_back(e.type());
    return out;
}

/// Builds an envelope. `payload_json` is raw JSON text (an object, or anything
/// when a test wants to send a malformed payload); empty means no payload.
inline std::string envelope(const std::string& type, const std::string& payload_json = "",
                            const std::string& ref = "") {
    std::string s = "{\"type\":" + json_quote(type);
    if (!payload_json.empty()) s += ",\"payload\":" + payload_json;
    if (!ref.empty()) s += ",\"ref\":" + json_quote(ref);
    s += "}";
    return s;
}

// ---------------------------------------------------------------------------
// WebSocket client
// ---------------------------------------------------------------------------

struct ConnectResult {
    bool ok = false;
    int http_status = 0;  ///< 101 on success, the server's status on a refused handshake, 0 if none
    std::string error;
    explicit operator bool() const { return ok; }
};

inline std::ostream& operator<<(std::ostream& os, const ConnectResult& r) {
    os << (r.ok ? "connected" : "not connected") << " (http " << r.http_status;
    if (!r.error.empty()) os << ", " << r.error;
    return os << ")";
}

namespace detail {

/// What the websocketpp side reports; each runs on the client's I/O thread.
struct WsCallbacks {
    std::function<void()> on_open;
    std::function<void(int http_status, std::string error)> on_fail;
    std::function<void(int code, std::string reason)> on_close;
    std::function<void(std::string payload, bool text)> on_message;
};

/// websocketpp's asio client with its own I/O thread (ws_client.cpp).
class WsTransport {
public:
    WsTransport(WsCallbacks callbacks, std::size_t max_message_size);
    ~WsTransport();
    WsTransport(const WsTransport&) = delete;
    WsTransport& operator=(const WsTransport&) = delete;

    /// Starts connecting to `uri`; the outcome arrives through the callbacks.
    /// Returns an error text when the connection could not even be created.
    std::string connect(const std::string& uri, long open_timeout_ms, long close_timeout_ms);
    bool send(const std::string& data, bool binary);
    bool close(int code, const std::string& reason);
    /// Lets run() return once no connection is left.
    void stop_perpetual();
    /// Stops the I/O thread and joins it.
    void stop_and_join();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace detail

class WsClient {
public:
    using Clock = std::chrono::steady_clock;

    /// Largest frame this client accepts or is expected to send; well above
    /// the server's 64 KiB limit so tests can provoke 1009.
    static constexpr std::size_t kMaxMessageSize = 16u * 1024u * 1024u;

    explicit WsClient(std::string name = "client") : name_(std::move(name)) {
        detail::WsCallbacks cb;
        cb.on_open = [this] {
            std::lock_guard<std::mutex> lk(mu_);
            state_ = State::open;
            http_status_ = 101;
            cv_.notify_all();
        };
        cb.on_fail = [this](int status, std::string err) {
            std::lock_guard<std::mutex> lk(mu_);
            state_ = State::failed;
            http_status_ = status;
            error_ = std::move(err);
            cv_.notify_all();
        };
        cb.on_close = [this](int code, std::string reason) {
            std::lock_guard<std::mutex> lk(mu_);
            state_ = State::closed;
            close_code_ = code;
            close_reason_ = std::move(reason);
            cv_.notify_all();
        };
        cb.on_message = [this](std::string payload, bool text) {
            Event e = text ? Event::from_text(std::move(payload)) : Event::from_binary(std::move(payload));
            std::lock_guard<std::mutex> lk(mu_);
            queue_.push_back(std::move(e));
            cv_.notify_all();
        };
        transport_ = std::make_unique<detail::WsTransport>(std::move(cb), kMaxMessageSize);
    }

    WsClient(const WsClient&) = delete;
    WsClient& operator=(const WsClient&) = delete;

    ~WsClient() {
        transport_->stop_perpetual();
        bool open = false;
        {
            std::lock_guard<std::mutex> lk(mu_);
            open = state_ == State::open;
        }
        if (open) {
            transport_->close(1001, "test done");
            std::unique_lock<std::mutex> lk(mu_);
            cv_.wait_for(lk, Millis(1000), [this] { return state_ != State::open; });
        }
        transport_->stop_and_join();
    }

    const std::string& name() const { return name_; }

    /// Opens ws://127.0.0.1:PORT/PATH. On a refused handshake the result holds
    /// the HTTP status the server answered with (e.g. 404).
    ConnectResult connect(std::uint16_t port, const std::string& path = kWsPath,
                          Millis timeout = kDefaultTimeout) {
        {
            std::lock_guard<std::mutex> lk(mu_);
            if (state_ != State::idle) return ConnectResult{false, 0, "connect() called twice on one WsClient"};
            state_ = State::connecting;
        }
        const std::string uri = "ws://127.0.0.1:" + std::to_string(port) + path;
        const std::string err = transport_->connect(uri, static_cast<long>(timeout.count()), 2000);
        if (!err.empty()) {
            std::lock_guard<std::mutex> lk(mu_);
            state_ = State::failed;
            return ConnectResult{false, 0, "get_connection: " + err};
        }

        std::unique_lock<std::mutex> lk(mu_);
        const bool done = cv_.wait_for(lk, timeout + Millis(1000), [this] {
            return state_ != State::connecting;
        });
        if (!done) return ConnectResult{false, 0, "timed out connecting to " + uri};
        if (state_ == State::open) return ConnectResult{true, 101, ""};
        return ConnectResult{false, http_status_, error_.empty() ? "connection failed" : error_};
    }

    bool is_open() const {
        std::lock_guard<std::mutex> lk(mu_);
        return state_ == State::open;
    }

    bool send_text(const std::string& text) {
        return send_frame(text, false);
    }

    bool send_binary(const std::string& data) {
        return send_frame(data, true);
    }

    /// Sends an envelope `{type, payload?, ref?}`; see envelope().
    bool send(const std::string& type, const std::string& payload_json = "", const std::string& ref = "") {
        return send_text(envelope(type, payload_json, ref));
    }

    /// The next received frame, or nothing after `timeout` (or at once when
    /// the connection is closed and nothing is queued).
    std::optional<Event> next(Millis timeout = kDefaultTimeout) {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait_for(lk, timeout, [this] { return !queue_.empty() || finished_locked(); });
        if (queue_.empty()) return std::nullopt;
        Event e = std::move(queue_.front());
        queue_.pop_front();
        return e;
    }

    /// The very next event, which must be of `type` (nothing is skipped).
    Event expect(const std::string& type, Millis timeout = kDefaultTimeout) {
        std::optional<Event> e = next(timeout);
        if (!e) {
            FAIL(name_ << ": expected '" << type << "' but nothing arrived within " << timeout.count()
                       << " ms" << state_note());
        }
        INFO(name_ << " received: " << *e);
        REQUIRE(e->type() == type);
        return *e;
    }

    /// Skips other events until one of `type` arrives; fails the test on timeout.
    Event wait_for(const std::string& type, Millis timeout = kDefaultTimeout) {
        return wait_for(type, [](const Event&) { return true; }, timeout);
    }

    /// Skips events until one of `type` that satisfies `pred` arrives.
    Event wait_for(const std::string& type, const std::function<bool(const Event&)>& pred,
                   Millis timeout = kDefaultTimeout) {
        const auto deadline = Clock::now() + timeout;
        std::vector<std::string> skipped;
        for (;;) {
            const auto now = Clock::now();
            const Millis left = now < deadline ? std::chrono::duration_cast<Millis>(deadline - now) : Millis(0);
            std::optional<Event> e = next(left);
            if (!e) {
                FAIL(name_ << ": timed out after " << timeout.count() << " ms waiting for '" << type
                           << "'; skipped: " << join(skipped) << state_note());
            }
            if (e->type() == type && pred(*e)) return *e;
            skipped.push_back(e->raw().size() > 300 ? e->type() : e->raw());
            if (skipped.size() > 10000) FAIL(name_ << ": runaway event stream while waiting for " << type);
        }
    }

    /// Waits until one event of each of `types` has arrived, in any order,
    /// skipping everything else. Returns them by type.
    std::map<std::string, Event> wait_for_all(const std::vector<std::string>& types,
                                              Millis timeout = kDefaultTimeout) {
        const auto deadline = Clock::now() + timeout;
        std::map<std::string, Event> got;
        std::vector<std::string> skipped;
        while (got.size() < types.size()) {
            const auto now = Clock::now();
            const Millis left = now < deadline ? std::chrono::duration_cast<Millis>(deadline - now) : Millis(0);
            std::optional<Event> e = next(left);
            if (!e) {
                std::vector<std::string> missing;
                for (const auto& t : types)
                    if (got.count(t) == 0) missing.push_back(t);
                FAIL(name_ << ": timed out waiting for " << join(missing) << "; skipped: " << join(skipped)
                           << state_note());
            }
            const std::string t = e->type();
            if (std::find(types.begin(), types.end(), t) != types.end() && got.count(t) == 0) {
                got.emplace(t, *e);
            } else {
                skipped.push_back(e->raw().size() > 300 ? t : e->raw());
            }
            if (skipped.size() > 10000) FAIL(name_ << ": runaway event stream");
        }
        return got;
    }

    /// Ping/pong barrier: sends `ping` with a unique ref and returns every
    /// event received before the matching `pong`. Since the server handles a
    /// connection's frames in order, everything the server sent this
    /// connection before handling the ping is in the returned list.
    std::vector<Event> sync(Millis timeout = kDefaultTimeout) {
        const std::string ref = "sync-" + std::to_string(++sync_counter_);
        REQUIRE(send("ping", "", ref));
        const auto deadline = Clock::now() + timeout;
        std::vector<Event> before;
        for (;;) {
            const auto now = Clock::now();
            const Millis left = now < deadline ? std::chrono::duration_cast<Millis>(deadline - now) : Millis(0);
            std::optional<Event> e = next(left);
            if (!e) {
                FAIL(name_ << ": no pong for barrier " << ref << " within " << timeout.count()
                           << " ms; received before: " << join(types_of(before)) << state_note());
            }
            if (e->type() == "pong" && e->str("/ref") == ref) return before;
            before.push_back(*e);
            if (before.size() > 10000) FAIL(name_ << ": runaway event stream before pong");
        }
    }

    /// Opens the connection, authenticates with `token`, and consumes
    /// `auth_success` and `presence_update`. Returns auth_success.
    Event login(std::uint16_t port, const std::string& token, Millis timeout = kDefaultTimeout) {
        ConnectResult r = connect(port, kWsPath, timeout);
        INFO(name_);
        REQUIRE(r);
        REQUIRE(send("auth", "{\"token\":" + json_quote(token) + "}"));
        Event ok = expect("auth_success", timeout);
        expect("presence_update", timeout);
        return ok;
    }

    /// Starts the closing handshake (code 1000 by default) and waits, bounded,
    /// until the connection is closed. Returns true when it closed in time.
    bool close(int code = 1000, const std::string& reason = "", Millis timeout = kDefaultTimeout) {
        {
            std::lock_guard<std::mutex> lk(mu_);
            if (state_ != State::open) return finished_locked();
        }
        if (!transport_->close(code, reason)) return false;
        std::unique_lock<std::mutex> lk(mu_);
        return cv_.wait_for(lk, timeout, [this] { return finished_locked(); });
    }

    /// Waits until the connection is closed and returns the close code the
    /// server sent (1006 if it dropped the TCP connection without one), or -1
    /// if it is still open after `timeout`.
    int closed_with(Millis timeout = kDefaultTimeout) {
        std::unique_lock<std::mutex> lk(mu_);
        if (!cv_.wait_for(lk, timeout, [this] { return state_ == State::closed || state_ == State::failed; }))
            return -1;
        return state_ == State::closed ? close_code_ : 1006;
    }

    std::string close_reason() const {
        std::lock_guard<std::mutex> lk(mu_);
        return close_reason_;
    }

private:
    enum class State { idle, connecting, open, closed, failed };

    bool finished_locked() const { return state_ == State::closed || state_ == State::failed; }

    std::string state_note() const {
        std::lock_guard<std::mutex> lk(mu_);
        switch (state_) {
        case State::idle: return " [never connected]";
        case State::connecting: return " [still connecting]";
        case State::open: return "";
        case State::failed: return " [connection failed: " + error_ + "]";
        case State::closed:
            return " [connection closed, remote close code " + std::to_string(close_code_) + " '" + close_reason_ +
                   "']";
        }
        return "";
    }

    static std::string join(const std::vector<std::string>& v) {
        if (v.empty()) return "(nothing)";
        std::string s;
        for (const auto& x : v) {
            if (!s.empty()) s += ", ";
            s += x;
        }
        return s;
    }

    bool send_frame(const std::string& data, bool binary) {
        {
            std::lock_guard<std::mutex> lk(mu_);
            if (state_ != State::open) return false;
        }
        return transport_->send(data, binary);
    }

    std::string name_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    State state_ = State::idle;
    int http_status_ = 0;
    std::string error_;
    int close_code_ = -1;
    std::string close_reason_;
    std::deque<Event> queue_;
    unsigned sync_counter_ = 0;
    // Last: its I/O thread calls back into the members above, so it is
    // created after them and stopped (in the destructor) before they go.
    std::unique_ptr<detail::WsTransport> transport_;
};

// ---------------------------------------------------------------------------
// Raw HTTP
// ---------------------------------------------------------------------------

struct HttpResponse {
    int status = 0;  ///< 0 when no status line was received
    std::string status_line;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string error;  ///< transport problem, empty if none

    /// First header named `name` (case-insensitive), or "".
    std::string header(const std::string& name) const {
        auto lower = [](std::string s) {
            for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            return s;
        };
        const std::string want = lower(name);
        for (const auto& h : headers)
            if (lower(h.first) == want) return h.second;
        return "";
    }
};

inline std::ostream& operator<<(std::ostream& os, const HttpResponse& r) {
    os << "HTTP " << r.status << " body: " << (r.body.size() > 500 ? r.body.substr(0, 500) + "..." : r.body);
    if (!r.error.empty()) os << " [" << r.error << "]";
    return os;
}

namespace detail {

inline void parse_http_response(const std::string& raw, HttpResponse& out) {
    const std::size_t head_end = raw.find("\r\n\r\n");
    const std::string head = raw.substr(0, head_end);
    std::istringstream lines(head);
    std::string line;
    bool first = true;
    while (std::getline(lines, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (first) {
            first = false;
            out.status_line = line;
            const std::size_t sp = line.find(' ');
            if (line.rfind("HTTP/", 0) == 0 && sp != std::string::npos) {
                try {
                    out.status = std::stoi(line.substr(sp + 1, 3));
                } catch (...) {
                    out.status = 0;
                }
            }
            continue;
        }
        const std::size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string value = line.substr(colon + 1);
        const std::size_t b = value.find_first_not_of(" \t");
        value = b == std::string::npos ? "" : value.substr(b);
        out.headers.emplace_back(line.substr(0, colon), value);
    }
    if (head_end != std::string::npos) out.body = raw.substr(head_end + 4);
}

/// True once `raw` holds a complete response with a Content-Length body.
inline bool http_response_complete(const std::string& raw) {
    const std::size_t head_end = raw.find("\r\n\r\n");
    if (head_end == std::string::npos) return false;
    HttpResponse tmp;
    parse_http_response(raw.substr(0, head_end + 4), tmp);
    const std::string cl = tmp.header("Content-Length");
    if (cl.empty()) return false;  // read until EOF
    try {
        return raw.size() - (head_end + 4) >= static_cast<std::size_t>(std::stoul(cl));
    } catch (...) {
        return false;
    }
}

}  // namespace detail

/// Connects to 127.0.0.1:PORT, writes `request` verbatim, reads the response
/// until EOF (or until a Content-Length body is complete) and parses it.
/// Everything, connect included, is bounded by `timeout`. (ws_client.cpp)
HttpResponse http_raw(std::uint16_t port, const std::string& request, Millis timeout = kDefaultTimeout);

/// GET `path` with `Connection: close`.
inline HttpResponse http_get(std::uint16_t port, const std::string& path, const std::string& extra_headers = "",
                             Millis timeout = kDefaultTimeout) {
    return http_raw(port,
                    "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                        "\r\nConnection: close\r\n" + extra_headers + "\r\n",
                    timeout);
}

/// POST `body` to `path` with Content-Length, `Connection: close` and
/// `extra_headers` (each line ending in "\r\n", e.g. "Authorization: Bearer x\r\n").
inline HttpResponse http_post(std::uint16_t port, const std::string& path, const std::string& body,
                              const std::string& extra_headers = "",
                              const std::string& content_type = "application/json",
                              Millis timeout = kDefaultTimeout) {
    return http_raw(port,
                    "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                        "\r\nConnection: close\r\nContent-Type: " + content_type +
                        "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" +
                        body,
                    timeout);
}

}  // namespace livechat_itest

#endif  // LIVECHAT_TESTS_INTEGRATION_WS_CLIENT_HPP
