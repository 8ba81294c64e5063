// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: the LINE push client of livechat-server
// (examples/server/line/) against an HTTP(S) stub on 127.0.0.1, directly
// and through a local proxy.
//
// The client runs on its own io_context thread, like the server's one
// thread; the stub runs on another. Every wait is bounded. Catch2
// assertions run on the test thread only; the handlers only record.

// The client needs libcurl; the HTTPS stub needs OpenSSL (asio/ssl.hpp).
#if defined(LIVECHAT_TEST_LINE_PUSH) && __has_include(<openssl/ssl.h>)

#include "../../examples/server/line/push_queue.hpp"
#include "http_proxy.hpp"
#include "proc_stats.hpp"
#include "server_process.hpp"
#include "ws_client.hpp"

#include <asio/connect.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <rapidjson/document.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_line_push {

using namespace std::chrono_literals;
using livechat_server::line_push_client;
using livechat_server::line_push_options;
using livechat_server::line_push_stats;

namespace {

constexpr auto kWaitLimit = 10s;  // generous: sanitizer builds on a busy CI machine
constexpr const char* kToken = "test-channel-token-0123456789";
constexpr const char* kUser = "U4af4980629f0123456789abcdef0123";

/// Polls `pred` until it holds or `limit` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = kWaitLimit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        if (pred()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(2ms);
    }
}

bool iequals(std::string_view a, std::string_view b) {
    return livechat_server::line::iequals(a, b);
}

// ------------------------------------------------------------------ the stub

struct recorded_request {
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    std::string header(std::string_view name) const {
        for (const auto& [k, v] : headers)
            if (iequals(k, name)) return v;
        return {};
    }
    std::size_t header_count(std::string_view name) const {
        std::size_t n = 0;
        for (const auto& h : headers)
            if (iequals(h.first, name)) ++n;
        return n;
    }
    /// The pushed text, parsed from the JSON body; empty when unparsable.
    std::string text() const {
        rapidjson::Document d;
        d.Parse(body.data(), body.size());
        if (d.HasParseError() || !d.IsObject() || !d.HasMember("messages")) return {};
        const auto& ms = d["messages"];
        if (!ms.IsArray() || ms.Size() != 1 || !ms[0].IsObject() || !ms[0].HasMember("text") ||
            !ms[0]["text"].IsString())
            return {};
        return std::string(ms[0]["text"].GetString(), ms[0]["text"].GetStringLength());
    }
};

struct stub_reply {
    int status = 200;
    std::string reason = "OK";
    std::chrono::milliseconds delay{0};  ///< before answering
    bool silent = false;                 ///< never answer; keep the connection open
    bool close_delimited = false;        ///< no Content-Length: the body ends at the close
    bool keep_alive = false;             ///< no `Connection: close`: read the next request
    std::vector<std::pair<std::string, std::string>> headers;
};

/// An HTTP/1.1 server on 127.0.0.1 (TLS when given a context) that records
/// each request and answers what `script(index of the request)` says.
class http_stub {
 public:
    using script_fn = std::function<stub_reply(std::size_t)>;

    explicit http_stub(script_fn script, asio::ssl::context* tls = nullptr, std::uint16_t port = 0)
        : acceptor_(io_), script_(std::move(script)), tls_(tls) {
        const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
        acceptor_.open(ep.protocol());
        acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        accept();
        thread_ = std::thread([this] { io_.run(); });
    }

    ~http_stub() {
        work_.reset();
        io_.stop();
        thread_.join();
    }

    http_stub(const http_stub&) = delete;
    http_stub& operator=(const http_stub&) = delete;

    std::uint16_t port() const { return port_; }
    std::string base() const {
        return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
    }

