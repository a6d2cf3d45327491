// Path and mailbox syntax; see address.hpp. A recursive-descent reader over
// the RFC 5321 section 4.1.2 grammar, one function per rule, each quoting
// its ABNF. It reads left to right once and reports the first thing wrong.
//
// Every limit is checked on octets as they were sent (quotes and escapes
// count), because that is what the relay will see. Nothing here echoes the
// client's bytes in a reply: the reasons are fixed strings.
#include "smtp/address.hpp"

#include <string>

#include "core/ascii.hpp"

namespace submitd::smtp {
namespace {

/// The longest DNS label (RFC 1035 section 2.3.4); checked for ASCII labels
/// only, as a U-label's length says nothing about its A-label's.
constexpr std::size_t max_label = 63;

bool is_alpha(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
    return is_alpha(c) || is_digit(c);
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}
bool is_non_ascii(char c) {
    return static_cast<unsigned char>(c) >= 0x80;
}
bool is_space(char c) {
    return c == ' ' || c == '\t';
}

// atext = ALPHA / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
//         "-" / "/" / "=" / "?" / "^" / "_" / "`" / "{" / "|" / "}" / "~"
//         (RFC 5322 section 3.2.3)
bool is_atext(char c) {
    constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
    return is_alnum(c) || specials.find(c) != specials.npos;
}

// dcontent = %d33-90 / %d94-126   ; printable US-ASCII except "[", "\", "]"
bool is_dcontent(char c) {
    return (c >= 33 && c <= 90) || (c >= 94 && c <= 126);
}

using core::iequals;

// Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig
bool is_ldh_str(std::string_view s) {
    if (s.empty() || !is_alnum(s.back())) return false;
    for (const char c : s) {
        if (!is_alnum(c) && c != '-') return false;
    }
    return true;
}

// IPv4-address-literal = Snum 3("." Snum)
// Snum = 1*3DIGIT   ; representing a decimal integer value in the range 0 through 255
bool is_ipv4(std::string_view s) {
    int parts = 0;
    std::size_t i = 0;
    for (;;) {
        const std::size_t start = i;
        unsigned value = 0;
        while (i < s.size() && is_digit(s[i]) && i - start < 3) {
            value = value * 10 + static_cast<unsigned>(s[i] - '0');
            ++i;
        }
        if (i == start || value > 255) return false;
        ++parts;
        if (i == s.size()) return parts == 4;
        if (s[i] != '.' || parts == 4) return false;
        ++i;
    }
}

/// The number of 16-bit groups in `part` (IPv6-hex *(":" IPv6-hex), the
/// last one optionally an IPv4 address counting two), 0 for an empty part,
/// -1 when it is not one.
int ipv6_groups(std::string_view part, bool ipv4_last) {
    if (part.empty()) return 0;
    int groups = 0;
    std::size_t i = 0;
    for (;;) {
        const std::size_t end = part.find(':', i);
        const std::string_view group = part.substr(i, end == part.npos ? part.npos : end - i);
        if (end == part.npos && ipv4_last && group.find('.') != group.npos) {
            return is_ipv4(group) ? groups + 2 : -1;
        }
        // IPv6-hex = 1*4HEXDIG
        if (group.empty() || group.size() > 4) return -1;
        for (const char c : group) {
            if (!is_hex(c)) return -1;
        }
        ++groups;
        if (end == part.npos) return groups;
        i = end + 1;
    }
}

// IPv6-addr = IPv6-full / IPv6-comp / IPv6v4-full / IPv6v4-comp
// RFC 5321 lets "::" stand for at least two groups; we also take the RFC
// 4291 forms where it stands for one (what inet_pton() and the relay read).
bool is_ipv6(std::string_view s) {
    const std::size_t gap = s.find("::");
    if (gap == s.npos) return ipv6_groups(s, true) == 8;
    const std::string_view left = s.substr(0, gap);
    const std::string_view right = s.substr(gap + 2);
    const int l = ipv6_groups(left, false);
    const int r = ipv6_groups(right, true);
    return l >= 0 && r >= 0 && l + r <= 7;
}

syntax_error invalid(std::string_view reason) {
    return {553, "5.1.3", "Invalid address: " + std::string(reason)};
}

/// Reads the grammar from a position in `in_`; each rule returns false
/// after recording the first error.
class reader {
public:
    reader(std::string_view in, bool allow_utf8) : in_(in), allow_utf8_(allow_utf8) {}

    std::size_t pos() const { return pos_; }
    void skip(std::size_t n) { pos_ += n; }
    bool at_end() const { return pos_ >= in_.size(); }
    char peek() const { return in_[pos_]; }
    bool non_ascii() const { return non_ascii_; }
    const syntax_error& error() const { return error_; }

    bool fail(std::string_view reason) {
        error_ = invalid(reason);
        return false;
    }

    // Mailbox = Local-part "@" ( Domain / address-literal )
    bool mailbox() {
        if (!local_part()) return false;
        if (at_end() || peek() != '@') {
            if (at_end() || peek() == '>') return fail("missing @domain");
            return fail("invalid character in local part");
        }
        ++pos_;
        if (!at_end() && peek() == '[') return address_literal();
        return domain();
    }

