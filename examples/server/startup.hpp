// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_STARTUP_HPP
#define LIVECHAT_EXAMPLES_SERVER_STARTUP_HPP

// What main() builds before the event loop from the command line: the
// authenticator, the store (with its own account of its last failure), and
// the guard every websocketpp handler runs in. Each failure is one
// `startup_failed` line and the exit code main() returns.

#include <algorithm>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <sys/resource.h>

#include <sqlite3.h>

#include <livechat/auth/dev_authenticator.hpp>
#ifdef LIVECHAT_SERVER_WITH_JWT
#include <livechat/auth/jwt_authenticator.hpp>
#endif
#include <livechat/store/memory_store.hpp>
#include <livechat/store/sqlite_store.hpp>
#ifdef LIVECHAT_SERVER_WITH_POSTGRESQL
#include <livechat/store/postgresql_store.hpp>
#endif

#include "http/metrics.hpp"
#include "log/sink.hpp"
#include "options.hpp"

namespace livechat_server {

/// The sink of handler_guard's lines: set once in main() before anything
/// can log (handlers run on the one loop thread).
inline logging::sink*& handler_log() noexcept {
  static logging::sink* log = nullptr;
  return log;
}

inline void log_handler_error(const char* where, const char* what) noexcept {
  if (handler_log() != nullptr)
    handler_log()->error("handler_exception", {{"where", where}, {"what", what}});
}

/// websocketpp calls handlers from deep inside its read loop; an exception
/// escaping one would unwind through io_context::run and stop the server.
/// Only the exception text is logged: never tokens or message bodies.
template <class F>
void guarded(const char* where, F&& f) noexcept {
  try {
    f();
  } catch (const std::exception& e) {
    log_handler_error(where, e.what());
  } catch (...) {
    log_handler_error(where, "unknown exception");
  }
}

/// The authenticator `--auth` names; nullptr when this build lacks it.
/// Throws for an unusable JWT secret.
inline std::unique_ptr<livechat::authenticator> make_authenticator(const options& o) {
  if (o.auth == auth_mode::dev) return std::make_unique<livechat::dev_authenticator>();
#ifdef LIVECHAT_SERVER_WITH_JWT
  livechat::jwt_options jwt;
  jwt.secret = o.jwt_secret;
  jwt.issuer = o.jwt_issuer;
  jwt.audience = o.jwt_audience;
  return std::make_unique<livechat::jwt_authenticator>(std::move(jwt));
#else
  return nullptr;
#endif
}

/// The store `--store` names, opened.
struct opened_store {
  std::unique_ptr<livechat::message_store> store;
  /// The store's own account of its last failure (which statement, the
  /// database's message): the hub and the routes only see
  /// errc::store_failure, which tells an operator nothing.
  std::function<std::string()> last_error = [] { return std::string(); };
  /// A store with a network round trip (PostgreSQL): the round trips its
  /// write transactions made so far and the time the loop waited for them,
  /// for /metrics. Empty otherwise.
  std::function<store_waits()> waits;
};

namespace detail {

template <class Store, class = void>
struct has_wait_time : std::false_type {};
template <class Store>
struct has_wait_time<Store, std::void_t<decltype(std::declval<const Store&>().batch_wait_time())>>
    : std::true_type {};

/// Opens one of the SQL stores (both have `open(options, why)` and
/// `last_error()`); nullopt after logging why.
template <class Store, class StoreOptions>
std::optional<opened_store> open_sql_store(const StoreOptions& so, const char* what,
                                           logging::sink& log) {
  std::string why;  // the PostgreSQL store names the database and host, never the password
  auto opened = Store::open(so, why);
  if (!opened) {
    log.error("startup_failed", {{"msg", what}, {"reason", why}});
    return std::nullopt;
  }
  opened_store out;
  Store* s = opened.value().get();
  out.store = std::move(opened.value());
  out.last_error = [s] { return s->last_error(); };
  if constexpr (has_wait_time<Store>::value)
    out.waits = [s] { return store_waits{s->batch_round_trips(), s->batch_wait_time()}; };
  return out;
}

}  // namespace detail

/// The store, or the exit code after a `startup_failed` line: 1 when it
/// cannot be opened, 2 when this build cannot open that kind.
inline std::optional<opened_store> open_store(const options& o, logging::sink& log,
                                              int& exit_code) {
  exit_code = 1;
  if (o.store == store_kind::sqlite) {
    // This process owns SQLite: no memory statistics, so no global mutex
    // around each of its allocations (sqlite_store.hpp). It must come
    // before SQLite's first use, which the open below is; later it is
    // refused (SQLITE_MISUSE) and changes nothing.
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    livechat::sqlite_options so;
    so.path = o.sqlite_path;
    so.synchronous =
        o.sqlite_full_sync ? livechat::sqlite_synchronous::full : livechat::sqlite_synchronous::normal;
    return detail::open_sql_store<livechat::sqlite_store>(so, "cannot open the SQLite store", log);
  }
  if (o.store == store_kind::postgresql) {
#ifdef LIVECHAT_SERVER_WITH_POSTGRESQL
    livechat::postgresql_options po;
    po.conninfo = o.postgresql_uri;
    return detail::open_sql_store<livechat::postgresql_store>(po, "cannot open the PostgreSQL store",
                                                              log);
#else
    log.error("startup_failed",
              {{"msg", "this build has no PostgreSQL support (libpq was not found)"}});
    exit_code = 2;
    return std::nullopt;
#endif
  }
  opened_store out;
  out.store = std::make_unique<livechat::memory_store>();
  return out;
}

/// The `reason` of a handshake_refused line, as the metric labels it.
inline const char* refusal_name(server_metrics::handshake_refusal r) noexcept {
  using refusal = server_metrics::handshake_refusal;
  switch (r) {
    case refusal::origin: return "origin";
    case refusal::ip_cap: return "ip_cap";
    case refusal::user_cap: return "user_cap";
    case refusal::shutting_down: return "shutting_down";
  }
  return "other";
}

/// Sockets allowed to linger at once: each holds a descriptor, so at most
/// a quarter of the process's limit, and never more than 4096.
inline std::size_t max_lingering_sockets() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 4096;
  return std::clamp<std::size_t>(static_cast<std::size_t>(rl.rlim_cur) / 4, 8, 4096);
}

}  // namespace livechat_server

#endif
