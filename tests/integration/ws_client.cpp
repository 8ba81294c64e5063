// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The websocketpp and Asio half of ws_client.hpp, compiled once for the whole
// integration suite instead of once per test file.

#ifndef ASIO_STANDALONE
#error "the integration tests use standalone Asio: define ASIO_STANDALONE (the asio::asio target does)"
#endif

#include "ws_client.hpp"

#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

#include <asio.hpp>

namespace livechat_itest {
namespace detail {

struct WsTransport::Impl {
    using Endpoint = websocketpp::client<websocketpp::config::asio_client>;

    WsCallbacks cb;
    Endpoint endpoint;
    websocketpp::connection_hdl hdl;
    std::thread thread;
};

WsTransport::WsTransport(WsCallbacks callbacks, std::size_t max_message_size) : impl_(std::make_unique<Impl>()) {
    Impl& im = *impl_;
    im.cb = std::move(callbacks);
    auto& ep = im.endpoint;
    ep.clear_access_channels(websocketpp::log::alevel::all);
    ep.clear_error_channels(websocketpp::log::elevel::all);
    ep.init_asio();
    ep.start_perpetual();
    ep.set_max_message_size(max_message_size);
    ep.set_user_agent("livechat-integration-test");
    ep.set_open_handler([&im](websocketpp::connection_hdl) { im.cb.on_open(); });
    ep.set_fail_handler([&im](websocketpp::connection_hdl hdl) {
        int status = 0;
        std::string err;
        websocketpp::lib::error_code ec;
        auto con = im.endpoint.get_con_from_hdl(hdl, ec);
        if (!ec && con) {
            status = static_cast<int>(con->get_response_code());
            err = con->get_ec().message();
        }
        im.cb.on_fail(status, std::move(err));
    });
    ep.set_close_handler([&im](websocketpp::connection_hdl hdl) {
        int code = -1;
        std::string reason;
        websocketpp::lib::error_code ec;
        auto con = im.endpoint.get_con_from_hdl(hdl, ec);
        if (!ec && con) {
            code = static_cast<int>(con->get_remote_close_code());
            reason = con->get_remote_close_reason();
        }
        im.cb.on_close(code, std::move(reason));
    });
    ep.set_message_handler([&im](websocketpp::connection_hdl, Impl::Endpoint::message_ptr msg) {
        im.cb.on_message(std::move(msg->get_raw_payload()),
                         msg->get_opcode() == websocketpp::frame::opcode::text);
    });
    im.thread = std::thread([&im] {
        try {
            im.endpoint.run();
        } catch (...) {
            // The test thread sees the consequence (no events, timeouts).
        }
    });
}

WsTransport::~WsTransport() { stop_and_join(); }

std::string WsTransport::connect(const std::string& uri, long open_timeout_ms, long close_timeout_ms) {
    websocketpp::lib::error_code ec;
    Impl::Endpoint::connection_ptr con = impl_->endpoint.get_connection(uri, ec);
    if (ec) return ec.message();
    con->set_open_handshake_timeout(open_timeout_ms);
    con->set_close_handshake_timeout(close_timeout_ms);
    impl_->hdl = con->get_handle();
    impl_->endpoint.connect(con);
    return "";
}

bool WsTransport::send(const std::string& data, bool binary) {
    websocketpp::lib::error_code ec;
    impl_->endpoint.send(impl_->hdl, data,
                         binary ? websocketpp::frame::opcode::binary : websocketpp::frame::opcode::text, ec);
    return !ec;
}

bool WsTransport::close(int code, const std::string& reason) {
    websocketpp::lib::error_code ec;
    impl_->endpoint.close(impl_->hdl, static_cast<websocketpp::close::status::value>(code), reason, ec);
    return !ec;
}

void WsTransport::stop_perpetual() { impl_->endpoint.stop_perpetual(); }

void WsTransport::stop_and_join() {
    if (!impl_->thread.joinable()) return;
    impl_->endpoint.stop();
    impl_->thread.join();
}

}  // namespace detail

HttpResponse http_raw(std::uint16_t port, const std::string& request, Millis timeout) {
    HttpResponse out;
    asio::io_context io;
    asio::ip::tcp::socket sock(io);
    const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    std::string raw;
    std::array<char, 16384> buf{};
    bool done = false;
    std::string err;

    std::function<void()> read_more;
    read_more = [&] {
        sock.async_read_some(asio::buffer(buf), [&](const asio::error_code& ec, std::size_t n) {
            raw.append(buf.data(), n);
            if (ec) {
                if (ec != asio::error::eof && ec != asio::error::connection_reset) err = "read: " + ec.message();
                done = true;
                return;
            }
            if (detail::http_response_complete(raw)) {
                done = true;
                return;
            }
            read_more();
        });
    };
    sock.async_connect(ep, [&](const asio::error_code& ec) {
        if (ec) {
            err = "connect: " + ec.message();
            done = true;
            return;
        }
        asio::async_write(sock, asio::buffer(request), [&](const asio::error_code& wec, std::size_t) {
            // A server may answer (e.g. 413) and close before reading it all:
            // keep reading what it sent anyway.
            if (wec && wec != asio::error::broken_pipe && wec != asio::error::connection_reset)
                err = "write: " + wec.message();
        });
        read_more();
    });
    io.run_for(timeout);
    if (!done && err.empty()) err = "timed out after " + std::to_string(timeout.count()) + " ms";
    asio::error_code ignored;
    sock.close(ignored);
    io.restart();
    io.run_for(Millis(1000));  // let the aborted handlers finish before locals go away

    out.error = err;
    detail::parse_http_response(raw, out);
    return out;
}

}  // namespace livechat_itest
