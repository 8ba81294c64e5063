// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// The recycled control blocks of server_transport's counted frame pointers.
#include <livechat/websocketpp/detail/block_pool.hpp>

#include <memory>
#include <vector>

#include <catch2/catch.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_block_pool {

using livechat::wspp::detail::block_pool;
using livechat::wspp::detail::pool_allocator;

TEST_CASE("block_pool: a block given back is the next one taken, other sizes are not kept",
          "[block_pool]") {
  block_pool* pool = block_pool::create(2);
  void* a = pool->take(64);
  void* b = pool->take(64);
  void* c = pool->take(64);
  CHECK(pool->out() == 3);
  pool->give(a, 64);
  pool->give(b, 64);
  pool->give(c, 64);  // past max_free: freed
  CHECK(pool->kept() == 2);
  CHECK(pool->out() == 0);
  void* again = pool->take(64);
  CHECK((again == a || again == b));
  void* other = pool->take(128);  // not the pool's size
  pool->give(other, 128);
  CHECK(pool->kept() == 1);
  pool->give(again, 64);
  pool->release();
}

TEST_CASE("block_pool: released with blocks out, it lives until the last comes back",
          "[block_pool]") {
  block_pool* pool = block_pool::create(8);
  void* a = pool->take(48);
  void* b = pool->take(48);
  pool->give(pool->take(48), 48);
  pool->release();  // the kept block is freed, the pool stays for a and b
  pool->give(a, 48);
  pool->give(b, 48);  // the last: the pool deletes itself (a sanitizer tree sees any leak or reuse)
}

TEST_CASE("block_pool: shared_ptr control blocks with a deleter are recycled", "[block_pool]") {
  block_pool* pool = block_pool::create(8);
  int deleted = 0;
  int value = 7;
  auto deleter = [&deleted](int*) { ++deleted; };
  {
    std::shared_ptr<int> p(&value, deleter, pool_allocator<char>(pool));
    CHECK(*p == 7);
    CHECK(pool->out() == 1);
  }
  CHECK(deleted == 1);
  CHECK(pool->out() == 0);
  CHECK(pool->kept() == 1);
  std::vector<std::shared_ptr<int>> many;
  for (int i = 0; i < 3; ++i) many.emplace_back(&value, deleter, pool_allocator<char>(pool));
  CHECK(pool->kept() == 0);  // the kept one was reused
  CHECK(pool->out() == 3);
  pool->release();  // blocks still out: they come back below
  many.clear();
  CHECK(deleted == 4);
}

}  // namespace livechat_unit_block_pool
