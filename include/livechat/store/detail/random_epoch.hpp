// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_DETAIL_RANDOM_EPOCH_HPP
#define LIVECHAT_STORE_DETAIL_RANDOM_EPOCH_HPP

// A new history lineage (PROTOCOL.md "Durability"): memory_store draws one
// per instance, sqlite_store one per database file.

#include <string>

#include <livechat/detail/random.hpp>

namespace livechat::detail {

/// 16 lowercase hex digits that differ between instances and processes.
inline std::string random_epoch() {
  std::mt19937_64 gen = seeded_engine();
  return hex16(gen());
}

}  // namespace livechat::detail

#endif
