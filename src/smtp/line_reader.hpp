// Splits an SMTP input stream into lines (RFC 5321 section 2.3.8) with a
// length limit checked as bytes arrive, sans-I/O in the style of Beast's
// basic_parser: parse() takes whatever bytes are buffered and returns how many
// it consumed and what it found. One call yields at most one line, so the
// caller can stop reading commands at a STARTTLS or an AUTH.
//
// A line ends at LF; a CR right before the LF is removed. A line longer than
// the limit is reported once, as soon as the limit is passed, and the rest of
// it, up to and including its LF, is then consumed and dropped, so the tail
// of an overlong line is never read as a command (Dovecot's ERROR state in
// smtp-command-parser.c). It reports no other errors: what a line contains is
// for parse_command() and the session to judge.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace submitd::smtp {

enum class line_status {
    need_more,      ///< everything given was consumed; no complete line yet
    complete,       ///< line() holds a complete line (without CR LF)
    line_too_long,  ///< a line passed the limit; its rest will be skipped
};

struct line_result {
    std::size_t consumed = 0;
    line_status status = line_status::need_more;
};

class line_reader {
public:
    /// @param max_line longest line accepted, in bytes, not counting CR LF.
    explicit line_reader(std::size_t max_line) : max_line_(max_line) {}
    /// Wipes the buffered bytes (AUTH responses pass through here); so do the
    /// moves, for the moved-from and the assigned-to reader. Not copyable.
    ~line_reader();
    line_reader(const line_reader&) = delete;
    line_reader& operator=(const line_reader&) = delete;
    line_reader(line_reader&& other) noexcept;
    line_reader& operator=(line_reader&& other) noexcept;

    /// Takes effect at the next parse(); a partial line already longer than
    /// the new limit is then reported as line_status::line_too_long.
    void set_max_line(std::size_t max_line) { max_line_ = max_line; }
    std::size_t max_line() const { return max_line_; }

    /// Bytes of a partial line held between calls; never more than
    /// max_line() + 1 (the +1 is a CR that may turn out to end the line).
    std::size_t buffered() const { return complete_ ? 0 : line_.size(); }

    /// True while part of a line has arrived: bytes are buffered, or the
    /// rest of an overlong line is being skipped.
    bool in_line() const { return discarding_ || buffered() > 0; }

    /// Consumes bytes from `in` up to and including the end of the first line,
    /// or all of `in` when no line ends in it.
    line_result parse(std::span<const char> in);

    /// @pre the last parse() returned line_status::complete.
    std::string_view line() const { return line_; }

    /// Forgets any partial line (after STARTTLS, say) and wipes it.
    void reset();

private:
    void append(std::string_view bytes);

    std::size_t max_line_;
    std::string line_;
    bool complete_ = false;
    bool discarding_ = false;
};

/// A command line split into its verb and its arguments.
struct command {
    std::string verb;       ///< upper-cased; empty for an empty or malformed line
    std::string_view args;  ///< the rest after the separating space(s); points into the line
};

enum class command_status {
    ok,
    empty,       ///< an empty line (or only spaces)
    bad_syntax,  ///< the verb is not 1 to 16 ASCII letters, or the line has a NUL or bare CR
};

struct parsed_command {
    command_status status = command_status::bad_syntax;
    command cmd;
};

/// Splits a line into verb and arguments: `verb [SP args]`. Letters only in
/// the verb; leading spaces before the verb and trailing spaces after the
/// arguments are ignored (clients send them), a TAB counts as a space.
parsed_command parse_command(std::string_view line);

}  // namespace submitd::smtp
