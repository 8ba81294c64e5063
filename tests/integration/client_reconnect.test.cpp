// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: 200 client sessions in this process (one Asio thread, the
// library's websocketpp client transport) reconnecting after the server is
// SIGKILLed and restarted on the same port. With jittered backoff their
// attempts spread out; without it they arrive in lockstep. Measured as the
// peak number of connect attempts in any 100 ms.
//
// A client's attempt time is when its backoff delay ends (the session's
// next_attempt_at() as it starts waiting), counted from the moment that
// client noticed the crash. Here one thread runs all 200 clients: it handles
// their 200 dead connections, and later opens their 200 sockets, one after
// the other, which under ASan smears a lockstep round over 100 ms or more.
// 200 real clients on 200 machines notice a crash and connect without
// waiting for each other, so that smear is taken out. The moments
// transport.connect() actually ran are measured too and printed.
//
// This is the one client test file that compiles websocketpp.
#include "server_process.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <livechat/client/session.hpp>
#include <livechat/websocketpp/client_transport.hpp>
#include <livechat/websocketpp/periodic_timer.hpp>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_client_reconnect {

using namespace livechat_itest;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;
namespace lc = livechat::client;

/// The example transport, recording the time of every connect attempt.
class recording_transport {
 public:
  recording_transport(livechat::wspp::client_transport::endpoint_type& endpoint, std::string uri, std::mutex& mu,
                      std::vector<steady::time_point>& log)
      : inner_(endpoint, std::move(uri)), mu_(mu), log_(log) {}

  void connect() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      log_.push_back(steady::now());
    }
    inner_.connect();
  }
  void send(std::string frame) { inner_.send(std::move(frame)); }
  void close(std::uint16_t code, std::string_view reason) { inner_.close(code, reason); }

  livechat::wspp::client_transport& inner() { return inner_; }

 private:
  livechat::wspp::client_transport inner_;
  std::mutex& mu_;
  std::vector<steady::time_point>& log_;
};

static_assert(lc::is_client_transport_v<livechat::wspp::client_transport>,
              "the example transport must meet the client Transport requirements");

using session_type = lc::session<recording_transport>;

/// N sessions on one endpoint and one Asio thread. Every session call runs
/// on that thread; the test thread talks to it through on_io().
class fleet {
 public:
  fleet(std::uint16_t port, int n, bool jitter) : work_(asio::make_work_guard(io_)) {
    livechat::wspp::init_client_endpoint(endpoint_, io_, "livechat-reconnect-test");
    const std::string uri = "ws://127.0.0.1:" + std::to_string(port) + "/api/v1/ws/live-chat";
    for (int i = 0; i < n; ++i) {
      char user[16];
      std::snprintf(user, sizeof user, "u%03d", i);  // distinct users: the per-user cap is not under test
      transports_.push_back(std::make_unique<recording_transport>(endpoint_, uri, mu_, attempts_));
      lc::session_settings s;
      s.token = user;
      s.backoff.jitter = jitter;
      // Bounds 0.5, 1, 2, 4 s as by default, then 4 s instead of 8, 16, 20:
      // a client unlucky enough to be refused five times before the server
      // is back still returns within the test's time.
      s.backoff.cap = 4s;
      sessions_.push_back(std::make_unique<session_type>(*transports_.back(), std::move(s)));
      session_type* session = sessions_.back().get();
      transports_.back()->inner().bind(*session);
      const std::size_t index = sessions_.size() - 1;
      noticed_.emplace_back();
      session->set_on_state_change([this, session, index](lc::state from, lc::state to) {
        if (to != lc::state::reconnecting) return;
        std::lock_guard<std::mutex> lk(mu_);
        if (from == lc::state::connected) noticed_[index] = steady::now();  // the connection was lost
        if (auto at = session->next_attempt_at()) scheduled_.push_back({index, *at});
      });
    }
    // Finer than the CLI's 100 ms so the measured spread is the backoff's,
    // not the timer's.
    ticker_ = std::make_unique<livechat::wspp::periodic_timer>(io_, 20ms, [this] {
      const auto now = steady::now();
      for (auto& s : sessions_) s->tick(now);
    });
    thread_ = std::thread([this] {
      for (int i = 0; i < 100; ++i) {
        try {
          io_.run();
          return;
        } catch (...) {
        }
      }
    });
  }

