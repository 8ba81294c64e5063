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

#include <memory>

#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include <hiredis/async.h>

namespace livechat::redis::detail {

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
                     redisAsyncHandleRead(self->ac_);  // may free the context (cleanup)
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
                     redisAsyncHandleWrite(self->ac_);
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
};

}  // namespace livechat::redis::detail

#endif
