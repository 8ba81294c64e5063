// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_WEBSOCKETPP_DETAIL_BLOCK_POOL_HPP
#define LIVECHAT_WEBSOCKETPP_DETAIL_BLOCK_POOL_HPP

// Recycled memory for the control blocks of server_transport's counted
// frame pointers: a broadcast makes one per recipient and websocketpp drops
// them once the frame is written, so the same blocks serve the next
// broadcast instead of going through malloc and free each time.

#include <cstddef>
#include <new>
#include <vector>

namespace livechat::wspp::detail {

/// A free list of blocks of one size (the first size asked for; other
/// sizes go to operator new). Its owner calls release() instead of
/// deleting it: blocks may still be out then (frames in websocketpp's
/// queues outlive the transport), and the pool deletes itself when the
/// last one comes back.
///
/// @par Thread Safety
/// None, like server_transport: blocks are taken and given back on the
/// thread that runs the endpoint.
class block_pool {
 public:
  /// At most `max_free` blocks are kept for reuse; more are freed.
  static block_pool* create(std::size_t max_free) { return new block_pool(max_free); }

  block_pool(const block_pool&) = delete;
  block_pool& operator=(const block_pool&) = delete;

  void* take(std::size_t size) {
    if (block_size_ == 0) block_size_ = size;
    void* p = nullptr;
    if (size == block_size_ && !free_.empty()) {
      p = free_.back();
      free_.pop_back();
    } else {
      p = ::operator new(size);
    }
    ++out_;
    return p;
  }

  void give(void* p, std::size_t size) noexcept {
    --out_;
    if (owned_ && size == block_size_ && free_.size() < max_free_) {
      try {
        free_.push_back(p);
        p = nullptr;
      } catch (...) {  // no room to keep it: free it
      }
    }
    if (p != nullptr) ::operator delete(p);
    if (!owned_ && out_ == 0) delete this;
  }

  /// The owner is done: frees the kept blocks, and the pool itself now or
  /// when the last block comes back.
  void release() noexcept {
    owned_ = false;
    for (void* p : free_) ::operator delete(p);
    free_.clear();
    if (out_ == 0) delete this;
  }

  std::size_t kept() const noexcept { return free_.size(); }
  std::size_t out() const noexcept { return out_; }

 private:
  explicit block_pool(std::size_t max_free) : max_free_(max_free) {}
  ~block_pool() = default;

  std::size_t max_free_;
  std::size_t block_size_ = 0;
  std::size_t out_ = 0;
  bool owned_ = true;
  std::vector<void*> free_;
};

/// The allocator std::shared_ptr rebinds for its control block.
template <class T>
struct pool_allocator {
  using value_type = T;
  block_pool* pool;

  explicit pool_allocator(block_pool* p) noexcept : pool(p) {}
  template <class U>
  pool_allocator(const pool_allocator<U>& other) noexcept : pool(other.pool) {}  // NOLINT: rebinding

  T* allocate(std::size_t n) { return static_cast<T*>(pool->take(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { pool->give(p, n * sizeof(T)); }

  template <class U>
  bool operator==(const pool_allocator<U>& other) const noexcept {
    return pool == other.pool;
  }
  template <class U>
  bool operator!=(const pool_allocator<U>& other) const noexcept {
    return pool != other.pool;
  }
};

}  // namespace livechat::wspp::detail

#endif
