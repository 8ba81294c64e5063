// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_DETAIL_POSTGRESQL_PIPELINE_HPP
#define LIVECHAT_STORE_DETAIL_POSTGRESQL_PIPELINE_HPP

// The mechanics of pg_connection::pipeline: which BEGINs and COMMITs go
// between the steps (the batch's room lock order), and sending them all
// with one Sync in libpq pipeline mode. The batch's state (open, lost,
// pending, the counters) stays with pg_connection.

#include <libpq-fe.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <livechat/store/detail/postgresql_statement.hpp>

namespace livechat::detail {

/// One statement of a pipeline: prepared statement `id`, a write that
/// locks `room`'s rows, or a read.
struct pg_pipeline_step {
  pg_sid id;
  std::string_view room;
  bool write;
};

/// What a pipeline sends, in order.
struct pg_planned {
  enum kind_type { begin, commit, statement } kind;
  std::size_t step;
};

inline bool pg_has_write(const std::vector<pg_pipeline_step>& steps) noexcept {
  for (const pg_pipeline_step& s : steps)
    if (s.write) return true;
  return false;
}

/// The order a pipeline sends `steps` in, with the BEGINs and COMMITs the
/// batch's lock order needs: `fresh` when no transaction is open yet,
/// `batch_top_room` the open one's highest room; `top`: the batch's
/// highest room after, `commits` counts the early commits.
inline void pg_plan_steps(const std::vector<pg_pipeline_step>& steps, bool fresh,
                          bool commit_last, bool group_commit, const std::string& batch_top_room,
                          std::vector<pg_planned>& plan, std::string& top, std::size_t& commits) {
  bool in_tx = !fresh;
  bool have_top = in_tx;
  if (in_tx) top = batch_top_room;
  plan.reserve(steps.size() + 3);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const pg_pipeline_step& s = steps[i];
    if (s.write) {
      if (!in_tx) {
        plan.push_back({pg_planned::begin, 0});
        in_tx = true;
        have_top = false;
      } else if (group_commit && have_top && s.room < top) {
        plan.push_back({pg_planned::commit, 0});
        plan.push_back({pg_planned::begin, 0});
        ++commits;
        have_top = false;
      }
      if (!have_top || s.room > top) top.assign(s.room.data(), s.room.size());
      have_top = true;
    }
    plan.push_back({pg_planned::statement, i});
  }
  if (commit_last && in_tx) plan.push_back({pg_planned::commit, 0});
}

/// The Sync's result, or whatever a failure left: read (at most `bound`
/// of them) until libpq lets the connection leave pipeline mode.
inline void pg_drain_pipeline(PGconn* conn, std::size_t bound) {
  for (std::size_t i = 0; i < bound && PQexitPipelineMode(conn) != 1; ++i) {
    PGresult* rest = PQgetResult(conn);
    if (rest == nullptr && PQstatus(conn) != CONNECTION_OK) break;
    PQclear(rest);
  }
}

/// Sends `plan` and one Sync, then reads one result per entry (null for
/// those it could not read). False when sending failed. Leaves the
/// connection out of pipeline mode. `bind(i, scratch)` returns step i's
/// parameters.
template <class Bind>
bool pg_send_plan(PGconn* conn, const std::vector<pg_pipeline_step>& steps,
                  const std::vector<pg_planned>& plan, Bind& bind, std::vector<pg_result>& out) {
  out.clear();
  out.resize(plan.size());
  if (PQenterPipelineMode(conn) != 1) return false;
  bool sent = true;
  for (std::size_t i = 0; sent && i < plan.size(); ++i) {
    const pg_planned& e = plan[i];
    if (e.kind != pg_planned::statement) {
      const char* sql = e.kind == pg_planned::begin ? "BEGIN" : "COMMIT";
      sent = PQsendQueryParams(conn, sql, 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
      continue;
    }
    pg_params scratch;
    const pg_params& p = bind(e.step, scratch);
    const std::string name = pg_statement_name(steps[e.step].id);
    sent = PQsendQueryPrepared(conn, name.c_str(), p.count(), p.values(), p.lengths(),
                               p.formats(), 1) == 1;
  }
  sent = sent && PQpipelineSync(conn) == 1;
  if (sent)
    for (auto& r : out) {
      // Each query's result is followed by a null; then the Sync's result.
      r = pg_result(PQgetResult(conn));
      if (r.get() != nullptr) PQclear(PQgetResult(conn));
    }
  pg_drain_pipeline(conn, 2 * plan.size() + 16);
  return sent;
}

}  // namespace livechat::detail

#endif