    // A-d-l = At-domain *( "," At-domain )   ; "a-d-l", source route, to be ignored
    // At-domain = "@" Domain
    bool source_route() {
        for (;;) {
            if (at_end() || peek() != '@') return fail("invalid source route");
            ++pos_;
            if (!domain()) return false;
            if (at_end()) return fail("invalid source route");
            const char c = peek();
            ++pos_;
            if (c == ':') return true;
            if (c != ',') return fail("invalid source route");
        }
    }

private:
    /// A UTF8-non-ascii character (RFC 6531 section 3.3) at pos_, where the
    /// grammar allows one.
    bool utf8_char() {
        const std::size_t n = utf8_sequence_length(in_, pos_);
        if (n == 0) return fail("malformed UTF-8");
        if (!allow_utf8_) {
            error_ = {553, "5.6.7", "SMTPUTF8 required for a non-ASCII address"};
            return false;
        }
        non_ascii_ = true;
        pos_ += n;
        return true;
    }

    // Local-part = Dot-string / Quoted-string
    bool local_part() {
        const std::size_t start = pos_;
        if (!at_end() && peek() == '"') {
            if (!quoted_string()) return false;
        } else if (!dot_string()) {
            return false;
        }
        if (pos_ - start > max_local_part) return fail("local part longer than 64 octets");
        return true;
    }

    // Dot-string = Atom *("." Atom)
    // Atom = 1*atext   ; atext =/ UTF8-non-ascii (RFC 6531)
    bool dot_string() {
        const std::size_t start = pos_;
        for (;;) {
            const std::size_t atom = pos_;
            while (!at_end()) {
                if (is_atext(peek())) {
                    ++pos_;
                } else if (is_non_ascii(peek())) {
                    if (!utf8_char()) return false;
                } else {
                    break;
                }
            }
            if (pos_ == atom) {
                if (!at_end() && peek() == '.') return fail("misplaced dot in local part");
                if (pos_ > start) return fail("misplaced dot in local part");  // "a.@b"
                if (at_end() || peek() == '>' || peek() == '@') return fail("missing local part");
                return fail("invalid character in local part");
            }
            if (at_end() || peek() != '.') return true;
            ++pos_;
        }
    }

    // Quoted-string = DQUOTE *QcontentSMTP DQUOTE
    // QcontentSMTP = qtextSMTP / quoted-pairSMTP
    // quoted-pairSMTP = %d92 %d32-126
    // qtextSMTP = %d32-33 / %d35-91 / %d93-126   ; =/ UTF8-non-ascii (RFC 6531)
    bool quoted_string() {
        ++pos_;  // DQUOTE
        for (;;) {
            if (at_end()) return fail("unterminated quoted local part");
            const char c = peek();
            if (c == '"') {
                ++pos_;
                return true;
            }
            if (c == '\\') {
                if (pos_ + 1 >= in_.size()) return fail("unterminated quoted local part");
                const char q = in_[pos_ + 1];
                if (q < 32 || q > 126) return fail("invalid quoted pair in local part");
                pos_ += 2;
            } else if (c >= 32 && c <= 126) {
                ++pos_;
            } else if (is_non_ascii(c)) {
                if (!utf8_char()) return false;
            } else {
                return fail("control character in quoted local part");
            }
        }
    }

    // Domain = sub-domain *("." sub-domain)
    // sub-domain = Let-dig [Ldh-str]   ; =/ U-label (RFC 6531), read as
    //                                  ; Let-dig / "-" / UTF8-non-ascii here
    bool domain() {
        const std::size_t start = pos_;
        for (;;) {
            const std::size_t label = pos_;
            bool ascii = true;
            while (!at_end()) {
                if (is_alnum(peek()) || peek() == '-') {
                    ++pos_;
                } else if (is_non_ascii(peek())) {
                    if (!utf8_char()) return false;
                    ascii = false;
                } else {
                    break;
                }
            }
            if (pos_ == label) {
                if (pos_ == start && (at_end() || peek() == '>' || is_space(peek()))) {
                    return fail("missing domain");
                }
                return fail("invalid domain");
            }
            if (in_[label] == '-' || in_[pos_ - 1] == '-') return fail("invalid domain");
            if (ascii && pos_ - label > max_label)
                return fail("domain label longer than 63 octets");
            if (at_end() || peek() != '.') break;
            ++pos_;
        }
        if (pos_ - start > max_domain) return fail("domain longer than 255 octets");
        return true;
    }

