// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_SERVER_HUB_HPP
#define LIVECHAT_SERVER_HUB_HPP

// The hub's declaration and documentation; the bodies are in
// <livechat/server/impl/hub.hpp> (entry points, plumbing) and
// <livechat/server/impl/hub_events.hpp> (one handler per client event),
// included at the end.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <livechat/auth/authenticator.hpp>
#include <livechat/clock.hpp>
#include <livechat/detail/token_bucket.hpp>
#include <livechat/protocol/close_codes.hpp>
#include <livechat/protocol/events.hpp>
#include <livechat/protocol/room_name.hpp>
#include <livechat/presence/presence_tracker.hpp>
#include <livechat/presence/typing_tracker.hpp>
#include <livechat/rooms/room_registry.hpp>
#include <livechat/server/cluster_link.hpp>
#include <livechat/server/detail/commit_queue.hpp>
#include <livechat/server/hub_config.hpp>
#include <livechat/server/hub_stats.hpp>
#include <livechat/server/transport.hpp>
#include <livechat/store/message_store.hpp>

namespace livechat::server {

/// A message from the end user's channel (e.g. one LINE webhook event).
struct inbound_message {
  std::string conversation_id;   ///< the room is `conversation:{conversation_id}`
  std::string user_id;           ///< the end user (sender.id)
  std::string name;              ///< sender.name; empty: the user id
  std::string text;              ///< trimmed and validated like send_message
  std::string webhook_event_id;  ///< dedupe key; empty: none
  /// Not text: what the message carries. A file's attachment is stored as
  /// a `pending` record of the user's (once: a redelivery finds it), whose
  /// content the embedder fetches and hands to `finish_attachment`.
  message_kind kind = message_kind::text;
  message_attachment attachment{};
};

/// The protocol state machine of PROTOCOL.md for one server process.
///
/// Driven by calls, one per transport event; it answers through
/// `Transport::send` and `Transport::close` and never touches a socket.
/// Time comes from `Clock` and timers fire from `tick(now)`, so tests move
/// time by hand. Every broadcast is encoded once and the same immutable
/// buffer goes to every recipient.
///
/// Closing is deferred to the end of the current call: a connection closed
/// while a broadcast walks a room (a slow consumer) leaves its rooms only
/// after the walk, so membership never changes under an iteration.
///
/// Backpressure has two marks (`hub_config`): above `soft_unsent_bytes` a
/// connection stops getting `typing` and `presence_diff` (it is resynced
/// with `presence_update` later); above `max_unsent_bytes` it is closed
/// with 1013 and resumes with `since_seq`. What counts as unsent is the
/// transport's `buffered_amount`.
///
/// @tparam Transport  see `is_transport_v` / docs/concepts.md
/// @tparam Clock      see `is_clock_v`; `default_clock` or `manual_clock`
/// @par Thread Safety
/// None: one thread (an Asio thread or strand) owns the hub, its store and
/// its authenticator. Scale out with more processes, not threads.
/// @par Exceptions
/// Nothing thrown by the store, the authenticator or the transport escapes
/// an `on_*` call: it is answered with `error internal` and reported to the
/// error handler.
template <class Transport, class Clock = default_clock>
class hub {
  static_assert(detail::transport_id_ok<Transport>::value,
                "Transport::connection_id must be copyable, equality-comparable (==) and "
                "hashable with std::hash (docs/concepts.md)");
  static_assert(is_transport_v<Transport>, "Transport requirements not met (docs/concepts.md)");
  static_assert(is_clock_v<Clock>, "Clock requirements not met (docs/concepts.md)");

 public:
  using connection_id = typename Transport::connection_id;
  using time_point = typename Clock::time_point;
  using error_handler = std::function<void(std::string_view what)>;
  using outbound_handler = std::function<void(const message&)>;
  /// The url of a ready file attachment, for one delivery (a signed path).
  using attachment_url_signer = std::function<std::string(const file_attachment&)>;
  /// The customer of a conversation (its id given), as the server knows
  /// them (a messenger profile); called on the hub's thread.
  using customer_resolver = std::function<customer_profile(std::string_view conversation_id)>;

  hub(Transport& transport, Clock& clock, message_store& store, authenticator& auth,
      hub_config config = {})
      : transport_(transport), clock_(clock), store_(store), auth_(auth), config_(config) {}

