// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_TESTS_FUZZ_FUZZ_CHECK_HPP
#define LIVECHAT_TESTS_FUZZ_FUZZ_CHECK_HPP

// What the fuzz harnesses share: a check that aborts (libFuzzer reports an
// abort as a crash and keeps the input; the replay runner dies with it, so
// the ctest case fails). The "everything we hand out is valid UTF-8"
// invariants use livechat::detail::is_valid_utf8: the codec and the webhook
// parser validate with RapidJSON instead, so it is independent of what it
// checks there, and tests/utf8.test.cpp holds it against RapidJSON's
// validator on every string of one or two bytes and every three-byte string
// that starts with a lead byte.

#include <cstdio>
#include <cstdlib>

#include <livechat/detail/utf8.hpp>  // is_valid_utf8, for the harnesses

namespace livechat_fuzz {

[[noreturn]] inline void fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz invariant violated: %s\n", file, line, what);
  std::abort();
}

}  // namespace livechat_fuzz

#define LIVECHAT_FUZZ_CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::livechat_fuzz::fail(#cond, __FILE__, __LINE__))

#endif
