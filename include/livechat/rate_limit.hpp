// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_RATE_LIMIT_HPP
#define LIVECHAT_RATE_LIMIT_HPP

// The token bucket the hub limits each connection's frames with
// (detail/token_bucket.hpp), for an application's own limits that must
// count alike, e.g. a per-user limit on writes arriving over HTTP.

#include <livechat/detail/token_bucket.hpp>

namespace livechat {

/// Size (`burst`) and refill pace (`per_second`) of a family of buckets.
using detail::token_rate;

/// One bucket: its tokens and the time of its last refill; the rate is
/// passed to every call. `try_take` admits or refuses one unit,
/// `seconds_to_token` says how long a refused caller waits, `full_at`
/// tells when a table of buckets may drop one.
/// @tparam TimePoint  the clock's `time_point`
template <class TimePoint>
using token_bucket = detail::token_bucket<TimePoint>;

}  // namespace livechat

#endif