  hub(const hub&) = delete;
  hub& operator=(const hub&) = delete;

  /// A transport connection is open (WebSocket handshake done).
  void on_open(const connection_id& id);

  /// One complete text message arrived.
  void on_message(const connection_id& id, std::string_view frame);

  /// A binary message arrived: not part of v1, answered and kept.
  void on_binary(const connection_id& id);

  /// The connection is gone, whatever the reason. Unknown ids are ignored
  /// (the hub forgets a connection as soon as it asks the transport to close it).
  void on_close(const connection_id& id);

  /// Fires due timers: auth deadline, idle close, typing expiry. Call it
  /// often (every 100 ms); each call costs O(connections + typists).
  void tick(time_point now);

  /// Closes every connection (1001 by default), e.g. on SIGTERM.
  void shutdown(std::uint16_t code = close_code::going_away,
                std::string_view reason = "server shutting down");

  /// Makes the writes of this turn durable (`store.flush()`), then sends
  /// what waited for them: acknowledgements, broadcasts, outbound
  /// messages. If the commit fails, nothing that depended on those writes
  /// is sent and each writer gets `error internal` instead. Without
  /// `hub_config::group_commit` the hub calls this itself after every
  /// event; with it, call it once per event-loop turn (the commit-request
  /// callback says when one is due). Returns false when the commit failed.
  bool commit();

  /// True while writes wait for `commit()`.
  bool commit_pending() const noexcept { return commit_.holding(); }

  /// With group commit: called once when the first write of a turn is
  /// made, so the embedding server can schedule `commit()` (e.g. post it
  /// to its event loop). Runs on the hub's thread, inside a hub call: it
  /// must not call back into the hub.
  void set_commit_request(std::function<void()> f) { request_commit_ = std::move(f); }

  /// A message from the end user (LINE webhook or any channel), text or
  /// rich (`inbound_message::kind`; a file is stored `pending`, see
  /// `finish_attachment`): stored as a `user` message in `conversation:{conversation_id}`,
  /// re-opening a closed session, and broadcast (`new_message`,
  /// `conversation_activity`). A repeated `webhook_event_id` is stored once.
  /// Returns once the message is committed; `validation_error` for a bad
  /// id or text, `store_failure` when it could not be stored.
  result<append_result> post_user_message(const inbound_message& m);

  /// A whole delivery's messages (one webhook request), each as
  /// `post_user_message` would store and announce it, results in the same
  /// order. On a store that defers its appends (`message_store::defers_appends`)
  /// they are queued and committed together: one round trip for the
  /// request instead of one per message; a failed commit fails every one
  /// of them (`store_failure`) and nothing is broadcast. On the others each
  /// is appended and committed in turn, as by `post_user_message`.
  std::vector<result<append_result>> post_user_messages(const std::vector<inbound_message>& ms);

  /// An operator message posted without a WebSocket (REST fallback): the
  /// same validation and effects as `send_message`, with no room
  /// membership needed. Returns once committed.
  result<append_result> post_operator_message(const identity& who, std::string_view conversation_id,
                                              std::string_view text,
                                              std::string_view client_msg_id = {});

  /// Signs the `url` of every ready file attachment in what the hub sends
  /// (new_message, message_sent, conversation_update, inbox_update,
  /// conversation_activity, attachment_updated); without one, no url.
  void set_attachment_url_signer(attachment_url_signer f) { sign_url_ = std::move(f); }

  /// Gives `m`'s ready file attachment a fresh url (for REST answers).
  void sign_url(message& m) const;

  /// A pending attachment's content arrived (`ready`, with its bytes and,
  /// when known, its content type) or could not be had (`failed`): stored,
  /// committed, then `attachment_updated` to the message's room and the
  /// inbox watchers. The store's errors as `message_store::finish_attachment`.
  result<attachment_update> finish_attachment(std::string_view attachment_id,
                                              attachment_status status,
                                              std::string_view content = {},
                                              std::string_view content_type = {});

  /// The customer of `conversation_id` changed (their messenger profile
  /// arrived or was refreshed: see set_customer_resolver):
  /// `conversation_update` with the new `customer` to the inbox watchers.
  void customer_changed(std::string_view conversation_id);

  /// Called with a description of anything unexpected (an exception from
  /// the store, the authenticator or the transport).
  void set_error_handler(error_handler h) { on_error_ = std::move(h); }

