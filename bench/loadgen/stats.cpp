// Merging, percentiles and reports; see stats.hpp.
#include "loadgen/stats.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>

namespace submitd::bench {

namespace {

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c < 0x20) {
            out.append(fmt::format("\\u{:04x}", c));
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    out.push_back('"');
    return out;
}

std::string json_errors(const std::vector<std::string>& errors) {
    std::string out = "[";
    for (std::size_t i = 0; i < errors.size(); ++i) {
        if (i > 0) out.append(", ");
        out.append(json_string(errors[i]));
    }
    out.push_back(']');
    return out;
}

std::string json_ms(const std::optional<double>& v) {
    return v ? fmt::format("{:.3f}", *v) : std::string("null");
}

std::string text_ms(const std::optional<double>& v) {
    return v ? fmt::format("{:.3f} ms", *v) : std::string("n/a");
}

double share(double cpu_s, double elapsed_s) {
    return elapsed_s > 0 ? cpu_s / elapsed_s : 0;
}

}  // namespace

void stats::merge(stats&& other) {
    ok += other.ok;
    failed += other.failed;
    ok_bytes += other.ok_bytes;
    dropped += other.dropped;
    latency_ns.insert(latency_ns.end(), other.latency_ns.begin(), other.latency_ns.end());
    session_ns.insert(session_ns.end(), other.session_ns.begin(), other.session_ns.end());
    for (auto& [text, count] : other.errors)
        add_error(std::move(text), count);
}

void stats::add_error(std::string text, std::uint64_t count) {
    for (auto& e : errors) {
        if (e.first == text) {
            e.second += count;
            return;
        }
    }
    if (errors.size() < max_error_texts) errors.emplace_back(std::move(text), count);
}

std::vector<std::string> stats::error_texts() const {
    std::vector<std::string> out;
    for (const auto& [text, count] : errors)
        out.push_back(count > 1 ? fmt::format("{} ({} times)", text, count) : text);
    return out;
}

std::optional<double> percentile_ms(std::vector<std::uint64_t>& samples, double p) {
    if (samples.empty()) return std::nullopt;
    auto rank =
        static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(samples.size())));
    std::size_t index = std::clamp<std::size_t>(rank, 1, samples.size()) - 1;
    std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(index),
                     samples.end());
    return static_cast<double>(samples[index]) / 1e6;
}

load_report make_load_report(stats& s, double elapsed_s, double cpu_s) {
    load_report r;
    r.ok = s.ok;
    r.failed = s.failed;
    r.elapsed_s = elapsed_s;
    r.msgs_per_s = elapsed_s > 0 ? static_cast<double>(s.ok) / elapsed_s : 0;
    r.mb_per_s = elapsed_s > 0 ? static_cast<double>(s.ok_bytes) / elapsed_s / 1e6 : 0;
    r.p50_ms = percentile_ms(s.latency_ns, 50);
    r.p99_ms = percentile_ms(s.latency_ns, 99);
    r.session_p50_ms = percentile_ms(s.session_ns, 50);
    r.session_p99_ms = percentile_ms(s.session_ns, 99);
    r.cpu_s = cpu_s;
    r.cpu_share = share(cpu_s, elapsed_s);
    r.errors = s.error_texts();
    return r;
}

std::string format_text(const load_report& r) {
    std::string out = fmt::format(
        "messages  ok {} failed {} in {:.3f} s\n"
        "rate      {:.1f} msgs/s, {:.3f} MB/s\n"
        "latency   p50 {} p99 {}\n"
        "session   p50 {} p99 {}\n"
        "cpu       {:.3f} s ({:.1f}% of elapsed)\n",
        r.ok, r.failed, r.elapsed_s, r.msgs_per_s, r.mb_per_s, text_ms(r.p50_ms), text_ms(r.p99_ms),
        text_ms(r.session_p50_ms), text_ms(r.session_p99_ms), r.cpu_s, r.cpu_share * 100);
    for (const auto& e : r.errors)
        out.append(fmt::format("error     {}\n", e));
    return out;
}

std::string format_json(const load_report& r) {
    return fmt::format(
        "{{\"ok\": {}, \"failed\": {}, \"elapsed_s\": {:.6f}, \"msgs_per_s\": {:.3f}, "
        "\"mb_per_s\": {:.6f}, \"p50_ms\": {}, \"p99_ms\": {}, \"session_p50_ms\": {}, "
        "\"session_p99_ms\": {}, \"cpu_s\": {:.6f}, \"cpu_share\": {:.6f}, \"errors\": {}}}\n",
        r.ok, r.failed, r.elapsed_s, r.msgs_per_s, r.mb_per_s, json_ms(r.p50_ms), json_ms(r.p99_ms),
        json_ms(r.session_p50_ms), json_ms(r.session_p99_ms), r.cpu_s, r.cpu_share,
        json_errors(r.errors));
}

std::string format_text(const idle_report& r) {
    std::string out = fmt::format(
        "idle      ready {} failed {} dropped {}\n"
        "time      ready after {:.3f} s, held {:.3f} s in all\n"
        "cpu       {:.3f} s ({:.1f}% of elapsed)\n",
        r.ready, r.failed, r.dropped, r.ready_s, r.elapsed_s, r.cpu_s,
        share(r.cpu_s, r.elapsed_s) * 100);
    for (const auto& e : r.errors)
        out.append(fmt::format("error     {}\n", e));
    return out;
}

std::string format_json(const idle_report& r) {
    return fmt::format(
        "{{\"ready\": {}, \"failed\": {}, \"dropped\": {}, \"ready_s\": {:.6f}, "
        "\"elapsed_s\": {:.6f}, \"cpu_s\": {:.6f}, \"cpu_share\": {:.6f}, \"errors\": {}}}\n",
        r.ready, r.failed, r.dropped, r.ready_s, r.elapsed_s, r.cpu_s, share(r.cpu_s, r.elapsed_s),
        json_errors(r.errors));
}

}  // namespace submitd::bench
