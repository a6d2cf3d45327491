// One line per event on standard error: a UTC timestamp, the level, the event
// name and key=value fields ("2026-11-29T07:30:00.123Z info connect session=..").
// Each line is written with a single write(2), so lines from several threads
// never interleave. Values that may come from a client go through quoted(),
// which escapes control bytes and quotes values containing spaces.
// Never pass a secret here.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace submitd::core {

enum class log_level { debug = 0, info = 1, warn = 2, error = 3 };

void set_log_level(log_level level);
log_level current_log_level();
/// Parses "debug", "info", "warn" or "error".
bool parse_log_level(std::string_view text, log_level& out);

/// Writes one line: timestamp, level, then `text` (which must not contain LF).
void write_log_line(log_level level, std::string_view text);

/// A value safe for a key=value log line: printable ASCII kept, other bytes as
/// \xNN, the whole in double quotes when empty or containing space, '"' or '='.
/// Truncated to `max` bytes of input (with "..." appended).
std::string quoted(std::string_view value, std::size_t max = 200);

/// True when lines of `level` are written: callers whose arguments cost
/// something to build (quoted(), formatting) check this first.
inline bool log_enabled(log_level level) {
    return level >= current_log_level();
}

template <class... Args>
void log(log_level level, fmt::format_string<Args...> format, Args&&... args) {
    if (level < current_log_level()) return;
    write_log_line(level, fmt::format(format, std::forward<Args>(args)...));
}

template <class... Args>
void log_debug(fmt::format_string<Args...> format, Args&&... args) {
    log(log_level::debug, format, std::forward<Args>(args)...);
}
template <class... Args>
void log_info(fmt::format_string<Args...> format, Args&&... args) {
    log(log_level::info, format, std::forward<Args>(args)...);
}
template <class... Args>
void log_warn(fmt::format_string<Args...> format, Args&&... args) {
    log(log_level::warn, format, std::forward<Args>(args)...);
}
template <class... Args>
void log_error(fmt::format_string<Args...> format, Args&&... args) {
    log(log_level::error, format, std::forward<Args>(args)...);
}

}  // namespace submitd::core
