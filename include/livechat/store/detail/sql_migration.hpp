// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_DETAIL_SQL_MIGRATION_HPP
#define LIVECHAT_STORE_DETAIL_SQL_MIGRATION_HPP

// What the SQL stores' schema histories share: a step, the newest version
// of a history, and the words of a refusal. The runners stay apart
// (sqlite_schema.hpp, postgresql_schema.hpp): SQLite keeps the version in
// `PRAGMA user_version` and runs each step in its own BEGIN IMMEDIATE
// (the file lock is what orders two processes), PostgreSQL keeps it in a
// table and runs every step in one transaction under an advisory lock
// (DDL is transactional there, and servers start together).

#include <cstddef>
#include <string>
#include <string_view>

namespace livechat::detail {

/// A schema step: `sql` takes the database from `version - 1` to `version`.
struct sql_migration {
  int version;
  const char* sql;
};

/// The version the newest step of `steps` (oldest first) writes.
template <std::size_t N>
constexpr int sql_newest_version(const sql_migration (&steps)[N]) noexcept {
  return steps[N - 1].version;
}

/// The refusal of a database written by a newer livechat.
inline std::string sql_newer_schema(std::string_view found, int supported) {
  return "schema version " + std::string(found) + " is newer than this livechat supports (" +
         std::to_string(supported) + "); open it with a newer livechat";
}

/// How a failing step is named in the error.
inline std::string sql_step_name(int version) {
  return "migration to schema version " + std::to_string(version);
}

/// After the epoch was read back: a store without one cannot name its
/// history (false, `error` set).
inline bool sql_epoch_found(const std::string& epoch, std::string& error) {
  if (!epoch.empty()) return true;
  error = "the epoch could not be stored";
  return false;
}

}  // namespace livechat::detail

#endif