    std::vector<recorded_request> requests() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return requests_;
    }
    std::size_t count() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return requests_.size();
    }
    std::size_t handshake_failures() const { return handshake_failures_.load(); }
    /// TCP connections accepted so far.
    std::size_t connections() const { return connections_.load(); }

 private:
    template <class Stream>
    struct session : std::enable_shared_from_this<session<Stream>> {
        template <class... A>
        session(http_stub& s, A&&... a) : stub(s), stream(std::forward<A>(a)...), timer(s.io_) {}

        void start() {
            auto self = this->shared_from_this();
            if constexpr (std::is_same_v<Stream, asio::ip::tcp::socket>) {
                read_head();
            } else {
                stream.async_handshake(asio::ssl::stream_base::server,
                                       [self](const asio::error_code& ec) {
                                           if (ec) {
                                               ++self->stub.handshake_failures_;
                                               return;
                                           }
                                           self->read_head();
                                       });
            }
        }

        void read_head() {
            auto self = this->shared_from_this();
            asio::async_read_until(
                stream, asio::dynamic_buffer(buffer, 1 << 20), "\r\n\r\n",
                [self](const asio::error_code& ec, std::size_t n) {
                    if (ec) return;
                    self->on_head(n);
                });
        }

        void on_head(std::size_t n) {
            const std::string head = buffer.substr(0, n);
            buffer.erase(0, n);
            std::size_t pos = head.find("\r\n");
            const std::string line = head.substr(0, pos);
            const auto sp1 = line.find(' ');
            const auto sp2 = line.find(' ', sp1 + 1);
            request.method = line.substr(0, sp1);
            request.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
            pos += 2;
            while (pos < head.size()) {
                const auto end = head.find("\r\n", pos);
                const std::string h = head.substr(pos, end - pos);
                pos = end + 2;
                if (h.empty()) break;
                const auto colon = h.find(':');
                std::string value = h.substr(colon + 1);
                while (!value.empty() && value.front() == ' ') value.erase(0, 1);
                request.headers.emplace_back(h.substr(0, colon), value);
            }
            const std::string cl = request.header("Content-Length");
            const std::size_t length = cl.empty() ? 0 : std::stoul(cl);
            if (buffer.size() >= length) return on_body(length);
            auto self = this->shared_from_this();
            asio::async_read(stream, asio::dynamic_buffer(buffer, 1 << 20),
                             asio::transfer_exactly(length - buffer.size()),
                             [self, length](const asio::error_code& ec, std::size_t) {
                                 if (ec) return;
                                 self->on_body(length);
                             });
        }

        void on_body(std::size_t length) {
            request.body = buffer.substr(0, length);
            std::size_t index = 0;
            {
                std::lock_guard<std::mutex> lock(stub.mutex_);
                index = stub.requests_.size();
                stub.requests_.push_back(request);
            }
            reply = stub.script_(index);
            if (reply.silent) {
                stub.held_.push_back(this->shared_from_this());  // open until the stub goes
                return;
            }
            auto self = this->shared_from_this();
            timer.expires_after(reply.delay);
            timer.async_wait([self](const asio::error_code&) { self->respond(); });
        }

        void respond() {
            const std::string body = R"({"sentMessages":[{"id":"1","quoteToken":"q"}]})";
            out = "HTTP/1.1 " + std::to_string(reply.status) + " " + reply.reason + "\r\n";
            out += "Content-Type: application/json\r\n";
            if (!reply.close_delimited) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
            for (const auto& [k, v] : reply.headers) out += k + ": " + v + "\r\n";
            if (reply.keep_alive) {
                out += "\r\n" + body;
                auto self = this->shared_from_this();
                asio::async_write(stream, asio::buffer(out), [self](const asio::error_code& ec, std::size_t) {
                    if (ec) return;
                    self->request = recorded_request{};
                    self->read_head();
                });
                return;
            }
            out += "Connection: close\r\n\r\n" + body;
            auto self = this->shared_from_this();
            asio::async_write(stream, asio::buffer(out), [self](const asio::error_code&, std::size_t) {
                asio::error_code ignored;
                self->stream.lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
                self->stream.lowest_layer().close(ignored);
            });
        }

        http_stub& stub;
        Stream stream;
        asio::steady_timer timer;
        std::string buffer;
        recorded_request request;
        stub_reply reply;
        std::string out;
    };

    void accept() {
        acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket s) {
            if (ec) return;
            ++connections_;
            if (tls_) {
                using tls_stream = asio::ssl::stream<asio::ip::tcp::socket>;
                std::make_shared<session<tls_stream>>(*this, std::move(s), *tls_)->start();
            } else {
                std::make_shared<session<asio::ip::tcp::socket>>(*this, std::move(s))->start();
            }
            accept();
        });
    }

    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
    asio::ip::tcp::acceptor acceptor_;
    script_fn script_;
    asio::ssl::context* tls_;
    std::uint16_t port_ = 0;
    std::thread thread_;
    mutable std::mutex mutex_;
    std::vector<recorded_request> requests_;
    std::vector<std::shared_ptr<void>> held_;  // silent sessions; stub thread only
    std::atomic<std::size_t> handshake_failures_{0};
    std::atomic<std::size_t> connections_{0};
};

stub_reply ok() { return {}; }
stub_reply status(int code, std::string reason) {
    stub_reply r;
    r.status = code;
    r.reason = std::move(reason);
    return r;
}

/// A port on 127.0.0.1 that nothing listens on (it was free a moment ago).
std::uint16_t closed_port() {
    asio::io_context io;
    asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return a.local_endpoint().port();
}

// --------------------------------------------------------------- the client

/// The client on its own io_context thread, its log lines collected.
class client_harness {
 public:
    explicit client_harness(line_push_options o) {
        o.log = [lines = lines_, mutex = mutex_](std::string_view line) {
            std::lock_guard<std::mutex> lock(*mutex);
            lines->emplace_back(line);
        };
        client_ = std::make_unique<line_push_client>(io_, std::move(o));
        thread_ = std::thread([this] { io_.run(); });
    }
    ~client_harness() { stop(); }

    client_harness(const client_harness&) = delete;
    client_harness& operator=(const client_harness&) = delete;

    /// Ends the loop, then destroys the client (not on the loop's thread).
    void stop() {
        if (!thread_.joinable()) return;
        work_.reset();
        io_.stop();
        thread_.join();
        client_.reset();
    }

    /// Destroys the client; call it on the loop's thread (see on_loop).
    void destroy_client() { client_.reset(); }

    void push(const std::string& user, const std::string& text) {
        client_->push(message(user, text));
    }

