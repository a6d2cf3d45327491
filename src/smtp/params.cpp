// MAIL and RCPT arguments and their parameters; see params.hpp.
//
// The path goes to address.cpp; what follows it is split at spaces into
// esmtp-params, each looked up in the command's table of known keywords and
// checked by that row's handler. A client can send at most one of each
// known parameter before it is refused (an unknown or repeated keyword
// ends the parse), so a long line of parameters costs one pass.
//
// The formatters trust their input to have come from the parsers: they
// write nothing the parsers did not check, which is what keeps CR, LF and
// NUL out of the lines sent to the relay.
#include "smtp/params.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <limits>

#include "core/ascii.hpp"

namespace submitd::smtp {
namespace {

constexpr std::string_view mail_syntax = "Syntax: MAIL FROM:<address> [parameters]";
constexpr std::string_view rcpt_syntax = "Syntax: RCPT TO:<address> [parameters]";

/// Longest keyword echoed in a 555 reply; a longer one is cut.
constexpr std::size_t max_echoed_keyword = 32;

/// RFC 1870 section 3: size-value ::= 1*20DIGIT.
constexpr std::size_t max_size_digits = 20;

bool is_space(char c) {
    return c == ' ' || c == '\t';
}
bool is_alnum(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

using core::iequals;

/// Printable US-ASCII, space included: what RFC 3461 allows in a decoded
/// ENVID or ORCPT, and RFC 4954 in a decoded AUTH=.
bool is_printable_ascii(std::string_view s) {
    for (const char c : s) {
        if (c < 0x20 || c > 0x7e) return false;
    }
    return true;
}

/// No control bytes and well-formed UTF-8: a decoded ORCPT of type utf-8.
bool is_printable_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto u = static_cast<unsigned char>(s[i]);
        if (u < 0x20 || u == 0x7f) return false;
        if (u < 0x80) {
            ++i;
            continue;
        }
        const std::size_t n = utf8_sequence_length(s, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

// xtext = *( xchar / hexchar )
// xchar = any ASCII CHAR between "!" (33) and "~" (126) inclusive, except for "+" and "="
// hexchar = ASCII "+" immediately followed by two upper case hexadecimal digits
// With `allow_utf8`, RFC 6533's utf-8-addr-unitext also lets UTF8-non-ascii through.
std::optional<std::string> decode_xtext(std::string_view in, bool allow_utf8) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size();) {
        const char c = in[i];
        if (c == '+') {
            if (in.size() - i < 3) return std::nullopt;
            const int hi = hex_value(in[i + 1]);
            const int lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 3;
        } else if (c >= '!' && c <= '~' && c != '=') {
            out.push_back(c);
            ++i;
        } else if (allow_utf8 && static_cast<unsigned char>(c) >= 0x80) {
            const std::size_t n = utf8_sequence_length(in, i);
            if (n == 0) return std::nullopt;
            out.append(in.substr(i, n));
            i += n;
        } else {
            return std::nullopt;
        }
    }
    return out;
}

syntax_error bad_syntax(std::string_view text) {
    return {501, "5.5.4", std::string(text)};
}

/// One esmtp-param, split at its first '='.
struct param {
    std::string keyword;  ///< upper-cased
    std::string_view value;
    bool has_value = false;
};

/// What a handler says about a value: empty when it is good, else why not.
using verdict = std::string_view;

template <class Params>
struct known_param {
    std::string_view keyword;
    verdict (*check)(const param& p, const path_options& options, Params& out);
};

verdict need_value(const param& p) {
    if (!p.has_value) return "value missing";
    if (p.value.empty()) return "empty value";
    return {};
}

// size-param ::= [CFWS] "SIZE" "=" size-value   (RFC 1870 section 6)
verdict check_size(const param& p, const path_options&, mail_params& out) {
    if (const verdict v = need_value(p); !v.empty()) return v;
    for (const char c : p.value) {
        if (!is_digit(c)) return "not a number";
    }
    if (p.value.size() > max_size_digits) return "more than 20 digits";
    std::uint64_t size = 0;
    const auto [end, ec] = std::from_chars(p.value.data(), p.value.data() + p.value.size(), size);
    // 20 digits may not fit: that is a syntactically valid, very large size,
    // which the session's limit check refuses with 552.
    out.size =
        ec == std::errc::result_out_of_range ? std::numeric_limits<std::uint64_t>::max() : size;
    return {};
}

// body-value ::= "7BIT" / "8BITMIME" / "BINARYMIME"   (RFC 6152, RFC 3030)
verdict check_body(const param& p, const path_options&, mail_params& out) {
    if (const verdict v = need_value(p); !v.empty()) return v;
    if (iequals(p.value, "7BIT")) {
        out.body = body_type::seven_bit;
    } else if (iequals(p.value, "8BITMIME")) {
        out.body = body_type::eight_bit_mime;
    } else if (iequals(p.value, "BINARYMIME")) {
        out.body = body_type::binary_mime;
    } else {
        return "not 7BIT, 8BITMIME or BINARYMIME";
    }
    return {};
}

// "SMTPUTF8" without a value (RFC 6531 section 3.4)
verdict check_smtputf8(const param& p, const path_options&, mail_params& out) {
    if (p.has_value) return "takes no value";
    out.smtputf8 = true;
    return {};
}

// ret-value = "FULL" / "HDRS"   (RFC 3461 section 4.3)
verdict check_ret(const param& p, const path_options&, mail_params& out) {
    if (const verdict v = need_value(p); !v.empty()) return v;
    if (iequals(p.value, "FULL")) {
        out.ret = ret_type::full;
    } else if (iequals(p.value, "HDRS")) {
        out.ret = ret_type::hdrs;
    } else {
        return "not FULL or HDRS";
    }
    return {};
}

// envid-parameter = "ENVID=" xtext, at most 100 characters, printable
// US-ASCII once decoded (RFC 3461 section 4.4)
verdict check_envid(const param& p, const path_options&, mail_params& out) {
    if (const verdict v = need_value(p); !v.empty()) return v;
    if (p.value.size() > max_envid) return "longer than 100 characters";
    const auto decoded = decode_xtext(p.value, false);
    if (!decoded) return "not xtext";
    if (!is_printable_ascii(*decoded)) return "not printable";
    out.envid = std::string(p.value);
    return {};
}

// auth-param = "AUTH=" ( xtext / "<>" )   (RFC 4954 section 5; the xtext
// encodes an addr-spec, which the relay, not we, may judge)
verdict check_auth(const param& p, const path_options&, mail_params& out) {
    if (const verdict v = need_value(p); !v.empty()) return v;
    if (p.value != "<>") {
        const auto decoded = decode_xtext(p.value, false);
        if (!decoded) return "not xtext";
        if (!is_printable_ascii(*decoded)) return "not printable";
    }
    out.auth = std::string(p.value);
    return {};
}

// notify-esmtp-value = "NEVER" / 1#notify-list-element
// notify-list-element = "SUCCESS" / "FAILURE" / "DELAY"   (RFC 3461 section 4.1)
verdict check_notify(const param& p, const path_options&, rcpt_params& out) {
    if (const verdict v = need_value(p); !v.empty()) return v;
    unsigned flags = notify_none;
    std::string_view rest = p.value;
    for (;;) {
        const std::size_t comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        if (iequals(item, "NEVER")) {
            flags |= notify_never;
        } else if (iequals(item, "SUCCESS")) {
            flags |= notify_success;
        } else if (iequals(item, "FAILURE")) {
            flags |= notify_failure;
        } else if (iequals(item, "DELAY")) {
            flags |= notify_delay;
        } else {
            return "not NEVER or a list of SUCCESS, FAILURE and DELAY";
        }
        if (comma == rest.npos) break;
        rest.remove_prefix(comma + 1);
    }
    if ((flags & notify_never) != 0 && flags != notify_never) return "NEVER must stand alone";
    out.notify = flags;
    return {};
}

// orcpt-parameter = "ORCPT=" original-recipient-address
// original-recipient-address = addr-type ";" xtext
// addr-type = atom   (RFC 3461 section 4.2: at most 500 characters, printable
// US-ASCII once decoded; RFC 6533 lets addr-type utf-8 carry UTF-8)
verdict check_orcpt(const param& p, const path_options& options, rcpt_params& out) {
    if (const verdict v = need_value(p); !v.empty()) return v;
    if (p.value.size() > max_orcpt) return "longer than 500 characters";
    const std::size_t semi = p.value.find(';');
    if (semi == p.value.npos) return "no addr-type";
    const std::string_view type = p.value.substr(0, semi);
    const std::string_view address = p.value.substr(semi + 1);
    if (type.empty()) return "empty address type";
    for (const char c : type) {
        // atom: no specials, no '=' (excluded from every esmtp-value)
        if (!is_alnum(c) &&
            std::string_view("!#$%&'*+-/?^_`{|}~").find(c) == std::string_view::npos) {
            return "bad address type";
        }
    }
    if (address.empty()) return "empty address";
    const bool utf8_type = iequals(type, "utf-8");
    const auto decoded = decode_xtext(address, utf8_type && options.allow_utf8);
    if (!decoded) return "not xtext";
    if (utf8_type ? !is_printable_utf8(*decoded) : !is_printable_ascii(*decoded)) {
        return "not printable";
    }
    out.orcpt = std::string(p.value);
    return {};
}

constexpr std::array<known_param<mail_params>, 6> mail_table = {{
    {"SIZE", check_size},
    {"BODY", check_body},
    {"SMTPUTF8", check_smtputf8},
    {"RET", check_ret},
    {"ENVID", check_envid},
    {"AUTH", check_auth},
}};

constexpr std::array<known_param<rcpt_params>, 2> rcpt_table = {{
    {"NOTIFY", check_notify},
    {"ORCPT", check_orcpt},
}};

// esmtp-param = esmtp-keyword ["=" esmtp-value]
// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
// esmtp-value = 1*(%d33-60 / %d62-126)   ; checked by each known keyword's handler
std::optional<param> split_param(std::string_view token) {
    const std::size_t eq = token.find('=');
    const std::string_view keyword = token.substr(0, eq);
    if (keyword.empty() || !is_alnum(keyword.front())) return std::nullopt;
    param p;
    p.keyword.reserve(keyword.size());
    for (const char c : keyword) {
        if (!is_alnum(c) && c != '-') return std::nullopt;
        p.keyword.push_back(core::ascii_upper(c));
    }
    if (eq != token.npos) {
        p.has_value = true;
        p.value = token.substr(eq + 1);
    }
    return p;
}

// Mail-parameters = esmtp-param *(SP esmtp-param)
// Rcpt-parameters = esmtp-param *(SP esmtp-param)
template <class Params, std::size_t N>
std::optional<syntax_error> parse_params(std::string_view in,
                                         const std::array<known_param<Params>, N>& table,
                                         const path_options& options, Params& out) {
    unsigned seen = 0;  // bit i: table[i] was given
    std::size_t i = 0;
    for (;;) {
        while (i < in.size() && is_space(in[i]))
            ++i;
        if (i == in.size()) return std::nullopt;
        std::size_t end = i;
        while (end < in.size() && !is_space(in[end]))
            ++end;
        const std::string_view token = in.substr(i, end - i);
        i = end;

        const auto p = split_param(token);
        if (!p) return bad_syntax("Syntax: invalid parameter");
        std::size_t row = 0;
        while (row < N && table[row].keyword != p->keyword)
            ++row;
        if (row == N) {
            std::string keyword = p->keyword.substr(0, max_echoed_keyword);
            if (p->keyword.size() > max_echoed_keyword) keyword += "...";
            return syntax_error{555, "5.5.4", "Unsupported parameter " + keyword};
        }
        if ((seen & (1u << row)) != 0) {
            return bad_syntax("Duplicate parameter " + p->keyword);
        }
        seen |= 1u << row;
        if (const verdict v = table[row].check(*p, options, out); !v.empty()) {
            return bad_syntax("Bad " + p->keyword + " parameter: " + std::string(v));
        }
    }
}

/// A path and what follows it.
struct path_and_rest {
    parsed_path path;
    std::string_view rest;
};

/// "FROM:" / "TO:", the path, and the separator before any parameters.
std::variant<path_and_rest, syntax_error> parse_front(std::string_view args,
                                                      std::string_view prefix, path_kind kind,
                                                      const path_options& options,
                                                      std::string_view syntax) {
    if (args.size() < prefix.size() || !iequals(args.substr(0, prefix.size()), prefix)) {
        return bad_syntax(syntax);
    }
    args.remove_prefix(prefix.size());
    if (options.whitespace_before_path) {
        while (!args.empty() && is_space(args.front()))
            args.remove_prefix(1);
    }
    if (args.empty() || is_space(args.front()) ||
        (args.front() != '<' && !options.mailbox_for_path)) {
        return bad_syntax(syntax);
    }
    auto path = parse_path(args, kind, options);
    if (auto* error = std::get_if<syntax_error>(&path)) return std::move(*error);
    auto& parsed = std::get<parsed_path>(path);
    const std::string_view rest = args.substr(parsed.consumed);
    // Exactly one SP by the RFC; several, a TAB or trailing ones are
    // tolerated, but not "<a@b>>" or "<a@b>SIZE=1".
    if (!rest.empty() && !is_space(rest.front())) return bad_syntax(syntax);
    return path_and_rest{std::move(parsed), rest};
}

const char* body_name(body_type b) {
    switch (b) {
        case body_type::seven_bit:
            return "7BIT";
        case body_type::eight_bit_mime:
            return "8BITMIME";
        case body_type::binary_mime:
            return "BINARYMIME";
        case body_type::unspecified:
            break;
    }
    return "";
}

}  // namespace

// mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF
std::variant<mail_command, syntax_error> parse_mail(std::string_view args,
                                                    const path_options& options) {
    auto front = parse_front(args, "FROM:", path_kind::reverse, options, mail_syntax);
    if (auto* error = std::get_if<syntax_error>(&front)) return std::move(*error);
    auto& [path, rest] = std::get<path_and_rest>(front);

    mail_command cmd;
    cmd.reverse_path = std::move(path.mailbox);
    if (auto error = parse_params(rest, mail_table, options, cmd.params)) return std::move(*error);
    // RFC 6531 section 3.4: a non-ASCII address needs SMTPUTF8 on the MAIL
    // that starts the transaction; section 3.7.4.1 gives the reply.
    if (path.non_ascii && !cmd.params.smtputf8) {
        return syntax_error{553, "5.6.7", "SMTPUTF8 required for a non-ASCII address"};
    }
    return cmd;
}

// rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path )
//        [SP Rcpt-parameters] CRLF
std::variant<rcpt_command, syntax_error> parse_rcpt(std::string_view args,
                                                    const path_options& options) {
    auto front = parse_front(args, "TO:", path_kind::forward, options, rcpt_syntax);
    if (auto* error = std::get_if<syntax_error>(&front)) return std::move(*error);
    auto& [path, rest] = std::get<path_and_rest>(front);

    rcpt_command cmd;
    cmd.forward_path = std::move(path.mailbox);
    if (auto error = parse_params(rest, rcpt_table, options, cmd.params)) return std::move(*error);
    return cmd;
}

std::string format_mail(const mail_command& cmd, std::optional<std::string_view> auth_xtext) {
    std::string out = "MAIL FROM:<";
    out += cmd.reverse_path;
    out += '>';
    const mail_params& p = cmd.params;
    if (p.size) {
        out += " SIZE=";
        out += std::to_string(*p.size);
    }
    if (p.body != body_type::unspecified) {
        out += " BODY=";
        out += body_name(p.body);
    }
    if (p.smtputf8) out += " SMTPUTF8";
    if (p.ret != ret_type::unspecified) out += p.ret == ret_type::full ? " RET=FULL" : " RET=HDRS";
    if (!p.envid.empty()) {
        out += " ENVID=";
        out += p.envid;
    }
    if (auth_xtext) {
        out += " AUTH=";
        out += *auth_xtext;
    }
    return out;
}

std::string format_rcpt(const rcpt_command& cmd) {
    std::string out = "RCPT TO:<";
    out += cmd.forward_path;
    out += '>';
    const rcpt_params& p = cmd.params;
    if (p.notify != notify_none) {
        out += " NOTIFY=";
        if ((p.notify & notify_never) != 0) {
            out += "NEVER";
        } else {
            const char* sep = "";
            for (const auto& [flag, name] :
                 {std::pair{notify_success, "SUCCESS"}, std::pair{notify_failure, "FAILURE"},
                  std::pair{notify_delay, "DELAY"}}) {
                if ((p.notify & flag) == 0) continue;
                out += sep;
                out += name;
                sep = ",";
            }
        }
    }
    if (!p.orcpt.empty()) {
        out += " ORCPT=";
        out += p.orcpt;
    }
    return out;
}

std::string xtext_encode(std::string_view in) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(in.size());
    for (const char c : in) {
        if (c >= '!' && c <= '~' && c != '+' && c != '=') {
            out.push_back(c);
        } else {
            const auto u = static_cast<unsigned char>(c);
            out.push_back('+');
            out.push_back(hex[u >> 4]);
            out.push_back(hex[u & 0xf]);
        }
    }
    return out;
}

std::optional<std::string> xtext_decode(std::string_view in) {
    return decode_xtext(in, false);
}

std::optional<std::uint64_t> parse_bdat_size(std::string_view size_text) {
    if (size_text.empty() || size_text.size() > 20 ||
        !std::all_of(size_text.begin(), size_text.end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    std::uint64_t size = 0;
    auto [end, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size);
    if (ec != std::errc{} || end != size_text.data() + size_text.size()) return std::nullopt;
    return size;
}

}  // namespace submitd::smtp
