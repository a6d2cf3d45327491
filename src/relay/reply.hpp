// SMTP replies as the relay sends them (RFC 5321 section 4.2), parsed
// sans-I/O: a reply_parser takes bytes and yields one complete (possibly
// multi-line) reply at a time, and parse_ehlo() turns an EHLO reply into the
// relay's capabilities. Limits guard against a hostile or broken relay: a
// line longer than max_line, more than max_lines lines, a bad code,
// inconsistent codes between lines or a control byte in a line are a
// bad_reply (the connection is then unusable). Lines end with CRLF; a bare LF
// is accepted too. It does not judge what a reply means (the handshake and
// the transaction machines do).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace submitd::relay {

struct reply {
    int code = 0;          ///< 200..599
    std::string enhanced;  ///< "x.y.z" from the first line when present (RFC 2034), else empty
    std::vector<std::string>
        lines;  ///< each line's text after "NNN-"/"NNN " (enhanced code included as sent)

    bool positive() const { return code >= 200 && code < 400; }
    /// 2xx, positive completion (RFC 5321 section 4.2.1): what MAIL, RCPT
    /// and the end of a message must get to have succeeded; a 3xx there is
    /// a relay out of step.
    bool completed() const { return code >= 200 && code < 300; }
    /// 2xx, 4xx or 5xx: a reply that can end a command, not a 3xx
    /// intermediate one (or a code out of range).
    bool is_final() const { return code >= 200 && code <= 599 && !(code >= 300 && code < 400); }
    bool transient() const { return code >= 400 && code < 500; }
    /// The lines' text with the enhanced code of each line removed, joined with
    /// "; " (lines left empty are skipped).
    std::string text() const;
};

enum class reply_status { need_more, complete, bad_reply };

struct reply_result {
    std::size_t consumed = 0;
    reply_status status = reply_status::need_more;
};

class reply_parser {
public:
    /// @param max_line longest line accepted, in bytes, not counting CR LF.
    /// @param max_lines most lines in one reply.
    explicit reply_parser(std::size_t max_line = 4096, std::size_t max_lines = 256)
        : max_line_(max_line), max_lines_(max_lines) {}

    /// Consumes bytes up to and including the line end of one complete reply
    /// (complete), or all of `in` (need_more); a partial line is kept, never
    /// more than max_line + 1 bytes of it. After bad_reply every call returns
    /// bad_reply and consumes nothing, until reset().
    reply_result parse(std::span<const char> in);
    /// @pre the last parse() returned complete. Moves the reply out.
    reply take();
    /// Why the last parse() returned bad_reply.
    const std::string& error() const { return error_; }
    /// Forgets any partial reply and a failure (after STARTTLS, say).
    void reset();

private:
    std::size_t max_line_;
    std::size_t max_lines_;
    std::string line_;
    reply current_;
    std::string error_;
    bool failed_ = false;
    bool complete_ = false;  // current_ holds a complete reply; the next parse() starts anew

    bool take_line(std::string_view line);
    reply_result fail(std::size_t consumed, std::string why);
};

struct capabilities {
    bool pipelining = false;
    bool chunking = false;
    bool binarymime = false;
    bool eightbitmime = false;
    bool dsn = false;
    bool smtputf8 = false;
    bool starttls = false;
    bool enhancedstatuscodes = false;
    bool vrfy = false;  ///< VRFY listed (not required by RFC 5321 to be)
    bool xclient = false;
    std::vector<std::string> xclient_attributes;  ///< upper-case: ADDR, PORT, HELO, ...
    std::vector<std::string> auth_mechanisms;     ///< upper-case
    std::optional<std::uint64_t> size;            ///< SIZE n; 0 means no fixed limit
};

/// Reads the keywords of a positive EHLO reply (the first line is the
/// greeting name and is skipped). Unknown keywords are ignored.
capabilities parse_ehlo(const reply& r);

}  // namespace submitd::relay