    static livechat::message message(const std::string& user, const std::string& text) {
        livechat::message m;
        m.id = "m1";
        m.room = "conversation:" + user;
        m.seq = 1;
        m.sender = livechat::sender{livechat::sender_type::operator_, "op1", "Operator One"};
        m.text = text;
        return m;
    }

    line_push_stats stats() const { return client_->stats(); }
    line_push_client& client() { return *client_; }
    asio::io_context& io() { return io_; }

    /// Runs `f` on the loop's thread and waits for it (bounded).
    template <class F>
    bool on_loop(F f) {
        auto done = std::make_shared<std::promise<void>>();
        auto fut = done->get_future();
        asio::post(io_, [f = std::move(f), done]() mutable {
            f();
            done->set_value();
        });
        return fut.wait_for(kWaitLimit) == std::future_status::ready;
    }

    std::vector<std::string> log_lines() const {
        std::lock_guard<std::mutex> lock(*mutex_);
        return *lines_;
    }

 private:
    std::shared_ptr<std::vector<std::string>> lines_ = std::make_shared<std::vector<std::string>>();
    std::shared_ptr<std::mutex> mutex_ = std::make_shared<std::mutex>();
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
    std::unique_ptr<line_push_client> client_;
    std::thread thread_;
};

/// A 5 ms timer on the client's loop that records the longest gap between
/// its ticks, until the client has sent `until_sent` messages.
struct beat_state {
    asio::steady_timer timer;
    std::chrono::steady_clock::time_point last;
    std::chrono::steady_clock::duration max_gap{};
    int beats = 0;
    std::atomic<bool> done{false};
    explicit beat_state(asio::io_context& io) : timer(io) {}
};

void heartbeat(std::shared_ptr<beat_state> b, const client_harness* h, std::uint64_t until_sent) {
    b->timer.expires_after(5ms);
    b->timer.async_wait([b, h, until_sent](const asio::error_code& ec) {
        if (ec) return;
        const auto now = std::chrono::steady_clock::now();
        b->max_gap = std::max(b->max_gap, now - b->last);
        b->last = now;
        if (++b->beats >= 4000 || h->stats().sent >= until_sent) {
            b->done = true;
            return;
        }
        heartbeat(b, h, until_sent);
    });
}

line_push_options fast_options(const std::string& api_base) {
    line_push_options o;
    o.channel_token = kToken;
    o.api_base = api_base;
    o.initial_backoff = 10ms;
    o.max_backoff = 50ms;
    o.max_attempts = 8;
    o.request_timeout = 5s;
    return o;
}

