// Line splitting and command-line splitting; see line_reader.hpp.
//
// The limit is checked per byte position, never per call, so the events a
// client causes (complete lines, line_too_long) do not depend on how TCP split
// its bytes. The partial line is held in a buffer of at most max_line + 1
// bytes: a client cannot make us buffer an endless line (RFC 5321 section
// 4.5.3.1.4: 512 octets for a command line, 4.5.3.1.6: 1000 for a text line).
// Lines may carry AUTH responses, so every byte we drop is wiped first.
//
// parse_command() reports bad_syntax and empty only; the session answers
// them (500 5.5.2) and decides about 8-bit bytes and length of the arguments.
#include "smtp/line_reader.hpp"

#include <algorithm>

#include "core/secret.hpp"

namespace submitd::smtp {
namespace {

constexpr char cr = '\r';
constexpr char lf = '\n';

/// Longest verb we accept. The longest standard one is STARTTLS (8 letters);
/// room for extensions, not for a client that sends garbage.
constexpr std::size_t max_verb_length = 16;

bool is_space(char c) {
    return c == ' ' || c == '\t';
}
bool is_alpha(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
char to_upper(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

/// Clears `s`, wiping the bytes it held.
void wipe_contents(std::string& s) {
    core::wipe(s.data(), s.size());
    s.clear();
}

}  // namespace

line_reader::~line_reader() {
    core::wipe(line_);
}

line_reader::line_reader(line_reader&& other) noexcept
    : max_line_(other.max_line_),
      line_(std::move(other.line_)),
      complete_(other.complete_),
      discarding_(other.discarding_) {
    other.reset();
}

line_reader& line_reader::operator=(line_reader&& other) noexcept {
    if (this != &other) {
        reset();
        max_line_ = other.max_line_;
        line_ = std::move(other.line_);
        complete_ = other.complete_;
        discarding_ = other.discarding_;
        other.reset();
    }
    return *this;
}

void line_reader::reset() {
    core::wipe(line_);
    complete_ = false;
    discarding_ = false;
}

line_result line_reader::parse(std::span<const char> in) {
    if (complete_) {
        wipe_contents(line_);
        complete_ = false;
    }

    const std::string_view input(in.data(), in.size());
    std::size_t pos = 0;
    if (discarding_) {
        // The tail of an overlong line: drop it, LF included, and go on with
        // the next line, so pipelined commands after it are not lost.
        const std::size_t end = input.find(lf);
        if (end == std::string_view::npos) return {input.size(), line_status::need_more};
        discarding_ = false;
        pos = end + 1;
    }

    const std::size_t end = input.find(lf, pos);
    const bool has_lf = end != std::string_view::npos;
    const std::string_view chunk = input.substr(pos, has_lf ? end - pos : std::string_view::npos);

    // Position (in the whole line) of the byte that passes the limit, if the
    // line reaches it: the byte at index max_line, unless that one is a CR,
    // which may still be the CR of CR LF; then the byte after it (which,
    // being no LF when it is there, makes the line too long either way).
    const std::size_t held = line_.size();
    const std::size_t total = held + chunk.size();
    if (total > max_line_) {
        const char at_limit = max_line_ < held ? line_[max_line_] : chunk[max_line_ - held];
        const std::size_t over = at_limit == cr ? max_line_ + 1 : max_line_;
        if (over < total) {
            // `over` >= held unless set_max_line() shrank the limit under a
            // partial line, which then counts as overlong at once.
            const std::size_t used = over >= held ? over - held + 1 : 0;
            wipe_contents(line_);
            discarding_ = true;
            return {pos + used, line_status::line_too_long};
        }
    }

    append(chunk);
    if (!has_lf) return {input.size(), line_status::need_more};

    if (!line_.empty() && line_.back() == cr) line_.pop_back();
    complete_ = true;
    return {pos + chunk.size() + 1, line_status::complete};
}

void line_reader::append(std::string_view bytes) {
    const std::size_t need = line_.size() + bytes.size();
    if (need > line_.capacity()) {
        // Grow by hand so that the old buffer is wiped before it is freed.
        std::string grown;
        grown.reserve(std::max(need, std::min(2 * line_.capacity(), max_line_ + 1)));
        grown.append(line_);
        core::wipe(line_);
        line_ = std::move(grown);
    }
    line_.append(bytes);
}

// RFC 5321 section 4.1.1: command = verb [SP args] CRLF, the verb being
// letters only ("Verbs ... are case-insensitive"). Clients also send a TAB
// or several spaces; we accept them, as Postfix and Dovecot do.
parsed_command parse_command(std::string_view line) {
    // A NUL or a CR that did not end the line has no business in a command;
    // refusing them here keeps them out of every handler and log line.
    if (line.find('\0') != std::string_view::npos || line.find(cr) != std::string_view::npos) {
        return {command_status::bad_syntax, {}};
    }

    std::size_t i = 0;
    while (i < line.size() && is_space(line[i]))
        ++i;
    if (i == line.size()) return {command_status::empty, {}};

    const std::size_t verb_begin = i;
    while (i < line.size() && !is_space(line[i])) {
        if (!is_alpha(line[i])) return {command_status::bad_syntax, {}};
        ++i;
    }
    if (i - verb_begin > max_verb_length) return {command_status::bad_syntax, {}};

    parsed_command out{command_status::ok, {}};
    out.cmd.verb.reserve(i - verb_begin);
    for (std::size_t j = verb_begin; j < i; ++j)
        out.cmd.verb.push_back(to_upper(line[j]));

    while (i < line.size() && is_space(line[i]))
        ++i;
    std::size_t args_end = line.size();
    while (args_end > i && is_space(line[args_end - 1]))
        --args_end;
    out.cmd.args = line.substr(i, args_end - i);
    return out;
}

}  // namespace submitd::smtp
