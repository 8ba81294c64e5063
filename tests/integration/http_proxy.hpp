// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// A forwarding HTTP proxy on 127.0.0.1 for the integration tests: `CONNECT
// host:port` (how a client reaches an https:// URL through HTTPS_PROXY) is
// answered 200 and tunnelled; an absolute-form request (`POST http://host/…`,
// a plain http:// URL through http_proxy) is rewritten to origin form and
// forwarded. Either way the bytes are then copied both ways until one side
// closes. It records each request line it was asked and forwards only to
// 127.0.0.1. One thread of its own; everything else is bounded by the test.
#ifndef LIVECHAT_TESTS_INTEGRATION_HTTP_PROXY_HPP
#define LIVECHAT_TESTS_INTEGRATION_HTTP_PROXY_HPP

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <asio/connect.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/write.hpp>

namespace livechat_itest {

class http_proxy {
public:
    http_proxy() : acceptor_(io_) {
        const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
        acceptor_.open(ep.protocol());
        acceptor_.bind(ep);
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        accept();
        thread_ = std::thread([this] { io_.run(); });
    }
    ~http_proxy() {
        work_.reset();
        io_.stop();
        thread_.join();
    }
    http_proxy(const http_proxy&) = delete;
    http_proxy& operator=(const http_proxy&) = delete;

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

    /// The request lines it was sent ("CONNECT 127.0.0.1:N HTTP/1.1", ...).
    std::vector<std::string> request_lines() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return lines_;
    }

private:
    struct relay : std::enable_shared_from_this<relay> {
        relay(http_proxy& p, asio::ip::tcp::socket s) : proxy(p), client(std::move(s)), upstream(p.io_) {}

        void start() {
            auto self = shared_from_this();
            asio::async_read_until(client, asio::dynamic_buffer(head, 1 << 16), "\r\n\r\n",
                                   [self](const asio::error_code& ec, std::size_t) {
                                       if (!ec) self->on_head();
                                   });
        }

        void on_head() {
            const std::string line = head.substr(0, head.find("\r\n"));
            {
                std::lock_guard<std::mutex> lock(proxy.mutex_);
                proxy.lines_.push_back(line);
            }
            const auto sp1 = line.find(' ');
            const auto sp2 = line.find(' ', sp1 + 1);
            if (sp1 == std::string::npos || sp2 == std::string::npos) return close();
            const std::string method = line.substr(0, sp1);
            std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
            std::string authority;
            if (method == "CONNECT") {
                authority = target;
                to_client = "HTTP/1.1 200 Connection established\r\n\r\n";
            } else {
                const std::string scheme = "http://";
                if (target.compare(0, scheme.size(), scheme) != 0) return close();
                const auto slash = target.find('/', scheme.size());
                authority = target.substr(scheme.size(), slash - scheme.size());
                const std::string path = slash == std::string::npos ? "/" : target.substr(slash);
                to_upstream = method + " " + path + line.substr(sp2) + head.substr(line.size());
            }
            head.clear();
            const auto colon = authority.rfind(':');
            if (colon == std::string::npos || authority.substr(0, colon) != "127.0.0.1") return close();
            const auto port = static_cast<std::uint16_t>(std::stoul(authority.substr(colon + 1)));
            auto self = shared_from_this();
            upstream.async_connect(
                asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                [self](const asio::error_code& ec) {
                    if (ec) return self->close();
                    auto& first_to = self->to_client.empty() ? self->upstream : self->client;
                    auto& first = self->to_client.empty() ? self->to_upstream : self->to_client;
                    asio::async_write(first_to, asio::buffer(first), [self](const asio::error_code& e, std::size_t) {
                        if (e) return self->close();
                        self->pump(self->client, self->upstream, self->up_buf);
                        self->pump(self->upstream, self->client, self->down_buf);
                    });
                });
        }

        void pump(asio::ip::tcp::socket& from, asio::ip::tcp::socket& to, std::array<char, 16384>& buf) {
            auto self = shared_from_this();
            from.async_read_some(asio::buffer(buf), [self, &from, &to, &buf](const asio::error_code& ec, std::size_t n) {
                if (ec) return self->close();
                asio::async_write(to, asio::buffer(buf.data(), n),
                                  [self, &from, &to, &buf](const asio::error_code& e, std::size_t) {
                                      if (e) return self->close();
                                      self->pump(from, to, buf);
                                  });
            });
        }

        void close() {
            asio::error_code ignored;
            client.close(ignored);
            upstream.close(ignored);
        }

        http_proxy& proxy;
        asio::ip::tcp::socket client;
        asio::ip::tcp::socket upstream;
        std::string head;
        std::string to_client;
        std::string to_upstream;
        std::array<char, 16384> up_buf{};
        std::array<char, 16384> down_buf{};
    };

    void accept() {
        acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket s) {
            if (ec) return;
            std::make_shared<relay>(*this, std::move(s))->start();
            accept();
        });
    }

    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
    asio::ip::tcp::acceptor acceptor_;
    std::uint16_t port_ = 0;
    std::thread thread_;
    mutable std::mutex mutex_;
    std::vector<std::string> lines_;
};

}  // namespace livechat_itest

#endif  // LIVECHAT_TESTS_INTEGRATION_HTTP_PROXY_HPP