/// 8-4-4-4-12 lowercase hex, version 4, RFC 4122 variant.
bool is_uuid_v4(const std::string& s) {
    if (s.size() != 36) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return s[14] == '4' && (s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
}

// ------------------------------------------------- a throwaway TLS identity

/// A self-signed P-256 certificate with the given subjectAltName, as PEM.
struct tls_identity {
    std::string cert_pem;
    std::string key_pem;
};

std::string bio_string(BIO* bio) {
    char* data = nullptr;
    const long n = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &data);  // BIO_get_mem_data without its C cast
    return n > 0 && data != nullptr ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

tls_identity make_identity(const char* subject_alt_name) {
    tls_identity id;
    EVP_PKEY* key = nullptr;
    EVP_PKEY_CTX* kctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
    REQUIRE(kctx != nullptr);
    REQUIRE(EVP_PKEY_keygen_init(kctx) == 1);
    REQUIRE(EVP_PKEY_CTX_set_group_name(kctx, "P-256") == 1);
    REQUIRE(EVP_PKEY_generate(kctx, &key) == 1);
    EVP_PKEY_CTX_free(kctx);

    X509* x = X509_new();
    REQUIRE(x != nullptr);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("livechat line stub"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
    for (auto [nid, value] : {std::pair<int, const char*>{NID_subject_alt_name, subject_alt_name},
                              std::pair<int, const char*>{NID_basic_constraints, "critical,CA:TRUE"}}) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
        REQUIRE(ext != nullptr);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    REQUIRE(X509_sign(x, key, EVP_sha256()) > 0);

    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    id.cert_pem = bio_string(bio);
    BIO_free(bio);
    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    id.key_pem = bio_string(bio);
    BIO_free(bio);
    X509_free(x);
    EVP_PKEY_free(key);
    return id;
}

/// A file removed when it goes out of scope.
struct temp_file {
    std::filesystem::path path;
    explicit temp_file(const std::string& content)
        : path(std::filesystem::temp_directory_path() /
               ("livechat-line-push-" + livechat_server::line::make_uuid_v4() + ".pem")) {
        std::ofstream(path, std::ios::binary) << content;
    }
    ~temp_file() {
        std::error_code ec;
        std::filesystem::remove(path, ec);
    }
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;
};

std::unique_ptr<asio::ssl::context> server_context(const tls_identity& id) {
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    ctx->use_certificate_chain(asio::buffer(id.cert_pem));
    ctx->use_private_key(asio::buffer(id.key_pem), asio::ssl::context::pem);
    return ctx;
}

}  // namespace

// ----------------------------------------------------------------- the tests

TEST_CASE("LINE push: one message reaches the API as LINE expects it", "[integration][outbound]") {
    http_stub stub([](std::size_t) { return ok(); });
    client_harness h(fast_options(stub.base()));
    const std::string text = "Hello \"there\" \\ back\nslash / tab\t \xE3\x81\x93\xE3\x82\x93 \x01 end";
    h.push(kUser, text);

    REQUIRE(eventually([&] { return h.stats().sent == 1; }));
    const auto reqs = stub.requests();
    REQUIRE(reqs.size() == 1);
    const recorded_request& r = reqs[0];
    CHECK(r.method == "POST");
    CHECK(r.target == "/v2/bot/message/push");
    CHECK(r.header("Authorization") == std::string("Bearer ") + kToken);
    CHECK(r.header("Content-Type") == "application/json");
    CHECK(r.header("Host") == "127.0.0.1:" + std::to_string(stub.port()));
    CHECK(r.header("Content-Length") == std::to_string(r.body.size()));
    CHECK(r.header_count("X-Line-Retry-Key") == 1);
    CHECK(is_uuid_v4(r.header("X-Line-Retry-Key")));
    // The client keeps the connection for the next message (libcurl's
    // connection cache; see the reuse test), so it never asks to close it.
    CHECK_FALSE(iequals(r.header("Connection"), "close"));

    rapidjson::Document d;
    d.Parse(r.body.data(), r.body.size());
    REQUIRE_FALSE(d.HasParseError());
    REQUIRE(d.IsObject());
    REQUIRE(d.MemberCount() == 2);
    REQUIRE(d.HasMember("to"));
    CHECK(std::string(d["to"].GetString()) == kUser);
    REQUIRE(d["messages"].IsArray());
    REQUIRE(d["messages"].Size() == 1);
    const auto& m = d["messages"][0];
    CHECK(std::string(m["type"].GetString()) == "text");
    CHECK(std::string(m["text"].GetString(), m["text"].GetStringLength()) == text);

    const auto s = h.stats();
    CHECK(s.failed_permanently == 0);
    CHECK(s.retried == 0);
    CHECK(s.in_flight == 0);
    CHECK(s.queued == 0);
    CHECK(h.log_lines().empty());
}

TEST_CASE("LINE push: each message has its own retry key, a path prefix is kept",
          "[integration][outbound]") {
    http_stub stub([](std::size_t) { return ok(); });
    client_harness h(fast_options(stub.base() + "/line-api/"));
    h.push(kUser, "one");
    h.push(kUser, "two");
    REQUIRE(eventually([&] { return h.stats().sent == 2; }));
    const auto reqs = stub.requests();
    REQUIRE(reqs.size() == 2);
    CHECK(reqs[0].target == "/line-api/v2/bot/message/push");
    CHECK(reqs[0].header("X-Line-Retry-Key") != reqs[1].header("X-Line-Retry-Key"));
    CHECK(is_uuid_v4(reqs[1].header("X-Line-Retry-Key")));
}

TEST_CASE("LINE push: 5xx is retried with the same retry key", "[integration][outbound]") {
    http_stub stub([](std::size_t i) { return i < 2 ? status(500, "Internal Server Error") : ok(); });
    client_harness h(fast_options(stub.base()));
    h.push(kUser, "retry me");

    REQUIRE(eventually([&] { return h.stats().sent == 1; }));
    const auto reqs = stub.requests();
    REQUIRE(reqs.size() == 3);
    const std::string key = reqs[0].header("X-Line-Retry-Key");
    CHECK(is_uuid_v4(key));
    CHECK(reqs[1].header("X-Line-Retry-Key") == key);
    CHECK(reqs[2].header("X-Line-Retry-Key") == key);
    for (const auto& r : reqs) CHECK(r.body == reqs[0].body);
    const auto s = h.stats();
    CHECK(s.retried == 2);
    CHECK(s.failed_permanently == 0);
    CHECK(h.log_lines().empty());
    std::this_thread::sleep_for(100ms);  // several backoffs: nothing more is sent
    CHECK(stub.count() == 3);
}

TEST_CASE("LINE push: 429 and 408 are retried, 409 means accepted before", "[integration][outbound]") {
    SECTION("429 with Retry-After, then 200") {
        http_stub stub([](std::size_t i) {
            if (i > 0) return ok();
            auto r = status(429, "Too Many Requests");
            r.headers.emplace_back("Retry-After", "0");
            return r;
        });
        client_harness h(fast_options(stub.base()));
        h.push(kUser, "busy");
        REQUIRE(eventually([&] { return h.stats().sent == 1; }));
        CHECK(stub.count() == 2);
        CHECK(h.stats().retried == 1);
    }
    SECTION("408, then 200") {
        http_stub stub([](std::size_t i) { return i == 0 ? status(408, "Request Timeout") : ok(); });
        client_harness h(fast_options(stub.base()));
        h.push(kUser, "slow");
        REQUIRE(eventually([&] { return h.stats().sent == 1; }));
        CHECK(stub.count() == 2);
    }
    SECTION("500, then 409 (the first attempt was accepted after all)") {
        http_stub stub([](std::size_t i) { return i == 0 ? status(500, "Internal Server Error")
                                                         : status(409, "Conflict"); });
        client_harness h(fast_options(stub.base()));
        h.push(kUser, "maybe twice");
        REQUIRE(eventually([&] { return h.stats().sent == 1; }));
        CHECK(stub.count() == 2);
        CHECK(h.stats().failed_permanently == 0);
        CHECK(h.log_lines().empty());
    }
}

TEST_CASE("LINE push: a 4xx is a permanent failure, not retried", "[integration][outbound]") {
    http_stub stub([](std::size_t) { return status(400, "Bad Request"); });
    client_harness h(fast_options(stub.base()));
    const std::string text = "a secret text";
    h.push(kUser, text);
    h.push("Uother", "after the failure");  // the queue goes on

    REQUIRE(eventually([&] { return h.stats().failed_permanently == 2; }));
    std::this_thread::sleep_for(100ms);  // many backoff periods: nothing retried
    CHECK(stub.count() == 2);
    const auto s = h.stats();
    CHECK(s.retried == 0);
    CHECK(s.sent == 0);
    CHECK(s.in_flight == 0);
    CHECK(s.queued == 0);

    const auto lines = h.log_lines();
    REQUIRE(lines.size() == 2);
    CHECK(lines[0] == std::string("outbound to ") + kUser + " failed after 1 attempts: HTTP 400 Bad Request");
    for (const auto& l : lines) {
        CHECK(l.find(kToken) == std::string::npos);
        CHECK(l.find(text) == std::string::npos);
        CHECK(l.find('\n') == std::string::npos);
    }
}

TEST_CASE("LINE push: retries stop at max_attempts, with one log line", "[integration][outbound]") {
    http_stub stub([](std::size_t) { return status(503, "Service Unavailable"); });
    auto o = fast_options(stub.base());
    o.max_attempts = 3;
    client_harness h(o);
    const std::string text = "never delivered";
    h.push(kUser, text);

    REQUIRE(eventually([&] { return h.stats().failed_permanently == 1; }));
    std::this_thread::sleep_for(100ms);
    CHECK(stub.count() == 3);
    CHECK(h.stats().retried == 2);
    CHECK(h.stats().sent == 0);
    const auto lines = h.log_lines();
    REQUIRE(lines.size() == 1);
    CHECK(lines[0] ==
          std::string("outbound to ") + kUser + " failed after 3 attempts: HTTP 503 Service Unavailable");
    CHECK(lines[0].find(kToken) == std::string::npos);
    CHECK(lines[0].find(text) == std::string::npos);
}

TEST_CASE("LINE push: connection refused is retried until the API is back", "[integration][outbound]") {
    const std::uint16_t port = closed_port();
    auto o = fast_options("http://127.0.0.1:" + std::to_string(port));
    o.max_attempts = 100;  // 100 * <= 50 ms: longer than the test needs
    client_harness h(o);
    h.push(kUser, "are you there?");

    REQUIRE(eventually([&] { return h.stats().retried >= 2; }));
    CHECK(h.stats().sent == 0);
    CHECK(h.stats().in_flight == 1);
    http_stub stub([](std::size_t) { return ok(); }, nullptr, port);

    REQUIRE(eventually([&] { return h.stats().sent == 1; }));
    CHECK(stub.count() == 1);
    CHECK(stub.requests()[0].text() == "are you there?");
    CHECK(h.stats().failed_permanently == 0);
    CHECK(h.log_lines().empty());
}

TEST_CASE("LINE push: an unanswered request times out and is retried", "[integration][outbound]") {
    http_stub stub([](std::size_t i) {
        stub_reply r;
        r.silent = i == 0;
        return r;
    });
    auto o = fast_options(stub.base());
    o.request_timeout = 200ms;
    client_harness h(o);
    h.push(kUser, "hello?");

    REQUIRE(eventually([&] { return h.stats().sent == 1; }));
    const auto reqs = stub.requests();
    REQUIRE(reqs.size() == 2);
    CHECK(reqs[0].header("X-Line-Retry-Key") == reqs[1].header("X-Line-Retry-Key"));
    CHECK(h.stats().retried == 1);
}

TEST_CASE("LINE push: a response delimited by the close is read to the end", "[integration][outbound]") {
    http_stub stub([](std::size_t) {
        stub_reply r;
        r.close_delimited = true;
        return r;
    });
    client_harness h(fast_options(stub.base()));
    h.push(kUser, "eof");
    REQUIRE(eventually([&] { return h.stats().sent == 1; }));
    CHECK(stub.count() == 1);
}

TEST_CASE("LINE push: messages to one user arrive in order, through a retry", "[integration][outbound]") {
    // The first request fails, so the head waits for its retry while the
    // rest are queued behind it.
    http_stub stub([](std::size_t i) { return i == 0 ? status(502, "Bad Gateway") : ok(); });
    client_harness h(fast_options(stub.base()));
    line_push_stats s0;
    REQUIRE(h.on_loop([&] {
        for (int i = 1; i <= 5; ++i) h.push(kUser, "message " + std::to_string(i));
        s0 = h.stats();  // on the loop: nothing has completed yet
    }));
    CHECK(s0.in_flight == 1);
    CHECK(s0.queued == 4);

    REQUIRE(eventually([&] { return h.stats().sent == 5; }));
    const auto reqs = stub.requests();
    REQUIRE(reqs.size() == 6);
    CHECK(reqs[0].text() == "message 1");
    for (std::size_t i = 1; i < reqs.size(); ++i) CHECK(reqs[i].text() == "message " + std::to_string(i));
}

TEST_CASE("LINE push: the io_context thread is never blocked", "[integration][outbound]") {
    http_stub stub([](std::size_t) {
        stub_reply r;
        r.delay = 800ms;
        return r;
    });
    client_harness h(fast_options(stub.base()));

    // push() from another thread hands over and returns at once.
    const auto t0 = std::chrono::steady_clock::now();
    h.push(kUser, "from the test thread");
    CHECK(std::chrono::steady_clock::now() - t0 < 50ms);

    // On the loop's thread: pushes return at once, and timers keep firing
    // on time while the requests are in flight.
    std::chrono::steady_clock::duration push_time{};
    REQUIRE(h.on_loop([&] {
        const auto p0 = std::chrono::steady_clock::now();
        for (int i = 0; i < 2; ++i) h.push(kUser, "from the loop " + std::to_string(i));
        push_time = std::chrono::steady_clock::now() - p0;
    }));
    CHECK(push_time < 50ms);

    auto beat = std::make_shared<beat_state>(h.io());
    REQUIRE(h.on_loop([&] {
        beat->last = std::chrono::steady_clock::now();
        heartbeat(beat, &h, 3);
    }));
    REQUIRE(eventually([&] { return beat->done.load(); }));
    CHECK(h.stats().sent == 3);
    REQUIRE(h.on_loop([] {}));  // the last beat's handler has returned
    INFO("longest gap between 5 ms ticks: "
         << std::chrono::duration_cast<std::chrono::milliseconds>(beat->max_gap).count() << " ms");
    // Each request takes 800 ms: a blocked loop would show a gap that long.
    // The bound leaves room for a busy machine's scheduling (a 236 ms gap
    // was seen under a parallel sanitizer build with 400 ms and 200 ms).
    CHECK(beat->max_gap < 400ms);
}

TEST_CASE("LINE push: a full queue drops the newest, counted and logged once",
          "[integration][outbound]") {
    http_stub stub([](std::size_t) {
        stub_reply r;
        r.delay = 100ms;
        return r;
    });
    auto o = fast_options(stub.base());
    o.max_queue = 3;
    client_harness h(o);
    REQUIRE(h.on_loop([&] {
        for (int i = 1; i <= 6; ++i) h.push(kUser, "m" + std::to_string(i));
    }));
    CHECK(h.stats().dropped_queue_full == 3);
    REQUIRE(eventually([&] { return h.stats().sent == 3; }));
    const auto reqs = stub.requests();
    REQUIRE(reqs.size() == 3);
    CHECK(reqs[2].text() == "m3");
    const auto lines = h.log_lines();
    REQUIRE(lines.size() == 2);  // the first drop, and the queue having room again
    CHECK(lines[0].find("dropped: queue full") != std::string::npos);
    CHECK(lines[1].find("3 messages were dropped") != std::string::npos);
}

TEST_CASE("LINE push: a message in a room that is not a conversation is refused",
          "[integration][outbound]") {
    http_stub stub([](std::size_t) { return ok(); });
    client_harness h(fast_options(stub.base()));
    livechat::message m = client_harness::message(kUser, "x");
    m.room = "lobby";
    h.client().push(m);
    REQUIRE(eventually([&] { return h.stats().failed_permanently == 1; }));
    CHECK(stub.count() == 0);
}

TEST_CASE("LINE push: over HTTPS, the server certificate is verified", "[integration][outbound]") {
    SECTION("a certificate for 127.0.0.1 from a trusted CA file: delivered") {
        const tls_identity id = make_identity("IP:127.0.0.1");
        auto ctx = server_context(id);
        const temp_file ca(id.cert_pem);
        http_stub stub([](std::size_t) { return ok(); }, ctx.get());
        auto o = fast_options(stub.base());
        o.ca_file = ca.path.string();
        client_harness h(o);
        h.push(kUser, "over TLS");
        REQUIRE(eventually([&] { return h.stats().sent == 1; }));
        const auto reqs = stub.requests();
        REQUIRE(reqs.size() == 1);
        CHECK(reqs[0].text() == "over TLS");
        CHECK(reqs[0].header("Host") == "127.0.0.1:" + std::to_string(stub.port()));
        CHECK(reqs[0].header("Authorization") == std::string("Bearer ") + kToken);
    }
    SECTION("a certificate for another name: refused, the token never sent") {
        const tls_identity id = make_identity("DNS:api.example.invalid");
        auto ctx = server_context(id);
        const temp_file ca(id.cert_pem);
        http_stub stub([](std::size_t) { return ok(); }, ctx.get());
        auto o = fast_options(stub.base());
        o.ca_file = ca.path.string();
        o.max_attempts = 2;
        client_harness h(o);
        h.push(kUser, "not to an impostor");
        REQUIRE(eventually([&] { return h.stats().failed_permanently == 1; }));
        CHECK(stub.count() == 0);
        CHECK(h.stats().sent == 0);
        const auto lines = h.log_lines();
        REQUIRE(lines.size() == 1);
        CHECK(lines[0].find("failed after 2 attempts: tls handshake") != std::string::npos);
    }
    SECTION("an untrusted certificate (no CA file): refused") {
        const tls_identity id = make_identity("IP:127.0.0.1");
        auto ctx = server_context(id);
        http_stub stub([](std::size_t) { return ok(); }, ctx.get());
        auto o = fast_options(stub.base());
        o.max_attempts = 1;
        client_harness h(o);
        h.push(kUser, "x");
        REQUIRE(eventually([&] { return h.stats().failed_permanently == 1; }));
        CHECK(stub.count() == 0);
    }
}

TEST_CASE("LINE push: destroying the client mid-request is safe", "[integration][outbound]") {
    http_stub stub([](std::size_t) {
        stub_reply r;
        r.silent = true;
        return r;
    });
    client_harness h(fast_options(stub.base()));
    h.push(kUser, "abandoned");
    h.push(kUser, "abandoned too");
    REQUIRE(eventually([&] { return stub.count() == 1; }));
    // Destroy it on the loop's thread, with a request and a backoff pending
    // nowhere but in the io_context; the loop keeps running afterwards.
    REQUIRE(h.on_loop([&] { h.destroy_client(); }));
    REQUIRE(h.on_loop([] {}));
}

TEST_CASE("LINE push: consecutive messages share one connection", "[integration][outbound]") {
    http_stub stub([](std::size_t) {
        stub_reply r;
        r.keep_alive = true;
        return r;
    });
    client_harness h(fast_options(stub.base()));
    for (int i = 1; i <= 3; ++i) h.push(kUser, "m" + std::to_string(i));
    REQUIRE(eventually([&] { return h.stats().sent == 3; }));
    const auto reqs = stub.requests();
    REQUIRE(reqs.size() == 3);
    for (std::size_t i = 0; i < reqs.size(); ++i) CHECK(reqs[i].text() == "m" + std::to_string(i + 1));
    CHECK(stub.connections() == 1);
}

TEST_CASE("LINE push: HTTPS_PROXY is honoured (a CONNECT tunnel), certificate still checked",
          "[integration][outbound][proxy]") {
    const tls_identity id = make_identity("IP:127.0.0.1");
    auto ctx = server_context(id);
    const temp_file ca(id.cert_pem);
    http_stub stub([](std::size_t) { return ok(); }, ctx.get());
    livechat_itest::http_proxy proxy;
    // Before the client's worker thread starts (setenv vs getenv); curl reads
    // the lowercase name first, so both are set.
    livechat_itest::scoped_env upper("HTTPS_PROXY", proxy.url());
    livechat_itest::scoped_env lower("https_proxy", proxy.url());
    livechat_itest::scoped_env no_upper("NO_PROXY", "");
    livechat_itest::scoped_env no_lower("no_proxy", "");
    auto o = fast_options(stub.base());
    o.ca_file = ca.path.string();
    client_harness h(o);
    h.push(kUser, "through the proxy");
    REQUIRE(eventually([&] { return h.stats().sent == 1; }));
    h.stop();  // the worker is joined before the environment is restored
    const auto reqs = stub.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].text() == "through the proxy");
    CHECK(reqs[0].header("Authorization") == std::string("Bearer ") + kToken);
    const auto lines = proxy.request_lines();
    REQUIRE(lines.size() == 1);
    CHECK(lines[0] == "CONNECT 127.0.0.1:" + std::to_string(stub.port()) + " HTTP/1.1");
}

