// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_HTTP_BYTE_BUDGET_HPP
#define LIVECHAT_EXAMPLES_SERVER_HTTP_BYTE_BUDGET_HPP

// A server-wide bound on bytes held in memory by requests in flight
// (--max-upload-memory-bytes): every upload body being read and every
// file being downloaded from LINE reserves its size first, so many at once
// cannot each hold --max-attachment-bytes. A reservation is released when
// it is destroyed. The same class bounds the bytes of HTTP responses not
// yet sent (http_response_budget, websocket_http.hpp). Single-threaded:
// used on the io_context's thread only.

#include <cstddef>
#include <memory>
#include <utility>

namespace livechat_server {

class byte_budget {
 public:
  /// `limit` 0: unlimited.
  explicit byte_budget(std::size_t limit) : limit_(limit) {}

  class reservation {
   public:
    reservation() = default;
    reservation(const std::shared_ptr<byte_budget>& b, std::size_t n) : budget_(b), n_(n) {}
    reservation(reservation&& o) noexcept : budget_(std::move(o.budget_)), n_(std::exchange(o.n_, 0)) {}
    reservation& operator=(reservation&& o) noexcept {
      if (this != &o) {
        release();
        budget_ = std::move(o.budget_);
        n_ = std::exchange(o.n_, 0);
      }
      return *this;
    }
    reservation(const reservation&) = delete;
    reservation& operator=(const reservation&) = delete;
    ~reservation() { release(); }

    std::size_t size() const noexcept { return n_; }

    void release() noexcept {
      if (auto b = budget_.lock()) b->used_ -= n_;
      budget_.reset();
      n_ = 0;
    }

   private:
    std::weak_ptr<byte_budget> budget_;
    std::size_t n_ = 0;
  };

  /// Reserves `n` bytes into `out`; false (nothing reserved) when that
  /// would pass the limit.
  static bool try_reserve(const std::shared_ptr<byte_budget>& b, std::size_t n, reservation& out) {
    if (b->limit_ != 0 && (n > b->limit_ || b->used_ > b->limit_ - n)) return false;
    b->used_ += n;
    out = reservation(b, n);
    return true;
  }

  /// True when `n` bytes could never fit, even with nothing else held.
  bool too_large(std::size_t n) const noexcept { return limit_ != 0 && n > limit_; }

  std::size_t limit() const noexcept { return limit_; }
  std::size_t used() const noexcept { return used_; }

 private:
  std::size_t limit_;
  std::size_t used_ = 0;
};

}  // namespace livechat_server

#endif
