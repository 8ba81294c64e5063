// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_DETAIL_POSTGRESQL_APPENDS_HPP
#define LIVECHAT_STORE_DETAIL_POSTGRESQL_APPENDS_HPP

// postgresql_store's queued appends (message_store::queue_append): held
// until the flush or the next statement, then sent in one pipeline with
// it (pg_connection::pipeline), so a turn's appends and its COMMIT cost
// the event loop one round trip instead of one per append.

#include <algorithm>  // std::stable_sort, std::min
#include <cstddef>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <livechat/store/detail/postgresql_connection.hpp>
#include <livechat/store/detail/postgresql_statement.hpp>
#include <livechat/store/detail/sql_rows.hpp>
#include <livechat/store/message_store.hpp>

namespace livechat::detail {

/// The parameters of pg_sql's `append`.
inline void pg_bind_append(pg_params& p, const append_request& req, const std::string& epoch) {
  p.text(req.room)
      .integer(req.now.time_since_epoch().count())
      .text(epoch)
      .text(to_string(req.sender.type))
      .text(req.sender.id)
      .text(req.sender.name)
      .text(req.text)
      .text_or_null(req.client_msg_id)
      .text_or_null(req.webhook_event_id);
  sql_bind_rich(p, req.kind, req.attachment);
}

class pg_append_queue {
 public:
  /// An append waiting for its pipeline; `ticket`: its kept result.
  struct entry {
    append_request req;
    std::size_t ticket;
  };

  /// Most statements one pipeline carries: a longer turn takes one round
  /// trip per this many appends. libpq's blocking connection reads no
  /// result until it has sent the whole pipeline, so the results must fit
  /// in the sockets' buffers meanwhile (a few hundred bytes each).
  static constexpr std::size_t max_pipeline = 128;

  bool empty() const noexcept { return queued_.empty(); }
  std::size_t size() const noexcept { return queued_.size(); }
  void push(const append_request& req, std::size_t ticket) { queued_.push_back({req, ticket}); }
  void push(append_request&& req, std::size_t ticket) {
    queued_.push_back({std::move(req), ticket});
  }
  /// Forgets the appends not sent yet (their results stay failures).
  void drop_queued() noexcept { queued_.clear(); }
  /// The duplicates found so far, whose original is read after the commit.
  std::vector<entry> take_duplicates() {
    std::vector<entry> out;
    out.swap(duplicates_);
    return out;
  }

  /// Sends the queued appends in ascending room order (the batch's lock
  /// order; one room's keep their order, so their seqs follow the calls),
  /// `tail` (with `tail_params`) after them into `tail_result`, and
  /// COMMIT last when `commit`: one pipeline, one round trip, per
  /// `max_pipeline` statements. `stored(ticket, append_result)` takes each
  /// stored message; a duplicate waits in `take_duplicates`. On failure
  /// (the batch is then rolled back, see pg_connection::pipeline) the
  /// rest is not given to `stored`.
  template <class Stored>
  std::error_code send(pg_connection& conn, const std::string& epoch,
                       const pg_connection::step* tail, const pg_params* tail_params, bool commit,
                       pg_result* tail_result, Stored&& stored) {
    std::vector<entry> q;
    q.swap(queued_);
    std::stable_sort(q.begin(), q.end(),
                     [](const entry& a, const entry& b) { return a.req.room < b.req.room; });
    std::vector<pg_connection::step> steps;
    std::vector<pg_result> results;
    std::size_t start = 0;
    do {
      const std::size_t n = std::min(max_pipeline, q.size() - start);
      const bool last = start + n == q.size();
      steps.clear();
      for (std::size_t i = 0; i < n; ++i) steps.push_back({pg_sid::append, q[start + i].req.room, true});
      if (last && tail != nullptr) steps.push_back(*tail);
      auto bind = [&](std::size_t i, pg_params& scratch) -> const pg_params& {
        if (i >= n) return *tail_params;
        pg_bind_append(scratch, q[start + i].req, epoch);
        return scratch;
      };
      if (auto ec = conn.pipeline(steps, bind, n, last && commit, results, "append")) return ec;
      for (std::size_t i = 0; i < n; ++i) {
        entry& a = q[start + i];
        const pg_result& r = results[i];
        if (r.rows() != 1) continue;  // stays a failure
        const pg_row row(r, 0);
        if (!row.is_null(0))
          // The queue's copy is done with: its strings move into the result.
          stored(a.ticket, append_result{std::move(a.req).stored_as(row.unsigned_at(0),
                                                                    row.text_at(1)),
                                         false, sql_read_session(row, 2)});
        else if (!a.req.client_msg_id.empty() || !a.req.webhook_event_id.empty())  // only a key makes one
          duplicates_.push_back(std::move(a));
      }
      if (last && tail != nullptr && tail_result != nullptr) *tail_result = std::move(results[n]);
      start += n;
    } while (start < q.size());
    return {};
  }

  /// Reads each duplicate's original into `found(ticket, append_result)`.
  /// After the commit: it also sees one that another server committed
  /// while the append waited for its key. A failed read leaves that
  /// append's result a failure.
  template <class Found>
  static void read_originals(pg_connection& conn, const std::vector<entry>& duplicates,
                             Found&& found) {
    for (const auto& d : duplicates) {
      // A queued append has one key at most (both: appended at once).
      const bool webhook = d.req.client_msg_id.empty();
      pg_params f;
      if (webhook)
        f.text(d.req.webhook_event_id);
      else
        f.text(d.req.room).text(d.req.sender.id).text(d.req.client_msg_id);
      auto r = conn.run(webhook ? pg_sid::find_webhook : pg_sid::find_client_msg, f);
      if (!r.ok())
        conn.fail(r, "append: dedupe lookup");
      else if (r.rows() == 0)
        conn.fail_logic("append: a dedupe record without message");
      else
        found(d.ticket, append_result{sql_read_message(pg_row(r, 0), 0), true, {}});
    }
  }

 private:
  std::vector<entry> queued_;      ///< appends not sent yet
  std::vector<entry> duplicates_;  ///< sent, found duplicate: read after the commit
};

}  // namespace livechat::detail

#endif
