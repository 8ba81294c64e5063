// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_REDIS_DETAIL_ASIO_ADAPTER_HPP
#define LIVECHAT_REDIS_DETAIL_ASIO_ADAPTER_HPP

// hiredis 0.14 ships event adapters for ae, glib, libev, libevent, libuv and
// qt, none for Asio: this is one. hiredis owns the socket; the adapter
// watches it with a stream_descriptor (wait_read / wait_write) and calls
// redisAsyncHandleRead/Write when it is ready. In `cleanup` (hiredis is
// freeing the context) the waits are cancelled and the descriptor is
// released, never closed: hiredis closes it. Pending handlers hold the
// adapter (shared_ptr), so a wait that completes after the context is gone
// finds `ac_ == nullptr` and does nothing.
//
// hiredis 0.14 writes with write(2), which raises SIGPIPE on a socket whose
// peer is gone (Redis killed while a command was on its way): the default
// action ends the process. Every hiredis write runs with SIGPIPE blocked on
// this thread and a SIGPIPE it raised is consumed, as libpq does; the write
// fails with EPIPE instead and hiredis disconnects as for any other error.

#include <signal.h>

#include <ctime>
#include <memory>

#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include <hiredis/async.h>

namespace livechat::redis::detail {

/// Blocks SIGPIPE on this thread for its lifetime; one raised meanwhile is
/// taken off the thread before unblocking. A thread that had SIGPIPE
/// blocked already keeps its mask and its pending signals as they are.
class sigpipe_guard {
 public:
  sigpipe_guard() noexcept {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0 && sigismember(&old_, SIGPIPE) == 0;
  }
  ~sigpipe_guard() {
    if (!blocked_) return;
    sigset_t pending;
    sigemptyset(&pending);
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
      const timespec zero{0, 0};
      (void)sigtimedwait(&pipe_, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  sigpipe_guard(const sigpipe_guard&) = delete;
  sigpipe_guard& operator=(const sigpipe_guard&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool blocked_ = false;  // by this guard
};

class asio_adapter : public std::enable_shared_from_this<asio_adapter> {
 public:
  /// Drives `ac` on `io` from now on. False if hiredis refused the hooks.
  static bool attach(asio::io_context& io, redisAsyncContext* ac) {
    if (ac->ev.data != nullptr) return false;
    auto* holder = new std::shared_ptr<asio_adapter>(new asio_adapter(io, ac));
    ac->ev.data = holder;
    ac->ev.addRead = [](void* p) { (*static_cast<holder_type*>(p))->want_read(true); };
    ac->ev.delRead = [](void* p) { (*static_cast<holder_type*>(p))->want_read(false); };
    ac->ev.addWrite = [](void* p) { (*static_cast<holder_type*>(p))->want_write(true); };
    ac->ev.delWrite = [](void* p) { (*static_cast<holder_type*>(p))->want_write(false); };
    ac->ev.cleanup = [](void* p) {
      auto* h = static_cast<holder_type*>(p);
      (*h)->detach();
      delete h;
    };
    return true;
  }

  /// Writes what hiredis has buffered for `ac` now, instead of when the
  /// loop next polls the socket: that poll comes after every handler
  /// already queued (a commit's hundreds of WebSocket sends), so a
  /// PUBLISH would wait for all of them. Nothing while hiredis is running
  /// one of `ac`'s handlers (the armed wait writes right after).
  static void write_now(redisAsyncContext* ac) {
    if (ac == nullptr || ac->ev.data == nullptr) return;
    holder_type self = *static_cast<holder_type*>(ac->ev.data);  // the write may free the context
    if (self->ac_ == nullptr || self->busy_) return;
    self->busy_ = true;
    {
      sigpipe_guard no_sigpipe;
      redisAsyncHandleWrite(ac);  // may free the context (cleanup)
    }
    self->busy_ = false;
  }

  asio_adapter(const asio_adapter&) = delete;
  asio_adapter& operator=(const asio_adapter&) = delete;

 private:
  using holder_type = std::shared_ptr<asio_adapter>;

  asio_adapter(asio::io_context& io, redisAsyncContext* ac) : fd_(io, ac->c.fd), ac_(ac) {}

  void want_read(bool on) {
    reading_wanted_ = on;
    arm_read();
  }
  void want_write(bool on) {
    writing_wanted_ = on;
    arm_write();
  }

  void arm_read() {
    if (!reading_wanted_ || reading_ || ac_ == nullptr) return;
    reading_ = true;
    fd_.async_wait(asio::posix::stream_descriptor::wait_read,
                   [self = shared_from_this()](const asio::error_code& ec) {
                     self->reading_ = false;
                     if (ec || self->ac_ == nullptr) return;
                     self->busy_ = true;
                     redisAsyncHandleRead(self->ac_);  // may free the context (cleanup)
                     self->busy_ = false;
                     self->arm_read();
                   });
  }

  void arm_write() {
    if (!writing_wanted_ || writing_ || ac_ == nullptr) return;
    writing_ = true;
    fd_.async_wait(asio::posix::stream_descriptor::wait_write,
                   [self = shared_from_this()](const asio::error_code& ec) {
                     self->writing_ = false;
                     if (ec || self->ac_ == nullptr) return;
                     self->busy_ = true;
                     {
                       sigpipe_guard no_sigpipe;
                       redisAsyncHandleWrite(self->ac_);  // may free the context (cleanup)
                     }
                     self->busy_ = false;
                     self->arm_write();
                   });
  }

  void detach() {
    ac_ = nullptr;
    reading_wanted_ = writing_wanted_ = false;
    asio::error_code ignored;
    fd_.cancel(ignored);
    fd_.release();  // hiredis closes the socket itself
  }

  asio::posix::stream_descriptor fd_;
  redisAsyncContext* ac_;
  bool reading_wanted_ = false;
  bool writing_wanted_ = false;
  bool reading_ = false;
  bool writing_ = false;
  bool busy_ = false;  // inside redisAsyncHandleRead/Write of this context
};

}  // namespace livechat::redis::detail

#endif
