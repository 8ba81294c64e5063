// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_SERVER_DETAIL_COMMIT_QUEUE_HPP
#define LIVECHAT_SERVER_DETAIL_COMMIT_QUEUE_HPP

// The hub's ordering rule: nothing that depends on a write leaves the hub
// before the write is committed, and nothing overtakes it on the way out.
//
// After the first write since the last commit the queue holds a batch:
// every send is queued behind the writes (on every connection, so no
// broadcast overtakes an acknowledgement), operator messages for the
// outbound channel wait too, and so do the closes, because the frames
// queued for a connection before it was asked to close (`auth_failed`
// before 4003, an error before 1008) must reach it first. `settle` ends the
// batch with the store's verdict: on success everything goes out in queue
// order; on failure the sends that depended on a write are dropped (the
// write was rolled back) and each writer is named so it can be told.
//
// A write whose result comes only with the commit (a store that defers its
// appends to the flush) keeps a place in line instead (`hold_place`); the
// hub fills it at the commit, before settling, so its sends go out where
// they would have gone had the result come at once.
//
// The queue points at connections it does not own; a connection retired
// while a batch is held is parked here until the batch is settled.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <livechat/protocol/model.hpp>
#include <livechat/server/transport.hpp>

namespace livechat::server::detail {

/// @tparam Connection    the hub's per-connection state, addressed by pointer
/// @tparam ConnectionId  what a close names (the transport's connection id)
template <class Connection, class ConnectionId>
class commit_queue {
 public:
  using ref_type = std::optional<std::string>;

  /// No place is being filled (see `fill`).
  static constexpr std::size_t no_place = static_cast<std::size_t>(-1);

  /// A send waiting for the commit of `write` (0: waits only to keep its
  /// place in line). Kept small: a broadcast queues one per recipient, so
  /// the payload is an index into the batch's payloads (one shared_ptr
  /// copy per payload, not per recipient). `to` null: a place (see
  /// `hold_place`), `payload` its index.
  struct send {
    Connection* to;
    std::size_t payload;
    std::uint64_t write;
  };
  /// An operator message for the outbound channel, after the commit of `write`.
  struct outbound {
    std::uint64_t write;
    message msg;
  };
  /// A write of the batch and who asked for it (null: an HTTP caller,
  /// answered by a return value).
  struct write {
    Connection* requester;
    ref_type ref;
    std::string request_type;
    std::uint64_t id;
  };
  struct close_request {
    ConnectionId id;
    std::uint16_t code;
    std::string reason;
  };

  /// True while writes wait for `settle`.
  bool holding() const noexcept { return holding_; }

  /// The write the current call's sends depend on (0: none).
  std::uint64_t current_write() const noexcept { return current_; }

  /// Records a write the next commit must carry; what is sent after it in
  /// the same call depends on it. When it opens a batch (the first write
  /// since the last settle), `on_open()` runs first, once the batch is
  /// held: the time to ask for a commit.
  template <class OnOpen>
  void note_write(Connection* requester, const ref_type& ref, std::string_view request_type,
                  OnOpen&& on_open) {
    if (!holding_) {
      holding_ = true;
      on_open();
    }
    current_ = ++counter_;
    writes_.push_back({requester, ref, std::string(request_type), current_});
  }

  /// The sends of the current call depend on the batch's latest write
  /// without a write of their own (a duplicate whose original may be in
  /// this batch). Nothing while no batch is held.
  void depend_on_batch() noexcept {
    if (holding_) current_ = counter_;
  }

  /// The current call is over: later sends depend on no write of it.
  void end_call() noexcept { current_ = 0; }

  /// Keeps a place in line, behind what is queued now, for the sends of a
  /// write whose result comes with the commit (a store that defers its
  /// appends to the flush): `fill` queues them there once it is known.
  /// Returns the place. Only while a batch is held.
  std::size_t hold_place() {
    places_.emplace_back();
    sends_.push_back({nullptr, places_.size() - 1, current_});
    return places_.size() - 1;
  }

  /// Runs `f` as a call that depends on write `write_id`, its sends queued at
  /// `place` (from `hold_place`) instead of behind everything: before the
  /// batch is settled, so they keep the order of the request that made
  /// the write.
  template <class F>
  void fill(std::size_t place, std::uint64_t write_id, F&& f) {
    struct restore {
      commit_queue& q;
      std::uint64_t current;
      ~restore() {
        q.filling_ = no_place;
        q.current_ = current;
      }
    } r{*this, current_};
    filling_ = place;
    current_ = write_id;
    f();
  }