TEST_CASE("LINE push: options are checked at construction", "[integration][outbound]") {
    asio::io_context io;
    auto make = [&](std::string base, std::string token = kToken) {
        line_push_options o;
        o.api_base = std::move(base);
        o.channel_token = std::move(token);
        line_push_client c(io, o);
    };
    CHECK_NOTHROW(make("https://api.line.me"));
    CHECK_NOTHROW(make("http://127.0.0.1:8080/prefix"));
    CHECK_NOTHROW(make("http://[::1]:8080"));
    CHECK_THROWS_AS(make("ftp://api.line.me"), std::invalid_argument);
    CHECK_THROWS_AS(make("api.line.me"), std::invalid_argument);
    CHECK_THROWS_AS(make("https://"), std::invalid_argument);
    CHECK_THROWS_AS(make("https://api.line.me:0"), std::invalid_argument);
    CHECK_THROWS_AS(make("https://api.line.me:70000"), std::invalid_argument);
    CHECK_THROWS_AS(make("https://user@api.line.me"), std::invalid_argument);
    CHECK_THROWS_AS(make("https://api.line.me/?x=1"), std::invalid_argument);
    CHECK_THROWS_AS(make("https://api.line.me", "token\r\nX-Evil: 1"), std::invalid_argument);
    try {
        make("https://api.line.me", "bad token");
        FAIL("no exception");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("bad token") == std::string::npos);  // never echoed
    }

    namespace d = livechat_server::line;
    const auto t = d::parse_api_base("HTTPS://api.line.me");
    CHECK(t.tls);
    CHECK(t.host_header == "api.line.me");
    CHECK(t.port == "443");
    CHECK(t.path == "/v2/bot/message/push");
    const auto t6 = d::parse_api_base("http://[::1]:9000/x//");
    CHECK_FALSE(t6.tls);
    CHECK(t6.host == "::1");
    CHECK(t6.host_header == "[::1]:9000");
    CHECK(t6.path == "/x/v2/bot/message/push");
    CHECK(d::parse_api_base("http://h:80").host_header == "h");
}

