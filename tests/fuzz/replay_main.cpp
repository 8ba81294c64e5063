// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// A main() for the fuzz harnesses when built without libFuzzer (any
// compiler, the normal and sanitizer trees): runs every file named on the
// command line, and every regular file in every directory named there
// (recursively, in sorted order), through LLVMFuzzerTestOneInput once.
// This replays the committed corpus, crashers included, as an ordinary
// ctest case; an invariant violation aborts and fails it.
//
// Exit status: 0 when every input ran, 1 when an argument cannot be read
// or no input was found at all (an empty corpus tests nothing).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

bool read_file(const std::filesystem::path& p, std::vector<char>& out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg(argv[i]);
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      for (fs::recursive_directory_iterator it(arg, ec), end; !ec && it != end; it.increment(ec))
        if (it->is_regular_file(ec)) inputs.push_back(it->path());
      if (ec) {
        std::fprintf(stderr, "replay: cannot list %s: %s\n", argv[i], ec.message().c_str());
        return 1;
      }
    } else if (fs::is_regular_file(arg, ec)) {
      inputs.push_back(arg);
    } else {
      std::fprintf(stderr, "replay: %s is neither a file nor a directory\n", argv[i]);
      return 1;
    }
  }
  std::sort(inputs.begin(), inputs.end());
  if (inputs.empty()) {
    std::fprintf(stderr, "replay: no input (usage: %s FILE_OR_DIR...)\n", argc > 0 ? argv[0] : "replay");
    return 1;
  }

  std::size_t bytes = 0;
  std::vector<char> buf;
  for (const auto& p : inputs) {
    if (!read_file(p, buf)) {
      std::fprintf(stderr, "replay: cannot read %s\n", p.string().c_str());
      return 1;
    }
    // Print first: when the input crashes, the last line names it.
    std::fprintf(stderr, "replay: %s (%zu bytes)\n", p.string().c_str(), buf.size());
    // A copy in a buffer of exactly the input's size, as libFuzzer does, so
    // ASan sees any read past its end.
    std::vector<std::uint8_t> data(buf.begin(), buf.end());
    LLVMFuzzerTestOneInput(data.empty() ? nullptr : data.data(), data.size());
    bytes += buf.size();
  }
  std::printf("replay: %zu inputs (%zu bytes) passed\n", inputs.size(), bytes);
  return 0;
}