  /// Called once per stored operator message, after its broadcast: the
  /// hook for the outbound channel (the end user's messenger). A message
  /// published while no handler is set is not kept for one set later.
  void set_outbound_handler(outbound_handler h) { on_outbound_ = std::move(h); }

  /// Fills `customer` of conversation summaries, conversation_update and
  /// conversation_activity. Without one, a conversation's customer is its
  /// id, named by the id.
  void set_customer_resolver(customer_resolver r) { customer_of_ = std::move(r); }

  /// The customer of `room`; none for a room that is not a conversation.
  std::optional<customer_profile> customer_of(std::string_view room) const {
    const auto id = conversation_id_of(room);
    if (!id) return std::nullopt;
    if (customer_of_) {
      try {
        return customer_of_(*id);
      } catch (...) {  // a lookup that failed: the id, as without one
      }
    }
    return customer_profile{std::string(*id), std::string(*id), {}};
  }

  /// Another node of the cluster fetched a new profile of `customer`: the
  /// customer learner (if any) records it, then this node's inbox watchers
  /// get `conversation_update` with it, as after customer_changed.
  void customer_from_cluster(const customer_profile& customer);

  /// Called with each profile another node fetched (customer_from_cluster),
  /// for the embedder's cache behind the customer resolver, so this node's
  /// later summaries name the customer too.
  void set_customer_learner(std::function<void(const customer_profile&)> f) {
    learn_customer_ = std::move(f);
  }

  /// Makes this hub one node of a cluster (server/cluster_link.hpp): its
  /// committed events go to `link`, and new_message reaches the room's
  /// connections through it, in `seq` order. nullptr (the default): one
  /// process, as before. Set it before the first connection opens.
  void set_cluster_link(cluster_link* link) noexcept { link_ = link; }

  /// An event from the cluster (another node's, or this node's own
  /// new_message in `seq` order): `frame` as it is to this node's
  /// connections in `room`, except the one whose public id is `except`,
  /// and/or to its inbox watchers, as `to` says. `typing` is droppable
  /// under backpressure, as a local one.
  void deliver_from_cluster(cluster_audience to, const std::string& room, const payload_ptr& frame,
                            std::string_view except = {});

  /// Another node's share of presence changed by `delta` connections of
  /// `user_id`: one `presence_diff` to the watchers when the cluster-wide
  /// count changes.
  void apply_remote_presence(const std::string& user_id, const std::string& name,
                             std::int64_t delta);

  /// True when connections of this node joined `room`.
  bool has_local_members(const std::string& room) const { return !rooms_.members(room).empty(); }
  /// True when a connection of `user_id` on this node joined `room`.
  bool is_local_member(const std::string& room, const std::string& user_id) const {
    const auto& users = rooms_.users(room);
    return users.find(user_id) != users.end();
  }

  std::size_t connection_count() const noexcept { return connections_.size(); }
  std::size_t users_online() const noexcept { return presence_.user_count(); }
  std::size_t room_count() const noexcept { return rooms_.room_count(); }
  std::size_t inbox_watcher_count() const noexcept { return watchers_.size(); }
  /// Authenticated connections `user_id` holds now on this node (in a
  /// cluster, presence also counts the other nodes'; the cap does not).
  std::size_t user_connection_count(const std::string& user_id) const {
    const std::size_t all = presence_.connections_of(user_id);
    auto it = remote_connections_.find(user_id);
    const std::size_t remote = it == remote_connections_.end() ? 0 : it->second;
    return all > remote ? all - remote : 0;
  }
  /// True when one more connection of `user_id` would be refused at `auth`
  /// (`hub_config::max_connections_per_user`). An embedder that learns the
  /// user before the WebSocket opens (a token in the upgrade request) can
  /// refuse it there instead.
  bool user_at_connection_limit(const std::string& user_id) const {
    return config_.max_connections_per_user != 0 &&
           user_connection_count(user_id) >= config_.max_connections_per_user;
  }
  const hub_stats& stats() const noexcept { return stats_; }
  const hub_config& config() const noexcept { return config_; }