// ------------------------------------------------------------------ through the server

TEST_CASE("livechat-server pushes an operator's reply to the end user, retrying a failure",
          "[integration][outbound]") {
    // The first push fails with 500; the retry (same retry key) succeeds.
    http_stub stub([](std::size_t i) {
        stub_reply r;
        if (i == 0) {
            r.status = 500;
            r.reason = "Internal Server Error";
        }
        return r;
    });
    livechat_itest::ServerProcess server({"--line-channel-token", "test-token",
                                          "--line-api-base", "http://127.0.0.1:" + std::to_string(stub.port())});
    livechat_itest::WsClient op;
    op.login(server.port(), "alice");
    REQUIRE(op.send("join_room", R"({"room":"conversation:Uend"})"));
    op.expect("conversation_update");
    REQUIRE(op.send("send_message", R"({"room":"conversation:Uend","text":"your order ships today"})"));
    op.expect("message_sent");
    REQUIRE(eventually([&] { return stub.count() >= 2; }));
    const auto reqs = stub.requests();
    REQUIRE(reqs.size() == 2);
    for (const auto& r : reqs) {
        CHECK(r.method == "POST");
        CHECK(r.target == "/v2/bot/message/push");
        CHECK(r.header("Authorization") == "Bearer test-token");
        CHECK(r.text() == "your order ships today");
        rapidjson::Document d;
        d.Parse(r.body.data(), r.body.size());
        REQUIRE(d.IsObject());
        CHECK(std::string(d["to"].GetString()) == "Uend");
    }
    CHECK(reqs[0].header("X-Line-Retry-Key") == reqs[1].header("X-Line-Retry-Key"));
    CHECK(server.stop() == 0);
}

