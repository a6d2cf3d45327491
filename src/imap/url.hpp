// IMAP URLs (RFC 5092) naming a message or a part of one, as BURL (RFC 4468)
// takes them, with or without URLAUTH (RFC 4467):
//
//   imap://[user[;AUTH=type]@]host[:port]/mailbox[;UIDVALIDITY=n]/;UID=n
//          [/;SECTION=s][/;PARTIAL=o[.l]][;EXPIRE=t;URLAUTH=access:mech:token]
//
// Only this "imessagepart" form is taken: a BURL fetches one message or part,
// never a list or a search. Keywords are case-insensitive; the user, mailbox
// and section are percent-decoded (the mailbox is UTF-8, which imap_mailbox()
// turns into IMAP's modified UTF-7). Parsing does no I/O and never throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace submitd::imap {

struct imap_url {
    std::string text;  ///< the URL as given (URLFETCH is sent exactly this)
    std::string user;  ///< decoded; empty when the URL names none
    std::string host;  ///< lower-cased; an IPv6 literal without its brackets
    std::uint16_t port = 143;
    std::string mailbox;  ///< decoded (UTF-8)
    std::optional<std::uint32_t> uidvalidity;
    std::uint32_t uid = 0;
    std::string section;  ///< decoded; empty: the whole message
    /// ;PARTIAL=offset[.length]
    std::optional<std::pair<std::uint64_t, std::optional<std::uint64_t>>> partial;
    bool has_urlauth = false;
    std::string access;     ///< decoded, e.g. "submit+alice"
    std::string mechanism;  ///< e.g. "INTERNAL"
    std::string token;      ///< the verifier's hex digits
};

/// @return the URL's parts, or nullopt when `text` is not an IMAP URL of a
/// message part (malformed, no UID, bad escapes, numbers out of range).
std::optional<imap_url> parse_imap_url(std::string_view text);

/// The mailbox name as IMAP spells it: UTF-8 turned into modified UTF-7
/// (RFC 3501 section 5.1.3). nullopt when `utf8` is not valid UTF-8.
std::optional<std::string> imap_mailbox(std::string_view utf8);

}  // namespace submitd::imap