 private:
  struct connection {
    connection_id id{};
    std::string public_id;
    identity who;
    bool authenticated = false;
    bool watching_inbox = false;
    bool closing = false;
    bool muted = false;  // nothing more may be sent: forgotten, or closed as a slow consumer
    bool presence_stale = false;  // a presence_diff was skipped: resync with presence_update
    time_point opened_at{};
    time_point last_activity{};
    livechat::detail::token_bucket<time_point> tokens;  // every incoming frame takes one
    // Times of the refused frames in the window, oldest first; bounded by
    // max_refused_frames + 1. A vector: empty, it allocates nothing (a
    // deque allocates ~600 bytes per connection at construction).
    std::vector<time_point> refused;
  };
  using handle = connection*;
  using ref_type = std::optional<std::string>;
  using commit_queue = detail::commit_queue<connection, connection_id>;
  /// A send_message whose append waits for the commit (a store that
  /// defers its appends): what finish_message needs then.
  struct queued_message {
    connection* from;
    ref_type ref;
    std::optional<std::string> client_msg_id;
    std::string room;
    std::size_t ticket;   // message_store::take_appends' index
    std::uint64_t write;  // the commit_queue write
    std::size_t place;    // the commit_queue place of its sends
    bool typing_stopped;
  };
  enum class droppable : bool { no, yes };

  // Plumbing: errors, encoding, sending, closing, committing.
  connection* find(const connection_id& id);
  template <class F>
  void guarded(connection* c, F&& f) noexcept;
  /// The body of an entry point that returns a result: `f` guarded
  /// (errc::internal when it throws), then the end of the call.
  template <class R, class F>
  R guarded_call(F&& f);
  void report(std::string_view what) noexcept;
  template <class Event>
  payload_ptr make(const Event& e, const ref_type& ref = std::nullopt);
  void deliver(connection& c, const payload_ptr& p);
  void send_now(connection& c, const payload_ptr& p, bool queued_before_close = false);
  bool behind(connection& c);
  bool skip_droppable(connection& c);
  void resync_presence(connection& c, payload_ptr& online);
  payload_ptr presence_frame();
  template <class Event>
  void reply(connection& c, const Event& e, const ref_type& ref = std::nullopt);
  void reply_error(connection& c, errc code, std::string text, std::optional<std::string> request_type,
                   std::optional<std::string> field, const ref_type& ref);
  void to_room(const std::string& room, const payload_ptr& p, const connection* except,
               droppable drop = droppable::no);
  void to_watchers(const std::string& room, const payload_ptr& p);
  void to_room_and_watchers(const std::string& room, const payload_ptr& p);
  void share(cluster_audience to, const std::string& room, const payload_ptr& p,
             std::uint64_t seq = 0, const connection* except = nullptr, bool local = false);
  bool ordered_by_link(const std::string& room) const;
  /// In a cluster: `user_id` is in `room` on another node too (one
  /// operator_joined per user and room cluster-wide, one operator_left).
  bool member_elsewhere(const std::string& room, const std::string& user_id) const {
    return link_ != nullptr && link_->member_elsewhere(room, user_id);
  }
  void share_committed(bool committed);
  void to_room_except(cluster_audience to, const std::string& room, const payload_ptr& p,
                      std::string_view except);
  void request_close(connection& c, std::uint16_t code, std::string_view reason);
  void drain_closes();
  template <class It>
  void retire(It it);
  void finish();
  void note_write(connection* requester, const ref_type& ref, std::string_view request_type);
  bool commit_outbox();
  void queue_message(connection& c, append_request&& req, const ref_type& ref,
                     std::optional<std::string> client_msg_id);
  void finish_message(const queued_message& q, std::vector<result<append_result>>& appended);
  void forget(connection& c);
  void announce_presence(const presence_entry& e);
  bool admit(connection& c, const std::string_view* frame);