namespace {

/// An operator's reply in conversation:Uend, sent through `server`.
void reply_as_operator(const livechat_itest::ServerProcess& server, const std::string& text) {
    livechat_itest::WsClient op;
    op.login(server.port(), "alice");
    REQUIRE(op.send("join_room", R"({"room":"conversation:Uend"})"));
    op.expect("conversation_update");
    REQUIRE(op.send("send_message", R"({"room":"conversation:Uend","text":")" + text + R"("})"));
    op.expect("message_sent");
}

}  // namespace

TEST_CASE("livechat-server pushes through the proxy of its environment", "[integration][outbound][proxy]") {
    http_stub stub([](std::size_t) { return ok(); });
    livechat_itest::http_proxy proxy;
    const std::string api_base = "http://127.0.0.1:" + std::to_string(stub.port());
    // For an http:// URL curl reads http_proxy only in lowercase (HTTP_PROXY
    // can be set by a CGI request's Proxy: header), so both are set, as a
    // deployment would.
    livechat_itest::scoped_env upper("HTTP_PROXY", proxy.url());
    livechat_itest::scoped_env lower("http_proxy", proxy.url());
    livechat_itest::scoped_env https_upper("HTTPS_PROXY", proxy.url());

    SECTION("through the proxy") {
        livechat_itest::scoped_env no_upper("NO_PROXY", "");
        livechat_itest::scoped_env no_lower("no_proxy", "");
        livechat_itest::ServerProcess server({"--line-channel-token", "test-token", "--line-api-base", api_base});
        reply_as_operator(server, "via the proxy");
        REQUIRE(eventually([&] { return stub.count() >= 1; }));
        CHECK(stub.requests()[0].text() == "via the proxy");
        CHECK(stub.requests()[0].target == "/v2/bot/message/push");
        const auto lines = proxy.request_lines();
        REQUIRE(lines.size() == 1);
        CHECK(lines[0] == "POST " + api_base + "/v2/bot/message/push HTTP/1.1");
        CHECK(server.stop() == 0);
    }
    SECTION("NO_PROXY names the host: straight to it") {
        livechat_itest::scoped_env no_upper("NO_PROXY", "127.0.0.1");
        livechat_itest::scoped_env no_lower("no_proxy", "127.0.0.1");
        livechat_itest::ServerProcess server({"--line-channel-token", "test-token", "--line-api-base", api_base});
        reply_as_operator(server, "direct");
        REQUIRE(eventually([&] { return stub.count() >= 1; }));
        CHECK(stub.requests()[0].text() == "direct");
        CHECK(proxy.request_lines().empty());
        CHECK(server.stop() == 0);
    }
}

#endif  // LIVECHAT_TEST_LINE_PUSH && <openssl/ssl.h>

}  // namespace livechat_itest_line_push
