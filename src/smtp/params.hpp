// The arguments of MAIL and RCPT (RFC 5321 sections 4.1.1.2, 4.1.1.3 and
// 4.1.2) with the ESMTP parameters submitd knows: SIZE (RFC 1870), BODY
// (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531), RET, ENVID, NOTIFY, ORCPT
// (RFC 3461) and AUTH (RFC 4954); and the same commands written back for the
// relay. Sans-I/O: strings in, values or refusals out.
//
// It checks syntax only. Whether a parameter may be used (the relay offers
// DSN, 8BITMIME, SMTPUTF8, ...), whether SIZE is over the limit and which
// AUTH= the relay gets are the session's decisions. Refusals are
// syntax_error replies: 501 5.5.4 for the command's shape and bad parameter
// values, 555 5.5.4 for an unknown parameter, 553 for the path (address.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "smtp/address.hpp"

namespace submitd::smtp {

/// BODY= (RFC 6152 section 3, RFC 3030 section 3).
enum class body_type { unspecified, seven_bit, eight_bit_mime, binary_mime };

/// RET= (RFC 3461 section 4.3).
enum class ret_type { unspecified, full, hdrs };

/// The MAIL parameters. Values the relay gets back unchanged are kept as
/// sent (still xtext-encoded).
struct mail_params {
    /// SIZE=; a value of 20 digits that does not fit is kept as the maximum
    /// (RFC 1870 allows 20 digits, so it is "too big", not bad syntax).
    std::optional<std::uint64_t> size;
    body_type body = body_type::unspecified;
    bool smtputf8 = false;
    ret_type ret = ret_type::unspecified;
    std::string envid;                ///< ENVID= as sent (xtext); empty when absent
    std::optional<std::string> auth;  ///< AUTH= as sent (xtext or "<>")

    bool operator==(const mail_params&) const = default;
};

/// NOTIFY= flags (RFC 3461 section 4.1); 0 when NOTIFY is absent.
enum notify_flags : unsigned {
    notify_none = 0,
    notify_never = 1,
    notify_success = 2,
    notify_failure = 4,
    notify_delay = 8,
};

/// The RCPT parameters.
struct rcpt_params {
    unsigned notify = notify_none;  ///< notify_never alone, or success|failure|delay
    std::string orcpt;              ///< ORCPT= as sent: addr-type ";" xtext; empty when absent

    bool operator==(const rcpt_params&) const = default;
};

struct mail_command {
    std::string reverse_path;  ///< the mailbox without <>; empty for the null path <>
    mail_params params;

    bool operator==(const mail_command&) const = default;
};

struct rcpt_command {
    std::string forward_path;  ///< the mailbox without <> (or "Postmaster" as sent)
    rcpt_params params;

    bool operator==(const rcpt_command&) const = default;
};

/// RFC 3461 section 4.2 and 4.4 limits on the values as sent.
inline constexpr std::size_t max_envid = 100;
inline constexpr std::size_t max_orcpt = 500;

/// Parses MAIL's arguments: "FROM:" Reverse-path [SP Mail-parameters].
/// "FROM:" is case-insensitive; one or more spaces (or tabs) separate the
/// path and the parameters, and trailing ones are ignored. Parameters are
/// checked left to right and the first bad one is reported: an unknown one
/// 555 5.5.4 "Unsupported parameter KEYWORD", a repeated one 501 5.5.4
/// "Duplicate parameter KEYWORD", a bad value 501 5.5.4.
/// A non-ASCII reverse-path needs options.allow_utf8 and SMTPUTF8 on the
/// same command, else 553 5.6.7.
/// @param args what follows "MAIL " (parse_command()'s args), e.g. "FROM:<a@b> SIZE=10".
std::variant<mail_command, syntax_error> parse_mail(std::string_view args,
                                                    const path_options& options);

/// Parses RCPT's arguments: "TO:" ( "<Postmaster>" / Forward-path ) [SP Rcpt-parameters],
/// as parse_mail() does. UTF-8 in the path and in an ORCPT of type utf-8
/// (RFC 6533) needs options.allow_utf8.
/// @param args what follows "RCPT ", e.g. "TO:<a@b> NOTIFY=SUCCESS,FAILURE".
std::variant<rcpt_command, syntax_error> parse_rcpt(std::string_view args,
                                                    const path_options& options);

/// Writes MAIL for the relay, without CRLF: "MAIL FROM:<path>" then SIZE,
/// BODY, SMTPUTF8, RET, ENVID and AUTH as present, in that order. The
/// client's AUTH= is never passed on; `auth_xtext` replaces it.
/// @pre `cmd` came from parse_mail(); `auth_xtext`, when given, is xtext
///      (xtext_encode() output) or "<>".
/// @param auth_xtext the AUTH= value to send, or nothing for no AUTH=.
std::string format_mail(const mail_command& cmd, std::optional<std::string_view> auth_xtext);

/// Writes RCPT for the relay, without CRLF: "RCPT TO:<path>" then NOTIFY
/// and ORCPT as present.
/// @pre `cmd` came from parse_rcpt().
std::string format_rcpt(const rcpt_command& cmd);

/// BDAT's chunk size (RFC 3030: chunk-size = 1*DIGIT), the first word of
/// BDAT's arguments.
/// @return the size, or nothing for anything but 1 to 20 digits that fit in
///         64 bits (the chunk's end is then unknown).
std::optional<std::uint64_t> parse_bdat_size(std::string_view size_text);

/// xtext (RFC 3461 section 4): bytes "!" to "~" except "+" and "=" as
/// themselves, every other byte as "+" and two upper-case hex digits.
std::string xtext_encode(std::string_view in);

/// Decodes xtext; hex digits may be in either case.
/// @return the bytes, or nothing when `in` has a byte outside "!" to "~",
///         a raw "=", or a "+" not followed by two hex digits.
std::optional<std::string> xtext_decode(std::string_view in);

}  // namespace submitd::smtp