  fleet(const fleet&) = delete;
  fleet& operator=(const fleet&) = delete;

  ~fleet() {
    try {
      on_io([this] {
        ticker_->cancel();
        for (auto& s : sessions_) s->stop();
        return 0;
      });
    } catch (...) {
    }
    // Lets run() return once the close handshakes are done; bounded.
    work_.reset();
    for (int i = 0; i < 300 && !io_.stopped(); ++i) std::this_thread::sleep_for(10ms);
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  /// Runs `f` on the Asio thread and returns its result.
  template <class F>
  auto on_io(F f) -> decltype(f()) {
    auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
    auto result = task->get_future();
    asio::post(io_, [task] { (*task)(); });
    if (result.wait_for(10s) != std::future_status::ready) throw std::runtime_error("the Asio thread is stuck");
    return result.get();
  }

  void start() {
    on_io([this] {
      for (auto& s : sessions_) s->start();
      return 0;
    });
  }

  std::size_t connected() {
    return on_io([this] {
      std::size_t n = 0;
      for (auto& s : sessions_) n += s->current_state() == lc::state::connected ? 1u : 0u;
      return n;
    });
  }

  /// Polls until all sessions are connected; false after `timeout`.
  bool wait_all_connected(std::chrono::milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    for (int i = 0; i < 10000 && steady::now() < deadline; ++i) {
      if (connected() == sessions_.size()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return connected() == sessions_.size();
  }

  void clear_attempts() {
    std::lock_guard<std::mutex> lk(mu_);
    attempts_.clear();
    scheduled_.clear();
    for (auto& n : noticed_) n.reset();
  }

  /// When transport.connect() was called.
  std::vector<steady::time_point> attempts() {
    std::lock_guard<std::mutex> lk(mu_);
    return attempts_;
  }

  /// When each reconnect attempt was due (the end of its backoff delay),
  /// counted from when its client noticed the loss, moved to `origin`.
  std::vector<steady::time_point> scheduled(steady::time_point origin) {
    std::lock_guard<std::mutex> lk(mu_);
    std::vector<steady::time_point> out;
    for (const auto& [index, at] : scheduled_)
      if (noticed_[index]) out.push_back(origin + (at - *noticed_[index]));
    return out;
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  livechat::wspp::client_transport::endpoint_type endpoint_;
  std::mutex mu_;
  std::vector<steady::time_point> attempts_;
  std::vector<std::pair<std::size_t, steady::time_point>> scheduled_;  // session, due
  std::vector<std::optional<steady::time_point>> noticed_;             // by session
  std::vector<std::unique_ptr<recording_transport>> transports_;
  std::vector<std::unique_ptr<session_type>> sessions_;
  std::unique_ptr<livechat::wspp::periodic_timer> ticker_;
  std::thread thread_;
};

/// How a set of attempt times, relative to the kill, bunches up.
struct spread {
  std::size_t attempts = 0;
  std::size_t peak_bucket = 0;  ///< most attempts in one 100 ms bucket counted from the kill
  std::size_t peak_window = 0;  ///< most attempts in any 100 ms window
};

spread spread_of(const std::vector<steady::time_point>& times, steady::time_point origin) {
  std::vector<long> ms;
  for (const auto& t : times) ms.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(t - origin).count());
  std::sort(ms.begin(), ms.end());
  spread r;
  r.attempts = ms.size();
  std::vector<std::size_t> buckets;
  for (long m : ms) {
    const auto b = static_cast<std::size_t>(std::max(0L, m) / 100);
    if (buckets.size() <= b) buckets.resize(b + 1, 0);
    ++buckets[b];
  }
  for (auto c : buckets) r.peak_bucket = std::max(r.peak_bucket, c);
  for (std::size_t i = 0, j = 0; i < ms.size(); ++i) {  // two pointers over [ms[i], ms[i] + 100)
    while (j < ms.size() && ms[j] < ms[i] + 100) ++j;
    r.peak_window = std::max(r.peak_window, j - i);
  }
  return r;
}

struct storm_result {
  spread due;     ///< attempt times: the end of each backoff delay
  spread called;  ///< the moments transport.connect() ran
  long all_back_ms = 0;  ///< from the kill until every session was connected again
  bool all_back = false;
};

std::string fmt(const storm_result& r) {
  return "peak " + std::to_string(r.due.peak_bucket) + " attempts per 100 ms bucket (" +
         std::to_string(r.due.peak_window) + " in the busiest 100 ms window; connect() calls: " +
         std::to_string(r.called.peak_bucket) + " / " + std::to_string(r.called.peak_window) + "), " +
         std::to_string(r.due.attempts) + " attempts, all back after " + std::to_string(r.all_back_ms) + " ms";
}

storm_result reconnect_storm(int clients, bool jitter) {
  const std::vector<std::string> args = {"--max-connections-per-ip", "0"};
  auto server = std::make_unique<ServerProcess>(args);
  const std::uint16_t port = server->port();

  fleet f(port, clients, jitter);
  f.start();
  INFO((jitter ? "with jitter" : "without jitter"));
  REQUIRE(f.wait_all_connected(20000ms));

  f.clear_attempts();
  const auto killed_at = steady::now();
  REQUIRE(server->signal(SIGKILL));
  REQUIRE(server->wait_exit(5000ms).has_value());
  std::this_thread::sleep_for(1000ms - (steady::now() - killed_at));
  std::vector<std::string> again = args;
  again.push_back("--port");
  again.push_back(std::to_string(port));
  server = std::make_unique<ServerProcess>(again);

  storm_result r;
  r.all_back = f.wait_all_connected(20000ms);
  r.all_back_ms = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - killed_at).count();

  r.due = spread_of(f.scheduled(killed_at), killed_at);
  r.called = spread_of(f.attempts(), killed_at);
  return r;
}

}  // namespace

TEST_CASE("200 clients reconnecting after a server restart spread their attempts with jitter",
          "[integration][client][reconnect]") {
  constexpr int kClients = 200;
  const storm_result jittered = reconnect_storm(kClients, true);
  const storm_result lockstep = reconnect_storm(kClients, false);
  WARN("reconnect storm, " << kClients << " clients, server SIGKILLed and back after 1 s: with jitter "
                           << fmt(jittered) << "; without jitter " << fmt(lockstep));
  CHECK(jittered.all_back);
  CHECK(lockstep.all_back);
  CHECK(jittered.due.attempts >= static_cast<std::size_t>(kClients));
  CHECK(lockstep.due.attempts >= static_cast<std::size_t>(kClients));
  CHECK(jittered.called.attempts >= static_cast<std::size_t>(kClients));
  CHECK(lockstep.called.attempts >= static_cast<std::size_t>(kClients));
  // Lockstep: the clients retry together.
  CHECK(lockstep.due.peak_window >= static_cast<std::size_t>(kClients) * 9 / 10);
  // Full jitter spreads them: the busiest 100 ms holds at most 60 % of that.
  CHECK(static_cast<double>(jittered.due.peak_window) <= 0.6 * static_cast<double>(lockstep.due.peak_window));
  CHECK(static_cast<double>(jittered.due.peak_bucket) <= 0.6 * static_cast<double>(lockstep.due.peak_bucket));
}

}  // namespace livechat_itest_client_reconnect
