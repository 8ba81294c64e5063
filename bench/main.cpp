// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// main() of livechat_bench: runs the benchmarks like BENCHMARK_MAIN() (every
// --benchmark_* flag works as usual), remembers each run's time per
// iteration, and then prints the figures that need two benchmarks at once:
// the hub's cost per extra recipient and the codec's ratios to bare
// RapidJSON. See bench/README.md for what each figure means.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

namespace {

/// Forwards everything to the display reporter that --benchmark_format
/// selects and keeps, by benchmark name, the CPU time per iteration (ns) of
/// every repetition, and the `median` aggregate when one is reported (the
/// only figure left with --benchmark_report_aggregates_only=true).
class capture_reporter final : public benchmark::BenchmarkReporter {
 public:
  explicit capture_reporter(benchmark::BenchmarkReporter* display) : display_(display) {}

  bool ReportContext(const Context& context) override { return display_->ReportContext(context); }

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred || run.iterations <= 0) continue;
      std::string name = run.run_name.function_name;
      if (!run.run_name.args.empty()) name += "/" + run.run_name.args;
      const double ns = run.GetAdjustedCPUTime() / benchmark::GetTimeUnitMultiplier(run.time_unit) * 1e9;
      figures& f = figures_[name];
      if (run.run_type == Run::RT_Iteration) {
        f.runs.push_back(ns);
      } else if (run.aggregate_name == "median" && run.aggregate_unit == benchmark::kTime) {
        f.median = ns;
        f.repetitions = static_cast<std::size_t>(run.iterations);  // an aggregate's iterations = repetitions
      }
    }
    display_->ReportRuns(runs);
  }

  void Finalize() override { display_->Finalize(); }

  /// Median over the repetitions, or a negative number when `name` did not run.
  double median_ns(const std::string& name) const {
    auto it = figures_.find(name);
    if (it == figures_.end()) return -1.0;
    const figures& f = it->second;
    if (f.median >= 0) return f.median;
    if (f.runs.empty()) return -1.0;
    std::vector<double> v = f.runs;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
  }

  std::size_t repetitions(const std::string& name) const {
    auto it = figures_.find(name);
    if (it == figures_.end()) return 0;
    return std::max(it->second.repetitions, it->second.runs.size());
  }

  /// The `/N` arguments that ran for `function`, ascending.
  std::vector<std::int64_t> args_of(const std::string& function) const {
    std::vector<std::int64_t> out;
    const std::string prefix = function + "/";
    for (const auto& entry : figures_) {
      const std::string& name = entry.first;
      if (name.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string arg = name.substr(prefix.size());
      if (arg.empty() || arg.find_first_not_of("0123456789") != std::string::npos) continue;
      out.push_back(std::stoll(arg));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  struct figures {
    std::vector<double> runs;  ///< one per repetition
    double median = -1.0;      ///< the `median` aggregate, when reported
    std::size_t repetitions = 0;
  };

  benchmark::BenchmarkReporter* display_;
  std::map<std::string, figures> figures_;
};

const char* verdict(bool met) { return met ? "met" : "MISSED"; }

void print_derived(const capture_reporter& r, std::FILE* out) {
  std::string text;
  char line[256];
  auto add = [&](int n) {
    if (n > 0) text.append(line, std::min(static_cast<std::size_t>(n), sizeof line - 1));
  };

  // Hub: fixed cost per message, then the slope from the smallest to the
  // largest room that ran.
  const std::string hub = "BM_hub_send_message";
  const std::vector<std::int64_t> sizes = r.args_of(hub);
  for (std::int64_t n : sizes) {
    const std::string name = hub + "/" + std::to_string(n);
    const double t = r.median_ns(name);
    add(std::snprintf(line, sizeof line, "hub   send_message, %6lld recipients: %10.1f ns/message  %8.2f ns/recipient\n",
                      static_cast<long long>(n), t, t / static_cast<double>(n)));
  }
  if (sizes.size() >= 2) {
    const std::int64_t lo = sizes.front();
    const std::int64_t hi = sizes.back();
    const double t_lo = r.median_ns(hub + "/" + std::to_string(lo));
    const double t_hi = r.median_ns(hub + "/" + std::to_string(hi));
    const double extra = (t_hi - t_lo) / static_cast<double>(hi - lo);
    add(std::snprintf(line, sizeof line,
                      "hub   per extra recipient (t(%lld) - t(%lld)) / %lld: %.2f ns   [target <= 50 ns: %s]\n",
                      static_cast<long long>(hi), static_cast<long long>(lo),
                      static_cast<long long>(hi - lo), extra, verdict(extra <= 50.0)));
  }

  // Codec: ratios to bare RapidJSON on the same bytes.
  auto ratio = [&](const char* label, const char* num, const char* den, double target) {
    const double a = r.median_ns(num);
    const double b = r.median_ns(den);
    if (a < 0 || b <= 0) return;
    const double q = a / b;
    if (target > 0)
      add(std::snprintf(line, sizeof line, "codec %-44s %6.2fx  (%.1f / %.1f ns)   [target <= %.0fx: %s]\n",
                        label, q, a, b, target, verdict(q <= target)));
    else
      add(std::snprintf(line, sizeof line, "codec %-44s %6.2fx  (%.1f / %.1f ns)\n", label, q, a, b));
  };
  ratio("decode / bare parse (default flags)", "BM_decode_send_message", "BM_bare_parse", 2.0);
  ratio("decode / bare parse (codec's flags)", "BM_decode_send_message", "BM_bare_parse_codec_flags", 2.0);
  ratio("encode / bare Writer<StringBuffer>", "BM_encode_new_message", "BM_bare_write_new_message", 0);

  if (text.empty()) return;
  std::size_t reps = 0;
  for (const char* n : {"BM_bare_parse", "BM_encode_new_message"}) reps = std::max(reps, r.repetitions(n));
  if (!sizes.empty()) reps = std::max(reps, r.repetitions(hub + "/" + std::to_string(sizes.front())));
  std::fprintf(out, "\nDerived figures (CPU time per iteration; median of %zu repetition%s)\n%s", reps,
               reps == 1 ? "" : "s", text.c_str());
  std::fflush(out);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::BenchmarkReporter* display = benchmark::CreateDefaultDisplayReporter();
  capture_reporter reporter(display);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  // Console output: the figures follow the table. JSON/CSV: keep stdout
  // machine-readable and put them on stderr.
  std::fflush(stdout);
  display->GetOutputStream().flush();
  const bool console = dynamic_cast<benchmark::ConsoleReporter*>(display) != nullptr;
  print_derived(reporter, console ? stdout : stderr);
  benchmark::Shutdown();
  return 0;
}
