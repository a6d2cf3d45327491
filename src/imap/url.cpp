// IMAP URL parsing; see url.hpp. The grammar is RFC 5092 section 11 with
// RFC 4467's iurlauth; only characters that URLs may carry are accepted, so a
// parsed URL can be sent inside an IMAP quoted string as it is.
#include "imap/url.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include "core/ascii.hpp"

namespace submitd::imap {

namespace {

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() &&
           std::equal(prefix.begin(), prefix.end(), s.begin(),
                      [](char a, char b) { return lower(a) == lower(b); });
}

/// Consumes `prefix` (any case) from the front of `s`.
bool consume(std::string_view& s, std::string_view prefix) {
    if (!starts_with_ci(s, prefix)) return false;
    s.remove_prefix(prefix.size());
    return true;
}

/// RFC 3986's unreserved, sub-delims, ":", "@", "/", "%" and the IPv6
/// brackets: everything else (space, quotes, backslash, controls, 8-bit)
/// makes the URL malformed.
bool url_char(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("-._~!$&'()*+,;=:@/%[]").find(c) != std::string_view::npos;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/// Percent-decodes `s`; nullopt on a bad escape or a decoded control
/// character (which could end an IMAP command line early).
std::optional<std::string> decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            int hi = hex_value(s[i + 1]);
            int lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            c = static_cast<char>(hi * 16 + lo);
            i += 2;
            auto u = static_cast<unsigned char>(c);
            if (u < 0x20 || u == 0x7f) return std::nullopt;
        }
        out.push_back(c);
    }
    return out;
}

template <typename T>
std::optional<T> number(std::string_view digits, bool nonzero) {
    if (digits.empty() || digits.size() > 20 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    T v{};
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
    if (nonzero && v == 0) return std::nullopt;
    return v;
}

/// Takes the digits at the front of `s`.
std::string_view digits(std::string_view& s) {
    std::size_t n = 0;
    while (n < s.size() && s[n] >= '0' && s[n] <= '9')
        ++n;
    std::string_view d = s.substr(0, n);
    s.remove_prefix(n);
    return d;
}

bool parse_authority(std::string_view authority, imap_url& url) {
    std::size_t at = authority.rfind('@');
    if (at != std::string_view::npos) {
        std::string_view userinfo = authority.substr(0, at);
        authority.remove_prefix(at + 1);
        std::size_t semi = userinfo.find(';');
        if (semi != std::string_view::npos) {
            std::string_view auth = userinfo.substr(semi);
            if (!consume(auth, ";AUTH=") || auth.empty() ||
                auth.find(';') != std::string_view::npos) {
                return false;
            }
            userinfo = userinfo.substr(0, semi);
        }
        if (userinfo.find_first_of(":@/") != std::string_view::npos) return false;
        auto user = decode(userinfo);
        if (!user) return false;
        url.user = std::move(*user);
    }
    std::string_view host = authority;
    std::string_view port;
    if (host.starts_with('[')) {
        std::size_t close = host.find(']');
        if (close == std::string_view::npos || close < 2) return false;
        std::string_view rest = host.substr(close + 1);
        host = host.substr(1, close - 1);
        if (host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) {
            return false;
        }
        if (!rest.empty()) {
            if (rest.front() != ':') return false;
            port = rest.substr(1);
            if (port.empty()) return false;
        }
    } else {
        std::size_t colon = host.find(':');
        if (colon != std::string_view::npos) {
            port = host.substr(colon + 1);
            host = host.substr(0, colon);
            if (port.empty()) return false;
        }
        if (host.empty() || host.find_first_of("[]%!$&'()*+,;=@") != std::string_view::npos) {
            return false;
        }
    }
    if (!port.empty()) {
        auto p = number<std::uint32_t>(port, true);
        if (!p || *p > 65535) return false;
        url.port = static_cast<std::uint16_t>(*p);
    }
    url.host.reserve(host.size());
    for (char c : host)
        url.host.push_back(lower(c));
    return true;
}

/// The value of a ";KEY=" segment: up to the next ";" (or the end).
std::string_view segment_value(std::string_view& s) {
    std::size_t semi = s.find(';');
    std::string_view v = s.substr(0, semi);
    s.remove_prefix(v.size());
    return v;
}

bool parse_urlauth(std::string_view s, imap_url& url) {
    // [";EXPIRE=" date-time] ";URLAUTH=" access ":" mechanism ":" 32*HEXDIG
    if (consume(s, ";EXPIRE=")) {
        if (segment_value(s).empty()) return false;
    }
    if (!consume(s, ";URLAUTH=")) return false;
    std::size_t c1 = s.find(':');
    if (c1 == std::string_view::npos) return false;
    auto access = decode(s.substr(0, c1));
    if (!access || access->empty()) return false;
    s.remove_prefix(c1 + 1);
    std::size_t c2 = s.find(':');
    if (c2 == std::string_view::npos || c2 == 0) return false;
    std::string_view mech = s.substr(0, c2);
    std::string_view token = s.substr(c2 + 1);
    if (mech.find_first_of("%/;@") != std::string_view::npos || token.size() < 32 ||
        !std::all_of(token.begin(), token.end(), [](char c) { return hex_value(c) >= 0; })) {
        return false;
    }
    url.has_urlauth = true;
    url.access = std::move(*access);
    url.mechanism.assign(mech);
    for (auto& ch : url.mechanism)
        ch = core::ascii_upper(ch);
    url.token.assign(token);
    return true;
}

}  // namespace

