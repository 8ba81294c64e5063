// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_DETAIL_FAULT_INJECTION_HPP
#define LIVECHAT_STORE_DETAIL_FAULT_INJECTION_HPP

#include <cstddef>
#include <optional>

namespace livechat::detail {

/// The test hook every bundled store offers (`fail_after`), written once: a
/// store inherits it publicly and asks `injected_failure()` at the top of
/// each `do_*` call, before it touches anything, so an injected failure
/// leaves the store exactly as it was.
class fault_injection {
 public:
  /// After `calls` more `do_*` calls, every `do_*` call fails with
  /// `errc::store_failure` until `fail_after` or `clear_failure` is called.
  void fail_after(std::size_t calls) noexcept { fail_at_ = calls_ + calls; }
  void clear_failure() noexcept { fail_at_.reset(); }

  /// How many `do_*` calls were made, failed ones included. Calls rejected
  /// by the base class's validation never reach the store and don't count.
  std::size_t calls() const noexcept { return calls_; }

 protected:
  /// Counts one `do_*` call; true when it must fail.
  bool injected_failure() noexcept {
    const bool fail = fail_at_ && calls_ >= *fail_at_;
    ++calls_;
    return fail;
  }

 private:
  std::size_t calls_ = 0;
  std::optional<std::size_t> fail_at_;
};

}  // namespace livechat::detail

#endif  // LIVECHAT_STORE_DETAIL_FAULT_INJECTION_HPP
