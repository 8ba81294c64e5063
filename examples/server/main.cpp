// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// livechat-server: livechat::server::hub behind websocketpp on one Asio
// thread. This file only wires things together; the protocol lives in the
// library (include/livechat/server/hub.hpp; its Transport over websocketpp in
// livechat/websocketpp/server_transport.hpp), the endpoint's config in
// server_config.hpp and its HTTP side in websocket_http.hpp, the HTTP
// router, static files, webhook, REST and metrics in http/.
// Every log line, websocketpp's included, goes through one sink
// (log/sink.hpp): levels, key=value fields, a rate limit per event.

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#ifdef LIVECHAT_SERVER_WITH_JWT
#include <livechat/protocol/line_signature.hpp>
#endif
#include <livechat/clock.hpp>
#include <livechat/server/hub.hpp>

#include "accept_loop.hpp"
#include "handshake.hpp"
#include "heap_trim.hpp"
#ifdef LIVECHAT_SERVER_WITH_REDIS
#include "cluster.hpp"
#endif
#include "http/api_routes.hpp"
#ifdef LIVECHAT_SERVER_WITH_JWT
#include "http/attachments.hpp"
#endif
#include "http/json_errors.hpp"
#include "http/router.hpp"
#include "http/static_files.hpp"
#ifdef LIVECHAT_SERVER_WITH_LINE_PUSH
#include "line/push_queue.hpp"
#endif
#include "line/inbound.hpp"
#include "log/sink.hpp"
#include "log/websocketpp_logger.hpp"
#include "options.hpp"
#include "server_config.hpp"
#include "startup.hpp"
#include "web_roots.hpp"
#include "websocket_http.hpp"

namespace {

using namespace std::chrono_literals;

constexpr const char* websocket_path = "/api/v1/ws/live-chat";
constexpr auto tick_interval = 100ms;  // hub timers and presence coalescing
// Closes the server starts: 2 s for the client's close frame, then up to
// 2 s of lingering (lingering_socket.hpp); shutdown waits for both.
constexpr long close_handshake_timeout_ms = 2000;
constexpr auto linger_timeout = 2s;
constexpr auto drain_timeout = 4s + 500ms;  // how long shutdown waits for closes to finish

namespace logging = livechat_server::logging;
using livechat_server::guarded;
using livechat_server::log_handler_error;

}  // namespace