  // Events: one handler per client event, then what they share.
  void handle_frame(connection& c, std::string_view frame);
  template <class Event>
  bool require_member(connection& c, const Event& ev, const ref_type& ref);
  template <class R, class Event>
  bool store_failed(connection& c, const R& r, const Event&, const ref_type& ref);
  void on_event(connection& c, const client_events::auth& ev, const ref_type& ref);
  void on_event(connection& c, const client_events::join_room& ev, const ref_type& ref);
  std::vector<user_ref> members_of(const std::string& room) const;
  void on_event(connection& c, const client_events::leave_room& ev, const ref_type& ref);
  void on_event(connection& c, const client_events::watch_inbox& ev, const ref_type& ref);
  void on_event(connection& c, const client_events::unwatch_inbox&, const ref_type& ref);
  void on_event(connection& c, client_events::send_message& ev, const ref_type& ref);
  /// `m` as an rvalue moves into the outbound queue instead of a copy.
  template <class Message>
  void publish(Message&& m, const session_state& session, const connection* except,
               std::string_view message_json = {});
  bool attach_upload(connection& c, const client_events::send_message& ev, append_request& req,
                     const ref_type& ref);
  template <class Messages>
  void sign_urls(Messages& messages) const;
  result<void> pending_file(const inbound_message& in, system_time now);
  void push_customer(std::string_view conversation_id, const customer_profile* known);
  result<attachment_update> finish_upload(std::string_view id, attachment_status status,
                                          std::string_view content, std::string_view content_type);
  result<append_result> ingest_user_message(const inbound_message& in);
  result<void> prepare_user_message(const inbound_message& in, append_request& req);
  session_state announce_user_message(append_result& stored, const std::string& room,
                                      bool own_commit);
  std::vector<result<append_result>> ingest_user_messages(const std::vector<inbound_message>& ms);
  result<append_result> ingest_operator_message(const identity& who, std::string_view conversation_id,
                                                std::string_view raw_text,
                                                std::string_view client_msg_id);
  void on_event(connection& c, const client_events::typing_start& ev, const ref_type& ref);
  void on_event(connection& c, const client_events::typing_stop& ev, const ref_type& ref);
  void on_event(connection& c, const client_events::claim_session& ev, const ref_type& ref);
  void on_event(connection& c, const client_events::release_session& ev, const ref_type& ref);
  void on_event(connection& c, const client_events::close_session& ev, const ref_type& ref);
  template <class Broadcast, class Event, class Rule>
  void change_session(connection& c, const Event& ev, const ref_type& ref, Rule&& rule);
  void on_event(connection& c, const client_events::mark_read& ev, const ref_type& ref);
  void on_event(connection& c, const client_events::ping&, const ref_type& ref);

  Transport& transport_;
  Clock& clock_;
  message_store& store_;
  authenticator& auth_;
  hub_config config_;
  hub_stats stats_;
  error_handler on_error_;
  outbound_handler on_outbound_;
  attachment_url_signer sign_url_;
  customer_resolver customer_of_;
  std::function<void(const customer_profile&)> learn_customer_;

  std::unordered_map<connection_id, std::unique_ptr<connection>> connections_;
  room_registry<handle> rooms_;
  presence_tracker presence_;
  // The last presence_update frame, reused while neither the list
  // (presence_.version()) nor the millisecond of its timestamp changed.
  payload_ptr presence_frame_;
  std::uint64_t presence_frame_version_ = 0;
  system_time presence_frame_time_{};
  typing_tracker<handle, time_point> typing_;
  std::unordered_set<handle> watchers_;
  commit_queue commit_;  // writes, what waits for their commit, and the closes behind it
  std::function<void()> request_commit_;
  std::uint64_t next_connection_number_ = 0;
  cluster_link* link_ = nullptr;
  struct pending_share {
    std::uint64_t write;  // the commit_queue write it depends on (0: none)
    cluster_event event;
    std::size_t place = commit_queue::no_place;  // else: share_places_[place] goes here
  };
  std::vector<pending_share> shares_;  // events for link_ waiting for this turn's commit
  std::vector<std::vector<pending_share>> share_places_;  // by commit_queue place
  std::vector<queued_message> queued_messages_;
  // A delivery's queued appends (post_user_messages): their tickets, and
  // their results as commit_outbox takes them (failures if it failed).
  std::vector<std::size_t> inbound_tickets_;
  std::vector<result<append_result>> inbound_results_;
  std::unordered_set<std::string> message_rooms_;  // rooms with a new_message in shares_
  std::unordered_map<std::string, std::size_t> remote_connections_;  // other nodes' share of presence_
};

}  // namespace livechat::server

#include <livechat/server/impl/hub.hpp>
#include <livechat/server/impl/hub_events.hpp>
#include <livechat/server/impl/hub_ingest.hpp>
#include <livechat/server/impl/hub_attachments.hpp>
#include <livechat/server/impl/hub_customers.hpp>

#endif