    // address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
    //                         General-address-literal ) "]"
    // IPv6-address-literal = "IPv6:" IPv6-addr
    // General-address-literal = Standardized-tag ":" 1*dcontent
    // Standardized-tag = Ldh-str
    bool address_literal() {
        const std::size_t start = pos_;
        ++pos_;  // "["
        while (!at_end() && is_dcontent(peek()))
            ++pos_;
        if (at_end() || peek() != ']') return fail("invalid address literal");
        const std::string_view content = in_.substr(start + 1, pos_ - start - 1);
        ++pos_;
        if (pos_ - start > max_domain) return fail("domain longer than 255 octets");

        constexpr std::string_view ipv6_tag = "IPv6:";
        bool ok = false;
        if (content.size() >= ipv6_tag.size() &&
            iequals(content.substr(0, ipv6_tag.size()), ipv6_tag)) {
            ok = is_ipv6(content.substr(ipv6_tag.size()));
        } else if (const std::size_t colon = content.find(':'); colon != content.npos) {
            ok = is_ldh_str(content.substr(0, colon)) && colon + 1 < content.size();
        } else {
            ok = is_ipv4(content);
        }
        return ok || fail("invalid address literal");
    }

    std::string_view in_;
    std::size_t pos_ = 0;
    bool allow_utf8_;
    bool non_ascii_ = false;
    syntax_error error_;
};

/// "Postmaster" at the start of `s`, case-insensitively.
bool starts_with_postmaster(std::string_view s) {
    constexpr std::string_view postmaster = "Postmaster";
    return s.size() >= postmaster.size() && iequals(s.substr(0, postmaster.size()), postmaster);
}

}  // namespace

std::size_t utf8_sequence_length(std::string_view s, std::size_t pos) {
    // UTF8-2 = %xC2-DF UTF8-tail
    // UTF8-3 = %xE0 %xA0-BF UTF8-tail / %xE1-EC 2( UTF8-tail ) /
    //          %xED %x80-9F UTF8-tail / %xEE-EF 2( UTF8-tail )
    // UTF8-4 = %xF0 %x90-BF 2( UTF8-tail ) / %xF1-F3 3( UTF8-tail ) /
    //          %xF4 %x80-8F 2( UTF8-tail )
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[pos + i]); };
    const unsigned char b0 = byte(0);
    std::size_t n = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xbf;  // range of the second byte
    if (b0 >= 0xc2 && b0 <= 0xdf) {
        n = 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        n = 3;
        if (b0 == 0xe0) lo = 0xa0;
        if (b0 == 0xed) hi = 0x9f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        n = 4;
        if (b0 == 0xf0) lo = 0x90;
        if (b0 == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (s.size() - pos < n) return 0;
    if (byte(1) < lo || byte(1) > hi) return 0;
    for (std::size_t i = 2; i < n; ++i) {
        if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
    }
    return n;
}

// Reverse-path = Path / "<>"
// Forward-path = Path
// Path = "<" [ A-d-l ":" ] Mailbox ">"
// and from RFC 5321 section 4.1.1.3:
// rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path ) ...
std::variant<parsed_path, syntax_error> parse_path(std::string_view in, path_kind kind,
                                                   const path_options& options) {
    if (in.empty() || (in.front() != '<' && !options.mailbox_for_path)) {
        return syntax_error{501, "5.5.4", "Syntax: missing <address>"};
    }
    reader r(in, options.allow_utf8);

    if (in.front() != '<') {
        // Dovecot's mailbox_for_path: a bare Mailbox, or a bare Postmaster.
        if (kind == path_kind::forward && starts_with_postmaster(in)) {
            constexpr std::size_t n = 10;
            if (in.size() == n || is_space(in[n])) {
                return parsed_path{std::string(in.substr(0, n)), n};
            }
        }
        if (!r.mailbox()) return r.error();
        if (r.pos() + 2 > max_path) return invalid("path longer than 256 octets");
        return parsed_path{std::string(in.substr(0, r.pos())), r.pos(), r.non_ascii()};
    }

    r.skip(1);  // "<"
    if (in.size() >= 2 && in[1] == '>') {
        if (kind == path_kind::reverse) return parsed_path{{}, 2};
        return invalid("empty path");
    }
    if (kind == path_kind::forward && starts_with_postmaster(in.substr(1)) && in.size() >= 12 &&
        in[11] == '>') {
        return parsed_path{std::string(in.substr(1, 10)), 12};
    }
    if (!r.at_end() && r.peek() == '@' && !r.source_route()) return r.error();

    const std::size_t begin = r.pos();
    if (!r.mailbox()) return r.error();
    const std::size_t end = r.pos();
    if (r.at_end()) return invalid("missing '>'");
    if (r.peek() != '>') {
        return invalid(in[end - 1] == ']' ? "invalid character after the address literal"
                                          : "invalid character in domain");
    }
    if (end + 1 > max_path) return invalid("path longer than 256 octets");
    return parsed_path{std::string(in.substr(begin, end - begin)), end + 1, r.non_ascii()};
}

std::optional<syntax_error> check_mailbox(std::string_view mailbox, bool allow_utf8) {
    reader r(mailbox, allow_utf8);
    if (!r.mailbox()) return r.error();
    if (!r.at_end()) {
        return invalid(mailbox[r.pos() - 1] == ']' ? "invalid character after the address literal"
                                                   : "invalid character in domain");
    }
    if (mailbox.size() + 2 > max_path) return invalid("path longer than 256 octets");
    return std::nullopt;
}

}  // namespace submitd::smtp
