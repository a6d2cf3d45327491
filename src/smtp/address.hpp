// Path and mailbox syntax of MAIL FROM and RCPT TO (RFC 5321 sections
// 4.1.2 and 4.5.3.1, with the RFC 6531 additions for SMTPUTF8), sans-I/O:
// a string in, a value or the reply that refuses it out.
//
// It checks syntax and the length limits only; it does not look names up,
// lower-case, unquote or otherwise rewrite an address (the relay gets the
// mailbox exactly as the client wrote it, less the brackets and any source
// route). Every refusal is a syntax_error holding the reply: 553 5.1.3
// "Invalid address: <what is wrong>" for anything wrong from '<' to '>'
// (control bytes, NULs and spaces outside quotes included), 553 5.6.7 for
// UTF-8 without SMTPUTF8. Errors around the path are the caller's (params.hpp).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace submitd::smtp {

/// How strictly MAIL and RCPT paths are read. All off is RFC 5321.
struct path_options {
    /// Dovecot's whitespace_before_path: spaces between "FROM:" (or "TO:") and
    /// the path are skipped, as in "MAIL FROM: <a@b>".
    bool whitespace_before_path = false;
    /// Dovecot's mailbox_for_path: a mailbox without angle brackets is taken
    /// for a path ("MAIL FROM:a@b"); it ends at the first space.
    bool mailbox_for_path = false;
    /// RFC 6531: UTF-8 in local parts and domains. For RCPT set it when the
    /// transaction's MAIL carried SMTPUTF8; for MAIL set it when SMTPUTF8 may
    /// be used at all: parse_mail() then also requires SMTPUTF8 on the same
    /// command for a non-ASCII reverse-path.
    bool allow_utf8 = false;
};

/// A refused MAIL or RCPT argument: the reply the session sends, such as
/// {501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]"} or
/// {553, "5.1.3", "Invalid address: local part longer than 64 octets"}.
/// The text never contains bytes from the client other than a parameter
/// keyword that passed the esmtp-keyword syntax.
struct syntax_error {
    int code = 0;
    std::string enhanced;
    std::string text;

    bool operator==(const syntax_error&) const = default;
};

/// Which path a command takes: MAIL's may be "<>", RCPT's may be
/// "<Postmaster>" (RFC 5321 section 4.1.1.3).
enum class path_kind { reverse, forward };

/// RFC 5321 section 4.5.3.1 limits, in octets.
inline constexpr std::size_t max_local_part = 64;
inline constexpr std::size_t max_domain = 255;
inline constexpr std::size_t max_path = 256;  ///< from '<' to '>', both included

/// What parse_path() read.
struct parsed_path {
    /// The mailbox as sent, without the brackets and any source route;
    /// empty for the null reverse-path "<>", "Postmaster" (as spelled) for
    /// a bare "<Postmaster>".
    std::string mailbox;
    /// Bytes of the input the path took, the closing '>' included.
    std::size_t consumed = 0;
    /// The path (mailbox or source route) has UTF-8 beyond ASCII (only
    /// with allow_utf8).
    bool non_ascii = false;
};

/// Reads one path at the start of `in` and stops after it; what follows is
/// the caller's to check.
///
/// Path = "<" [ A-d-l ":" ] Mailbox ">"; the source route A-d-l is checked
/// and dropped (section 4.1.1.3 says to ignore it). With
/// options.mailbox_for_path, `in` may also start with a bare Mailbox (or,
/// for a forward path, a bare "Postmaster").
/// @param in starts where the path should start (after "FROM:" and any
///        spaces the caller skipped).
/// @return the path, or a 553 (or, when `in` holds no path at all, a 501
///         5.5.4) reply.
std::variant<parsed_path, syntax_error> parse_path(std::string_view in, path_kind kind,
                                                   const path_options& options);

/// Checks that all of `mailbox` is one Mailbox (RFC 5321 section 4.1.2:
/// Local-part "@" ( Domain / address-literal )) within the limits.
/// @return nothing when it is, else the 553 reply parse_path() would give.
std::optional<syntax_error> check_mailbox(std::string_view mailbox, bool allow_utf8);

/// Length of the well-formed UTF-8 sequence (RFC 3629 section 4: no
/// overlong forms, no surrogates, nothing above U+10FFFF) that starts at
/// `s[pos]`, or 0 when there is none there.
/// @pre pos < s.size().
std::size_t utf8_sequence_length(std::string_view s, std::size_t pos);

}  // namespace submitd::smtp
