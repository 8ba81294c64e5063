// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// A second translation unit that includes every public header (through the
// umbrella) again. A non-template function defined at namespace scope without
// `inline` then exists in two object files and the link fails with "multiple
// definition", instead of the mistake hiding until a user's project has two
// TUs of its own.
#include <livechat/livechat.hpp>