  /// The place `fill` is filling now, or `no_place`.
  std::size_t filling() const noexcept { return filling_; }

  /// Queues `payload` for `to` behind the batch. False, queueing nothing,
  /// when no batch is held: send it now.
  bool defer(Connection& to, const payload_ptr& payload) {
    if (!holding_) return false;
    // A broadcast queues the same payload for every recipient in a row.
    if (payloads_.empty() || payloads_.back() != payload) payloads_.push_back(payload);
    (filling_ == no_place ? sends_ : places_[filling_]).push_back({&to, payloads_.size() - 1, current_});
    return true;
  }

  /// Queues an operator message for the outbound channel (after a write).
  void defer_outbound(const message& m) { outbound_.push_back({current_, m}); }
  void defer_outbound(message&& m) { outbound_.push_back({current_, std::move(m)}); }

  /// Asks for a close, carried out by `take_closes`.
  void defer_close(const ConnectionId& id, std::uint16_t code, std::string_view reason) {
    closes_.push_back({id, code, std::string(reason)});
  }

  /// The closes asked for so far, in order; none while a batch is held
  /// (they wait for the frames queued before them).
  std::vector<close_request> take_closes() {
    std::vector<close_request> out;
    if (!holding_) out.swap(closes_);
    return out;
  }

  /// Keeps `c` alive while a held batch may point at it; otherwise lets it go.
  void retire(std::unique_ptr<Connection> c) {
    if (holding_) parked_.push_back(std::move(c));
  }

  /// Ends the batch with the commit's outcome. The queue is emptied first,
  /// so the callbacks may queue again (it holds nothing by then: what they
  /// send goes out at once). In queue order:
  /// - `send_fn(Connection&, const payload_ptr&)` for each send that
  ///   survives: all of them if `committed`, else those that depended on no
  ///   write;
  /// - `outbound_fn(const message&)` for each outbound message, if `committed`;
  /// - `failed_fn(const write&)` for each write, if not `committed`.
  /// Parked connections are released last. Nothing happens without a batch.
  template <class SendFn, class OutboundFn, class FailedFn>
  void settle(bool committed, SendFn&& send_fn, OutboundFn&& outbound_fn, FailedFn&& failed_fn) {
    if (!holding_) return;
    holding_ = false;
    current_ = 0;
    std::vector<send> sends;
    sends.swap(sends_);
    std::vector<payload_ptr> payloads;
    payloads.swap(payloads_);
    std::vector<outbound> out;
    out.swap(outbound_);
    std::vector<write> writes;
    writes.swap(writes_);
    std::vector<std::vector<send>> places;
    places.swap(places_);
    for (auto& s : sends) {
      if (s.to != nullptr) {
        if (committed || s.write == 0) send_fn(*s.to, payloads[s.payload]);
      } else if (committed) {  // a place: filled only after a commit
        for (auto& p : places[s.payload]) send_fn(*p.to, payloads[p.payload]);
      }
    }
    if (committed)
      for (auto& o : out) outbound_fn(o.msg);
    else
      for (auto& w : writes) failed_fn(w);
    parked_.clear();
    // Keep the vectors' capacity for the next batch (the callbacks queue
    // nothing: no batch is held while they run), up to a bound.
    constexpr std::size_t max_kept = 64 * 1024;
    keep(sends_, sends, max_kept);
    keep(payloads_, payloads, max_kept);
    // A batch's writes and outbound messages are a few per turn: without
    // their vectors kept, every write allocated one block, every operator
    // message another.
    keep(writes_, writes, 1024);
    keep(outbound_, out, 1024);
  }

 private:
  /// `used` (emptied) becomes `slot` again for its capacity, unless the
  /// callbacks queued into `slot` meanwhile or it grew past `max_kept`.
  template <class T>
  static void keep(std::vector<T>& slot, std::vector<T>& used, std::size_t max_kept) {
    used.clear();
    if (slot.empty() && used.capacity() <= max_kept) slot.swap(used);
  }

  bool holding_ = false;
  std::uint64_t counter_ = 0;
  std::uint64_t current_ = 0;
  std::vector<send> sends_;
  std::vector<payload_ptr> payloads_;
  std::vector<outbound> outbound_;
  std::vector<write> writes_;
  std::vector<std::vector<send>> places_;  ///< see hold_place
  std::size_t filling_ = no_place;
  std::vector<close_request> closes_;
  std::vector<std::unique_ptr<Connection>> parked_;
};

}  // namespace livechat::server::detail

#endif