std::optional<imap_url> parse_imap_url(std::string_view text) {
    if (text.size() > 8192 || !std::all_of(text.begin(), text.end(), url_char)) {
        return std::nullopt;
    }
    imap_url url;
    url.text.assign(text);
    std::string_view s = text;
    if (!consume(s, "imap://")) return std::nullopt;
    std::size_t slash = s.find('/');
    if (slash == std::string_view::npos || !parse_authority(s.substr(0, slash), url)) {
        return std::nullopt;
    }
    s.remove_prefix(slash + 1);

    // enc-mailbox [";UIDVALIDITY=" nz-number] "/;UID=" nz-number
    std::size_t semi = s.find(';');
    if (semi == std::string_view::npos || semi == 0) return std::nullopt;
    std::string_view mailbox = s.substr(0, semi);
    s.remove_prefix(semi);
    if (consume(s, ";UIDVALIDITY=")) {
        auto v = number<std::uint32_t>(digits(s), true);
        if (!v) return std::nullopt;
        url.uidvalidity = *v;
    } else if (mailbox.ends_with('/')) {
        mailbox.remove_suffix(1);  // the "/" of "/;UID="
        s = std::string_view(s.data() - 1, s.size() + 1);
    }
    if (!consume(s, "/;UID=")) return std::nullopt;
    auto uid = number<std::uint32_t>(digits(s), true);
    if (!uid) return std::nullopt;
    url.uid = *uid;
    auto box = decode(mailbox);
    if (!box || box->empty()) return std::nullopt;
    url.mailbox = std::move(*box);

    // ["/;SECTION=" enc-section] ["/;PARTIAL=" number ["." nz-number]]
    if (consume(s, "/;SECTION=")) {
        std::string_view section = segment_value(s);
        if (section.ends_with('/') && starts_with_ci(s, ";PARTIAL=")) {
            section.remove_suffix(1);
            s = std::string_view(s.data() - 1, s.size() + 1);
        }
        auto decoded = decode(section);
        if (!decoded || decoded->empty()) return std::nullopt;
        url.section = std::move(*decoded);
    }
    if (consume(s, "/;PARTIAL=")) {
        auto offset = number<std::uint64_t>(digits(s), false);
        if (!offset || *offset > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
        std::optional<std::uint64_t> length;
        if (!s.empty() && s.front() == '.') {
            s.remove_prefix(1);
            length = number<std::uint64_t>(digits(s), true);
            if (!length || *length > std::numeric_limits<std::uint32_t>::max()) {
                return std::nullopt;
            }
        }
        url.partial.emplace(*offset, length);
    }
    if (!s.empty() && !parse_urlauth(s, url)) return std::nullopt;
    return url;
}

std::optional<std::string> imap_mailbox(std::string_view utf8) {
    // Decode UTF-8 to code points, then write runs of non-printable-ASCII as
    // "&" + base64 (with "," for "/", no padding) of UTF-16BE + "-".
    static constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    std::string out;
    std::string run;  // UTF-16BE bytes of the current non-ASCII run
    auto flush = [&] {
        if (run.empty()) return;
        out.push_back('&');
        std::uint32_t bits = 0;
        int nbits = 0;
        for (unsigned char b : run) {
            bits = (bits << 8) | b;
            nbits += 8;
            while (nbits >= 6) {
                nbits -= 6;
                out.push_back(alphabet[(bits >> nbits) & 0x3f]);
            }
        }
        if (nbits > 0) out.push_back(alphabet[(bits << (6 - nbits)) & 0x3f]);
        out.push_back('-');
        run.clear();
    };
    auto put16 = [&](std::uint32_t unit) {
        run.push_back(static_cast<char>(unit >> 8));
        run.push_back(static_cast<char>(unit & 0xff));
    };
    for (std::size_t i = 0; i < utf8.size();) {
        auto b = static_cast<unsigned char>(utf8[i]);
        if (b < 0x80) {
            if (b < 0x20 || b == 0x7f) return std::nullopt;
            flush();
            out.push_back(static_cast<char>(b));
            if (b == '&') out.push_back('-');
            ++i;
            continue;
        }
        int extra = b >= 0xf0 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : -1;
        if (extra < 0 || b >= 0xf8 || i + static_cast<std::size_t>(extra) >= utf8.size()) {
            return std::nullopt;
        }
        std::uint32_t cp = b & (0x3f >> extra);
        for (int k = 1; k <= extra; ++k) {
            auto c = static_cast<unsigned char>(utf8[i + k]);
            if ((c & 0xc0) != 0x80) return std::nullopt;
            cp = (cp << 6) | (c & 0x3f);
        }
        static constexpr std::uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return std::nullopt;
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            put16(0xd800 + (cp >> 10));
            put16(0xdc00 + (cp & 0x3ff));
        } else {
            put16(cp);
        }
        i += 1 + extra;
    }
    flush();
    return out;
}

}  // namespace submitd::imap
