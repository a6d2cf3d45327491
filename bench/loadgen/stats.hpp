// What a run measured: per-thread counters and raw latency samples (every
// sample is kept, so percentiles are exact), merged at the end, and the two
// report formats (text, or one JSON object). Counts failures but keeps only
// the first few distinct failure texts (with their counts).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace submitd::bench {

constexpr std::size_t max_error_texts = 5;

struct stats {
    std::uint64_t ok = 0;
    std::uint64_t failed = 0;
    std::uint64_t ok_bytes = 0;
    std::uint64_t dropped = 0;              ///< idle mode: sessions lost while held
    std::vector<std::uint64_t> latency_ns;  ///< per message, MAIL to final 250
    std::vector<std::uint64_t> session_ns;  ///< per connection, connect to final 250
    /// The first distinct failure texts, each with how often it occurred.
    std::vector<std::pair<std::string, std::uint64_t>> errors;

    void add_error(std::string text, std::uint64_t count = 1);
    void merge(stats&& other);
    /// The error texts, "(N times)" appended where N > 1.
    std::vector<std::string> error_texts() const;
};

/// Nearest-rank percentile (p in (0, 100]) in milliseconds; reorders samples.
std::optional<double> percentile_ms(std::vector<std::uint64_t>& samples, double p);

struct load_report {
    std::uint64_t ok = 0;
    std::uint64_t failed = 0;
    double elapsed_s = 0;
    double msgs_per_s = 0;
    double mb_per_s = 0;
    std::optional<double> p50_ms, p99_ms, session_p50_ms, session_p99_ms;
    double cpu_s = 0;
    double cpu_share = 0;
    std::vector<std::string> errors;
};

load_report make_load_report(stats& s, double elapsed_s, double cpu_s);
std::string format_text(const load_report& r);
std::string format_json(const load_report& r);

struct idle_report {
    std::uint64_t ready = 0;
    std::uint64_t failed = 0;
    std::uint64_t dropped = 0;
    double ready_s = 0;
    double elapsed_s = 0;
    double cpu_s = 0;
    std::vector<std::string> errors;
};

std::string format_text(const idle_report& r);
std::string format_json(const idle_report& r);

}  // namespace submitd::bench
