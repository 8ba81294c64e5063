// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PROTOCOL_DETAIL_PARSE_ARENA_HPP
#define LIVECHAT_PROTOCOL_DETAIL_PARSE_ARENA_HPP

// Stack memory for one RapidJSON DOM parse of a frame, so a typical frame
// never touches the heap.
//
// Why the sizes matter: MemoryPoolAllocator keeps its chunk header (three
// words) at the start of a user buffer, and a request that does not fit in
// what is left makes it malloc a whole 64 KiB chunk and free it after the
// parse. Both are in glibc's large bins, and a large request runs
// malloc_consolidate over every small chunk freed since the last one: on a
// server that has just written a broadcast to a thousand sockets, that
// walk cost more per message than the parse itself. The parse needs the
// document's value stack (GenericDocument's stackCapacity, 1 KiB) and the
// reader's own stack (256 bytes to start, where each string is decoded, so
// it grows with the longest string) from one allocator, and the values
// (objects reserve 16 members of 32 bytes, strings are copied) from the
// other.

#include <cstddef>
#include <string_view>

#include <rapidjson/document.h>

namespace livechat::detail {

/// The buffers and the two pool allocators over them. Construct it on the
/// stack, parse one frame with `parse_frame`, read the document, let both go.
/// Not copyable or movable (the document points into it).
struct parse_arena {
  /// Values: a frame's strings and members up to ~7 KiB in all, e.g. a
  /// `send_message` with the longest ASCII text PROTOCOL.md allows.
  static constexpr std::size_t value_bytes = 8 * 1024;
  /// Both parse stacks: the reader's first 256 bytes, the document's 1 KiB
  /// after them, then the reader's again, growing by half in place: a
  /// decoded string of up to ~6.5 KiB fits.
  static constexpr std::size_t stack_bytes = 8 * 1024;
  /// The document's initial value stack (RapidJSON's default).
  static constexpr std::size_t document_stack = 1024;

  alignas(std::max_align_t) char value_buffer[value_bytes];
  alignas(std::max_align_t) char stack_buffer[stack_bytes];
  rapidjson::MemoryPoolAllocator<> values{value_buffer, value_bytes};
  rapidjson::MemoryPoolAllocator<> stack{stack_buffer, stack_bytes};

  parse_arena() = default;
  parse_arena(const parse_arena&) = delete;
  parse_arena& operator=(const parse_arena&) = delete;

  /// True while nothing was allocated beyond the two buffers (what the
  /// tests check for typical frames).
  bool in_place() const {
    return values.Capacity() <= value_bytes && stack.Capacity() <= stack_bytes;
  }
};

/// A DOM whose values and parse stack both come from a parse_arena.
using arena_document = rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>,
                                                  rapidjson::MemoryPoolAllocator<>>;

/// Parses `frame` into `doc` (constructed with `make_document(arena)`):
/// iterative, so deep nesting cannot overflow the thread's stack; UTF-8 is
/// validated unless `ascii` says the frame is plain ASCII (then there is
/// nothing to validate, and skipping it saves about two thirds of a parse).
inline void parse_frame(arena_document& doc, std::string_view frame, bool ascii) {
  if (ascii)
    doc.Parse<rapidjson::kParseIterativeFlag>(frame.data(), frame.size());
  else
    doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(frame.data(),
                                                                                     frame.size());
}

/// An empty document over `arena`.
inline arena_document make_document(parse_arena& arena) {
  return arena_document(&arena.values, parse_arena::document_stack, &arena.stack);
}

}  // namespace livechat::detail

#endif
