// Log line writer; see log.hpp.
#include "core/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>

namespace submitd::core {

namespace {
std::atomic<int> g_level{static_cast<int>(log_level::info)};

const char* level_name(log_level level) {
    switch (level) {
        case log_level::debug:
            return "debug";
        case log_level::info:
            return "info";
        case log_level::warn:
            return "warn";
        case log_level::error:
            return "error";
    }
    return "info";
}
}  // namespace

void set_log_level(log_level level) {
    g_level.store(static_cast<int>(level));
}
log_level current_log_level() {
    return static_cast<log_level>(g_level.load());
}

bool parse_log_level(std::string_view text, log_level& out) {
    for (auto level : {log_level::debug, log_level::info, log_level::warn, log_level::error}) {
        if (text == level_name(level)) {
            out = level;
            return true;
        }
    }
    return false;
}

void write_log_line(log_level level, std::string_view text) {
    using namespace std::chrono;
    auto now = system_clock::now();
    auto secs = system_clock::to_time_t(now);
    auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    std::string line = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {} ",
                                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                   tm.tm_min, tm.tm_sec, ms, level_name(level));
    line.append(text);
    line.push_back('\n');
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        ssize_t n = ::write(STDERR_FILENO, p, left);
        if (n <= 0) return;
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

std::string quoted(std::string_view value, std::size_t max) {
    bool truncated = value.size() > max;
    if (truncated) value = value.substr(0, max);
    bool needs_quotes = value.empty();
    std::string out;
    out.reserve(value.size() + 2);
    for (unsigned char c : value) {
        if (c == ' ' || c == '=' || c == '"') needs_quotes = true;
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c < 0x20 || c >= 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    if (truncated) out += "...";
    if (needs_quotes) return "\"" + out + "\"";
    return out;
}

}  // namespace submitd::core