int main(int argc, char** argv) {
  auto parsed = livechat_server::parse_options(argc, argv);
  if (parsed.exit_code) {
    (*parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message << std::flush;
    return *parsed.exit_code;
  }
  const livechat_server::options& opts = parsed.opts;
  logging::sink log(opts.log_level);
  livechat_server::handler_log() = &log;

  std::unique_ptr<livechat::authenticator> auth;
  try {
    auth = livechat_server::make_authenticator(opts);
  } catch (const std::exception& e) {  // e.g. an unusable JWT secret
    log.error("startup_failed", {{"msg", e.what()}});
    return 2;
  }
  if (!auth) {
    log.error("startup_failed", {{"msg", "this build has no JWT support (OpenSSL was not found)"}});
    return 2;
  }
#ifndef LIVECHAT_SERVER_WITH_JWT
  // The webhook signature is HMAC-SHA256, from libcrypto like JWT. Running
  // without checking a secret the operator asked for would accept forged
  // messages, so refuse to start.
  if (!opts.line_channel_secret.empty()) {
    log.error("startup_failed",
              {{"msg", "this build cannot check --line-channel-secret (OpenSSL was not found)"}});
    return 2;
  }
#endif
  // Unsigned webhooks are fine on a developer's loopback; anywhere else
  // anyone who can reach the port could post as any LINE user.
  const bool loopback = opts.host == "127.0.0.1" || opts.host == "localhost" || opts.host == "::1";
  if (opts.line_channel_secret.empty() && !loopback)
    log.warn("unsigned_webhook",
             {{"msg", "no --line-channel-secret; POST /api/v1/webhook accepts unsigned requests"}});

  int store_exit = 0;
  auto opened = livechat_server::open_store(opts, log, store_exit);
  if (!opened) return store_exit;
  const std::unique_ptr<livechat::message_store> owned_store = std::move(opened->store);
  const std::function<std::string()> store_last_error = std::move(opened->last_error);
  std::function<livechat_server::store_waits()> store_waits = std::move(opened->waits);
  livechat::message_store& store = *owned_store;

  try {
    asio::io_context io;
    livechat_server::ws_server endpoint;
    livechat_server::websocket_transport transport(endpoint);
    livechat::default_clock clock;
    livechat::server::hub_config hub_cfg = opts.hub;  // the limits from the command line
    // Group the store writes of one event-loop turn into one commit: the
    // hub asks for a commit at the first write, and the posted handler runs
    // after the handlers already queued (the rest of this turn's frames).
    // The memory store has nothing to commit, so there it would only hold
    // every send back to the end of the turn: by default each event's
    // frames leave at once instead (about 10 % less CPU per delivery in 50
    // rooms of 20, bench/README.md). Either way nothing leaves before it is
    // stored.
    hub_cfg.group_commit =
        opts.group_commit.value_or(opts.store != livechat_server::store_kind::memory);
    livechat::server::hub<livechat_server::websocket_transport> hub(transport, clock, store, *auth,
                                                                    hub_cfg);
    livechat_server::server_metrics metrics;
    metrics.set_store_waits(std::move(store_waits));
    hub.set_commit_request([&] {
      asio::post(io, [&] { guarded("commit", [&] { livechat_server::timed_commit(hub, metrics); }); });
    });
    // A store failure is its own kind of line, with the store's reason, so
    // an outage (every write failing) is rate-limited apart from other
    // errors and says what the database answered.
    const std::string store_failure_text = livechat::make_error_code(livechat::errc::store_failure).message();
    auto is_store_failure = [&store_failure_text](std::string_view what) {
      return what.find(store_failure_text) != std::string_view::npos ||
             what.rfind("message store", 0) == 0;
    };
    hub.set_error_handler([&](std::string_view what) {
      if (is_store_failure(what))
        log.error("store_error", {{"msg", what}, {"reason", store_last_error()}});
      else
        log.error("hub_error", {{"msg", what}});
    });

    // --- cluster: the broker, and health of what the nodes share ----------
    // The store is probed once a second when it is one several servers
    // share (a database that can be down while this process is up).
#ifdef LIVECHAT_SERVER_WITH_REDIS
    livechat_server::store_probe probe;
    std::unique_ptr<livechat_server::cluster_member<decltype(hub), livechat::default_clock>> cluster;
    if (!opts.broker_url.empty()) {
      std::string why;
      auto redis = livechat::redis::parse_redis_url(opts.broker_url, why);
      if (!redis) {
        log.error("startup_failed", {{"msg", "bad --broker"}, {"reason", why}});
        return 2;
      }
      livechat::cluster::node_options no;
      no.node_id = opts.node_id.empty() ? livechat_server::random_node_id() : opts.node_id;
      no.presence_ttl = opts.presence_ttl;
      no.typing_timeout = hub_cfg.typing_timeout;
      log.info("cluster_node", {{"node", no.node_id}, {"broker", opts.broker_url}});
      cluster = std::make_unique<livechat_server::cluster_member<decltype(hub), livechat::default_clock>>(
          io, hub, store, clock, *redis, std::move(no),
          [&log](std::string_view event, std::string_view detail) {
            if (event == "broker_up")
              log.info(event, {});
            else
              log.warn(event, {{"msg", detail}});
          });
      cluster->start();
    }
    const bool probe_store = opts.store == livechat_server::store_kind::postgresql;
    metrics.set_extra([&](std::string& out) {
      if (probe_store) probe.render(out);
      if (cluster) cluster->render(out);
    });
#else
    if (!opts.broker_url.empty()) {
      log.error("startup_failed", {{"msg", "this build has no Redis support (hiredis was not found)"}});
      return 2;
    }
#endif

#ifdef LIVECHAT_SERVER_WITH_JWT
    // Signs attachment urls: the downloads below, and files pushed to LINE.
    const livechat_server::attachment_url_signer url_signer(
        opts.attachment_url_secret.empty() ? livechat_server::attachment_url_signer::random_secret()
                                           : opts.attachment_url_secret);
#endif

    // --- outbound: operators' replies back to the end user ----------------
    // Declared after io, so it is destroyed first (its handlers hold only
    // weak references). Without a token the reply is logged instead (its
    // length only: message text is not written to logs).
#ifdef LIVECHAT_SERVER_WITH_LINE_PUSH
    std::unique_ptr<livechat_server::line_push_client> line_push;
    if (!opts.line_channel_token.empty()) {
      try {
        livechat_server::line_push_options push_opts;
        push_opts.channel_token = opts.line_channel_token;
        push_opts.api_base = opts.line_api_base;
        push_opts.log = [&log](std::string_view line) { log.warn("line_push", {{"msg", line}}); };
#ifdef LIVECHAT_SERVER_WITH_JWT
        push_opts.public_url = opts.public_url;
        push_opts.sign_url = [&url_signer, &clock](const std::string& id) {
          return url_signer.sign(id, clock.system_now(), livechat_server::line::pushed_url_lifetime);
        };
#endif
        line_push = std::make_unique<livechat_server::line_push_client>(io, std::move(push_opts));
      } catch (const std::invalid_argument& e) {
        log.error("startup_failed", {{"msg", e.what()}});
        return 2;
      }
      hub.set_outbound_handler([&](const livechat::message& m) { line_push->push(m); });
    }
#else
    if (!opts.line_channel_token.empty()) {
      log.error("startup_failed", {{"msg", "this build cannot push to LINE (libcurl was not found)"}});
      return 2;
    }
#endif
    // One line per operator message, forever, on a server without a token:
    // info, so it shows by default, and rate-limited like every kind.
    if (opts.line_channel_token.empty())
      hub.set_outbound_handler([&log](const livechat::message& m) {
        log.info("outbound_not_pushed", {{"reason", "no --line-channel-token"},
                                         {"room", m.room},
                                         {"seq", m.seq},
                                         {"from", m.sender.id},
                                         {"bytes", m.text.size()}});
      });

    // --- websocketpp endpoint -------------------------------------------
    // Both logs go to the sink (stderr), so stdout carries only the
    // "listening" line. Only the channels the sink would write are enabled
    // (log/websocketpp_logger.hpp): at the default level, errors from
    // rerror up; websocketpp's warnings, about peer behaviour, at debug.
    endpoint.get_alog().set_sink(&log);
    endpoint.get_elog().set_sink(&log);
    endpoint.clear_access_channels(websocketpp::log::alevel::all);
    endpoint.clear_error_channels(websocketpp::log::elevel::all);
    endpoint.set_access_channels(logging::alog_channels(opts.log_level));
    endpoint.set_error_channels(logging::elog_channels(opts.log_level));

    endpoint.set_user_agent("livechat-server/" LIVECHAT_VERSION_STRING);
    endpoint.init_asio(&io);
    endpoint.set_reuse_addr(true);
    // Explicit, not left to the config defaults (websocketpp ships 32 MB).
    endpoint.set_max_message_size(64 * 1024);
    // An upload may be larger than the 1 MiB of every other route (the
    // router holds those to 1 MiB): websocketpp refuses beyond the largest.
    endpoint.set_max_http_body_size(
        std::max(livechat_server::max_http_body, opts.max_attachment_bytes));

    endpoint.set_close_handshake_timeout(close_handshake_timeout_ms);

    // Every accepted socket counts against its address until its
    // descriptor is closed, and ends through the lingering closer.
    auto addresses = std::make_shared<livechat_server::address_counter>(opts.max_connections_per_ip);
    livechat_server::lingering_closer::limits linger_limits;
    linger_limits.deadline = linger_timeout;
    linger_limits.max_sockets = livechat_server::max_lingering_sockets();
    auto closer = std::make_shared<livechat_server::lingering_closer>(linger_limits);
    auto http_budget =
        std::make_shared<livechat_server::http_response_budget>(opts.max_http_response_bytes);
    livechat_server::accept_loop<livechat_server::ws_server> acceptor(
        io, endpoint, addresses, closer, opts.proxies,
        [&log](const std::string& line) { log.warn("accept", {{"msg", line}}); });
    // A connection from a trusted proxy counts against the client it names
    // once its request is read. A header we cannot read means the proxy is
    // misconfigured (or something else stands in front of it): the proxy's
    // own address is used, and the operator hears of it (rate-limited, as
    // every kind; never the header itself).
    auto settle_client = [&](const livechat_server::ws_server::connection_ptr& con) {
      auto client = livechat_server::settle_client_address(con, addresses, opts.proxies);
      if (!client.malformed.empty())
        log.warn("forwarded_for_ignored", {{"peer", con->peer_address()},
                                           {"reason", client.malformed},
                                           {"msg", "X-Forwarded-For from a trusted proxy could not "
                                                   "be read; counting the proxy's address"}});
      return client;
    };

    // The handshake policy (handshake.hpp): path, shutdown, Origin, caps.
    bool shutting_down = false;
    const livechat_server::handshake_policy<decltype(hub), livechat::default_clock> handshake(
        websocket_path, opts, log, metrics, *auth, clock, hub, shutting_down);
    auto on_validate = [&](websocketpp::connection_hdl hdl) {
      bool accept = false;
      guarded("validate", [&] {
        auto con = endpoint.get_con_from_hdl(hdl);
        accept = handshake(con, settle_client(con));
      });
      return accept;
    };
    endpoint.set_validate_handler(livechat_server::shared_handler(on_validate));

    livechat_server::heap_trimmer heap;  // the tick trims after a burst of connects
    auto on_open = [&](websocketpp::connection_hdl hdl) {
      guarded("open", [&] {
        auto con = endpoint.get_con_from_hdl(hdl);
        if (shutting_down) {  // validated just before the signal: close it like the others
          websocketpp::lib::error_code ignored;
          con->close(livechat::close_code::going_away, "server shutting down", ignored);
          return;
        }
        livechat_server::release_handshake(*con);
        heap.note_churn();
        hub.on_open(transport.add(con));
      });
    };
    endpoint.set_open_handler(livechat_server::shared_handler(on_open));

    auto on_message = [&](websocketpp::connection_hdl hdl,
                          livechat_server::ws_server::message_ptr msg) {
      guarded("message", [&] {
        const auto id = endpoint.get_con_from_hdl(hdl)->livechat_id;
        if (id == 0) return;
        if (msg->get_opcode() == websocketpp::frame::opcode::text)
          hub.on_message(id, msg->get_payload());
        else
          hub.on_binary(id);
      });
    };
    endpoint.set_message_handler(livechat_server::shared_handler(on_message));

    // websocketpp answers every ping with a pong on its own, outside the
    // hub's rate limit and unsent-bytes mark: a client that floods pings
    // and never reads would make the server queue pongs without end. A
    // pong is only a liveness hint, so none is queued while this many bytes
    // already wait for the client (a reading client is far below it).
    constexpr std::size_t pong_backlog_limit = 64 * 1024;
    auto on_ping = [&](websocketpp::connection_hdl hdl, std::string) {
      bool answer = false;
      guarded("ping", [&] {
        auto con = endpoint.get_con_from_hdl(hdl);
        answer = con->get_buffered_amount() < pong_backlog_limit;
      });
      return answer;
    };
    endpoint.set_ping_handler(livechat_server::shared_handler(on_ping));

    // close: the connection was open; fail: it never got that far. Either
    // way the hub forgets it, its address slot is freed, and during
    // shutdown the last one ends the run.
    auto on_gone = [&](websocketpp::connection_hdl hdl) {
      guarded("close", [&] {
        auto con = endpoint.get_con_from_hdl(hdl);
        if (const auto id = transport.remove(con); id != 0) {
          heap.note_churn();
          hub.on_close(id);
        }
        if (shutting_down && transport.size() == 0 && closer->size() == 0) io.stop();
      });
    };
    endpoint.set_close_handler(livechat_server::shared_handler(on_gone));
    endpoint.set_fail_handler(livechat_server::shared_handler(on_gone));

    // --- HTTP ------------------------------------------------------------
    livechat_server::http_router router;
    router.add("GET", "/healthz", [&](const livechat_server::http_request&) {
#ifdef LIVECHAT_SERVER_WITH_REDIS
      // 503 names each shared part that is down, so a load balancer takes
      // this node out and an operator sees why.
      std::string failing;
      if (probe_store && !probe.ok()) failing += R"("store")";
      if (cluster && !cluster->broker_up()) failing += std::string(failing.empty() ? "" : ",") + R"("broker")";
      if (!failing.empty())
        return livechat_server::json_response(503, R"({"status":"unavailable","failing":[)" + failing + "]}");
#endif
      return livechat_server::json_response(200, R"({"status":"ok"})");
    });
    router.add("GET", websocket_path, [](const livechat_server::http_request&) {
      auto r = livechat_server::json_error(426, "this path speaks WebSocket only");
      r.headers.emplace_back("Upgrade", "websocket");
      return r;
    });
    livechat_server::api_options api_opts;
#ifdef LIVECHAT_SERVER_WITH_JWT
    if (!opts.line_channel_secret.empty())
      api_opts.verify_line_signature = [secret = opts.line_channel_secret](std::string_view body,
                                                                          std::string_view sig) {
        return livechat::line_signature_valid(secret, body, sig);
      };
#endif
    store.set_max_attachment_bytes(opts.max_attachment_bytes);
    // Upload bodies and LINE downloads share one bound on the memory they hold.
    const auto upload_memory = std::make_shared<livechat_server::byte_budget>(
        opts.max_upload_memory_bytes != 0 ? opts.max_upload_memory_bytes
                                           : 4 * opts.max_attachment_bytes);
    livechat_server::checked_request::upload_memory = upload_memory;
#ifdef LIVECHAT_SERVER_WITH_LINE_PUSH
    // Customers' files and profiles from LINE (line/inbound.hpp).
    const auto line_in = livechat_server::start_line_inbound(io, opts, hub, store, log,
                                                             upload_memory, api_opts);
#endif
    livechat_server::resume_pending_fetches(hub, store, log, api_opts, store_last_error);
    livechat_server::api_routes<decltype(hub)> api(
        hub, store, *auth, clock, metrics, std::move(api_opts),
        [&](std::string_view line) {
          if (is_store_failure(line))
            log.error("store_error", {{"msg", line}, {"reason", store_last_error()}});
          else
            log.warn("api", {{"msg", line}});
        });
    api.install(router);
#ifdef LIVECHAT_SERVER_WITH_JWT
    // --- attachments: uploads, and downloads by signed url or Bearer ------
    hub.set_attachment_url_signer([&url_signer, &clock](const livechat::file_attachment& f) {
      return url_signer.sign(f.id, clock.system_now());
    });
    using attachment_routes = livechat_server::attachment_routes<decltype(hub)>;
    attachment_routes attachments(hub, store, *auth, clock, url_signer, opts.max_attachment_bytes,
                                  [&log](std::string_view line) { log.warn("api", {{"msg", line}}); });
    router.add("POST", std::string(attachment_routes::upload_path),
               [&](const livechat_server::http_request& r) { return attachments.upload(r); }, {},
               opts.max_attachment_bytes);
    router.add_prefix("GET", std::string(livechat_server::attachment_url_signer::path_prefix),
                      [&](const livechat_server::http_request& r) { return attachments.download(r); },
                      attachment_routes::download_label);
#endif
    const auto roots = livechat_server::default_web_roots();
    const std::string web_root = opts.web_root.empty() ? roots.web : opts.web_root;
    const std::string client_root = opts.client_root.empty() ? roots.client : opts.client_root;
    livechat_server::console_files files(web_root, client_root);
    if (!files.web_available())
      log.warn("web_root_missing", {{"path", web_root},
                                    {"msg", "not a directory; the console will answer 404"}});
    if (!files.client_available())
      log.warn("client_root_missing", {{"path", client_root},
                                       {"msg", "not a directory; /livechat/ will answer 404"}});
    router.set_fallback(files);

    auto on_http = [&](websocketpp::connection_hdl hdl) {
      guarded("http", [&] {
        auto con = endpoint.get_con_from_hdl(hdl);
        settle_client(con);
        if (livechat_server::refuse_http(con, opts.max_connections_per_ip)) return;
        try {
          livechat_server::answer_http(con, router, http_budget);
        } catch (const std::exception& e) {
          log_handler_error("http route", e.what());
          livechat_server::answer_internal_error(con);
        }
      });
    };
    endpoint.set_http_handler(livechat_server::shared_handler(on_http));

    // --- timers and signals ------------------------------------------------
    // Set up before the "listening" line: a script may send SIGTERM as soon
    // as it reads it, and asio::signal_set holds a signal until run().
    asio::steady_timer tick_timer(io);
    [[maybe_unused]] unsigned probe_ticks = 0;
    std::function<void()> schedule_tick = [&] {
      // Fixed-rate, but never a burst of catch-up ticks after a stall.
      const auto now = std::chrono::steady_clock::now();
      auto next = tick_timer.expiry() + tick_interval;
      if (next < now) next = now + tick_interval;
      tick_timer.expires_at(next);
      tick_timer.async_wait([&](const asio::error_code& e) {
        if (e) return;  // cancelled by shutdown
        guarded("tick", [&] { hub.tick(clock.now()); });
#ifdef LIVECHAT_SERVER_WITH_REDIS
        guarded("cluster tick", [&] {
          if (cluster) cluster->tick();
          if (probe_store && ++probe_ticks % 10 == 0)
            metrics.outside_turns([&] { probe.run(store); });
        });
#endif
        log.flush_suppressed();  // the summary of a flood that has stopped
        if (const auto took = heap.tick(std::chrono::steady_clock::now()); took.count() != 0)
          log.debug("heap_trimmed",
                    {{"us", std::chrono::duration_cast<std::chrono::microseconds>(took).count()},
                     {"connections", transport.size()}});
        schedule_tick();
      });
    };
    tick_timer.expires_at(std::chrono::steady_clock::now());
    schedule_tick();

    int exit_code = 0;
    asio::steady_timer drain_timer(io);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    std::function<void(const asio::error_code&, int)> on_signal = [&](const asio::error_code& e,
                                                                      int signo) {
      if (e) return;
      if (shutting_down) {  // second signal: the operator wants out now
        exit_code = 128 + signo;
        io.stop();
        return;
      }
      shutting_down = true;
      guarded("shutdown", [&] {
        // websocketpp 0.8.2 logs the accept that stop_listening cancels as
        // a recoverable error (it compares against the wrong error code);
        // nothing said at that level during the drain would be actionable.
        endpoint.clear_error_channels(websocketpp::log::elevel::rerror);
        acceptor.stop();
        tick_timer.cancel();
#ifdef LIVECHAT_SERVER_WITH_REDIS
        if (cluster) cluster->leave();  // the other nodes drop our users now, not at the lease's end
#endif
        hub.shutdown();  // 1001 to every client through transport.close
        if (transport.size() == 0 && closer->size() == 0) io.stop();
      });
      drain_timer.expires_after(drain_timeout);
      drain_timer.async_wait([&](const asio::error_code& te) {
        if (!te) io.stop();  // clients that never answered the close
      });
      signals.async_wait(on_signal);
    };
    signals.async_wait(on_signal);

    // --- listen ----------------------------------------------------------
    asio::error_code aec;
    asio::ip::tcp::resolver resolver(io);
    auto resolved = resolver.resolve(opts.host, std::to_string(opts.port), aec);
    if (aec || resolved.empty()) {
      log.error("startup_failed", {{"msg", "cannot resolve --host"},
                                   {"host", opts.host},
                                   {"reason", aec ? aec.message() : std::string("no address")}});
      return 1;
    }
    if (!acceptor.listen(resolved.begin()->endpoint(), aec)) {
      log.error("startup_failed", {{"msg", "cannot listen"},
                                   {"host", opts.host},
                                   {"port", opts.port},
                                   {"reason", aec.message()}});
      return 1;
    }
    acceptor.start();
    closer->set_drained_handler([&] {
      if (shutting_down && transport.size() == 0) io.stop();
    });
    const auto bound = acceptor.local_endpoint(aec);
    const bool v6 = opts.host.find(':') != std::string::npos;
    std::cout << "livechat-server listening on http://" << (v6 ? "[" : "") << opts.host
              << (v6 ? "]" : "") << ':' << (aec ? opts.port : bound.port()) << std::endl;

    // A handler that throws past its guard unwinds out of run(); log it and
    // keep serving: the other connections did nothing wrong.
    for (;;) {
      try {
        io.run();
        break;
      } catch (const std::exception& e) {
        log_handler_error("event loop", e.what());
      } catch (...) {
        log_handler_error("event loop", "unknown exception");
      }
    }

    if (auto r = store.flush(); !r) log.error("store_flush_failed", {{"reason", r.error().message()}});
#ifdef LIVECHAT_SERVER_WITH_REDIS
    if (cluster) cluster->stop();
#endif
    return exit_code;
  } catch (const std::exception& e) {
    log.error("fatal", {{"what", e.what()}});
    return 1;
  }
}
