// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_COMMON_COMMAND_LINE_HPP
#define LIVECHAT_EXAMPLES_COMMON_COMMAND_LINE_HPP

// What livechat-server and livechat-client share on top of CLI11: how every
// flag reads its value, the help layout, and the outcome of parsing as a
// value (options to run with, or text and an exit code), so parsing stays a
// pure function of argv that reports a mistake before any socket is opened.
//
// Every flag is added with trigger_on_parse: its value is checked the moment
// it is read, so the first mistake on the command line is the one reported
// and a --help or --version before it still wins, as with getopt.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

namespace livechat_examples {

/// Exit code of a usage error, the getopt convention, so scripts can tell
/// "bad flags" from "the program failed".
inline constexpr int exit_usage = 2;

template <class Options>
struct parse_result {
  Options opts;
  std::optional<int> exit_code;  ///< set: print `message` and exit with it
  std::string message;           ///< stdout when exit_code is 0, else stderr
};

/// CLI11's layout with the usage line first (what `--help | head -1` and
/// our tests read), then the description, the option groups one blank line
/// apart, and the footer. Group names carry the section's explanation.
class help_formatter final : public CLI::Formatter {
 public:
  /// `width`: of the column of flag names, the indent of their help.
  help_formatter(std::string usage, std::size_t width) : usage_(std::move(usage)) {
    column_width(width);
  }

  std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode mode) const override {
    return usage_ + "\n\n" + make_description(app) + "\n" + make_groups(app, mode) + "\n" +
           make_footer(app);
  }
  std::string make_group(std::string group, bool is_positional,
                         std::vector<const CLI::Option*> opts) const override {
    std::string out = group + ":\n";
    for (const CLI::Option* opt : opts) out += make_option(opt, is_positional);
    return out;
  }

 private:
  std::string usage_;
};

/// Our help layout, then `--help`/`-h` and `--version` (both exit 0 and
/// print to stdout), listed last in `group`: call after adding the flags.
inline void add_help_and_version(CLI::App& app, std::string usage, std::size_t width,
                                 const std::string& version, const std::string& group) {
  app.formatter(std::make_shared<help_formatter>(std::move(usage), width));
  // CLI11's own help flag is looked at only after every other flag has
  // been read; ours stops at once, like --version.
  app.set_help_flag();
  app.add_flag_callback("--help,-h", [] { throw CLI::CallForHelp(); }, "print this help and exit")
      ->group(group)
      ->disable_flag_override()
      ->trigger_on_parse();
  app.set_version_flag("--version", version, "print the version and exit")
      ->group(group)
      ->disable_flag_override()
      ->trigger_on_parse();
}

/// The checks every value makes before its own: a value that is one of
/// our flags is a forgotten value ("--port --host x" is not a port named
/// "--host"), and an empty value is always a mistake (an unset shell
/// variable, usually).
inline void check_value(const CLI::App& app, const std::string& flag, const std::string& value) {
  if (value.size() > 1 && value[0] == '-' && app.get_option_no_throw(value) != nullptr)
    throw CLI::ValidationError(flag + " needs a value");
  if (value.empty()) throw CLI::ValidationError(flag + " needs a non-empty value");
}

/// What a flag's `set` throws for a bad value: `what` names the flag, says
/// what it takes, and quotes the value (never a secret's).
[[noreturn]] inline void bad_value(const std::string& what) { throw CLI::ValidationError(what); }

/// Adds `flag VALUE_NAME` (also `flag=VALUE`): `set(value)` runs at once,
/// after check_value, and throws CLI::ValidationError for a bad value.
template <class Set>
CLI::Option* add_value(CLI::App& app, const std::string& flag, const std::string& value_name,
                       const std::string& help, Set set) {
  return app
      .add_option_function<std::string>(
          flag,
          [&app, flag, set](const std::string& value) {
            check_value(app, flag, value);
            set(value);
          },
          help)
      ->type_name(value_name)
      ->trigger_on_parse();
}

/// Adds a switch that takes no value (`flag=x` is refused).
template <class Set>
CLI::Option* add_switch(CLI::App& app, const std::string& flag, const std::string& help, Set set) {
  return app.add_flag_callback(flag, set, help)->disable_flag_override()->trigger_on_parse();
}

/// Digits only, at most `max_digits` of them, and at most `max`: "80x",
/// "-1", "+80", " 80", "1e3" and "" are all refused, because a number
/// silently read as something else is worse than an error.
inline std::optional<std::uint64_t> parse_digits(std::string_view s, std::size_t max_digits,
                                                 std::uint64_t max) noexcept {
  if (s.empty() || s.size() > max_digits || max_digits > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

/// Adds a flag that takes an unsigned integer in [min, max]. The ranges
/// are wide enough for any real deployment and narrow enough that a typo (a
/// timeout in seconds given as milliseconds, a byte count of 1) is reported
/// instead of running a program that cannot work.
template <class Set>
void add_uint(CLI::App& app, const char* group, const std::string& flag, const std::string& help,
              std::uint64_t min, std::uint64_t max, Set set) {
  add_value(app, flag, "N", help, [flag, min, max, set](const std::string& value) {
    const auto v = parse_digits(value, 19, max);
    if (!v || *v < min)
      bad_value(flag + " must be an integer from " + std::to_string(min) + " to " +
                std::to_string(max) + ", got '" + value + "'");
    set(*v);
  })->group(group);
}

template <class Options>
parse_result<Options> usage_error(const std::string& program, const std::string& what) {
  parse_result<Options> r;
  r.exit_code = exit_usage;
  r.message = program + ": " + what + "\ntry '" + program + " --help' for the options\n";
  return r;
}

/// Runs `app` over argv into `r`. False when the program should stop:
/// --help and --version (exit 0, text for stdout), or a mistake (exit 2,
/// "PROGRAM: what" for stderr).
template <class Options>
bool parse(CLI::App& app, int argc, const char* const* argv, parse_result<Options>& r) {
  try {
    app.parse(argc, argv);
    return true;
  } catch (const CLI::CallForHelp&) {
    r.exit_code = 0;
    r.message = app.help();
  } catch (const CLI::CallForVersion& e) {
    r.exit_code = 0;
    r.message = std::string(e.what()) + "\n";
  } catch (const CLI::ArgumentMismatch& e) {
    // CLI11 2.1 names a switch given a value (`--switch=x`) without its
    // dashes; say it the way the user wrote it.
    std::string what = e.what();
    const std::string_view tail = " was given a disallowed flag override";
    if (what.size() > tail.size() && what.compare(what.size() - tail.size(), tail.size(), tail) == 0) {
      what.resize(what.size() - tail.size());
      what = (what.size() > 1 ? "--" : "-") + what + " takes no value";
    }
    r = usage_error<Options>(app.get_name(), what);
  } catch (const CLI::ParseError& e) {
    r = usage_error<Options>(app.get_name(), e.what());
  }
  return false;
}

}  // namespace livechat_examples

#endif
