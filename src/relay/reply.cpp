// The relay's replies (RFC 5321 section 4.2) and its EHLO keywords (section
// 4.1.1.1), parsed from bytes with the limits of reply.hpp. It reports a
// malformed reply as bad_reply with a reason for the log, and does not try to
// resynchronise after one: a relay that sends garbage is not trusted with mail.
//
//   Reply-line = *( Reply-code "-" [ textstring ] CRLF )
//                   Reply-code [ SP textstring ] CRLF
//   Reply-code = %x32-35 %x30-35 %x30-39   (any second digit is accepted)
//   textstring = 1*(%d09 / %d32-126)       (8-bit text is let through: SMTPUTF8)
#include "relay/reply.hpp"

#include <cstring>
#include <string_view>
#include <utility>

namespace submitd::relay {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

char to_upper(char c) {
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        c = to_upper(c);
    return out;
}

/// RFC 3463 section 2 (and RFC 2034 section 4, "status-code SP text"):
///   status-code = class "." subject "." detail
///   class = "2" / "4" / "5";  subject = 1*3digit;  detail = 1*3digit
/// @return the length of the code at the start of `text` when its class is
///         `reply_class` and a space or the end of the line follows it, else 0.
std::size_t enhanced_code_length(std::string_view text, char reply_class) {
    if (text.size() < 5 || text[0] != reply_class || text[1] != '.') return 0;
    std::size_t i = 2;
    for (int part = 0; part < 2; ++part) {
        const std::size_t start = i;
        while (i < text.size() && is_digit(text[i]) && i - start < 4)
            ++i;
        const std::size_t digits = i - start;
        if (digits < 1 || digits > 3) return 0;
        if (part == 0) {
            if (i >= text.size() || text[i] != '.') return 0;
            ++i;
        }
    }
    return i == text.size() || text[i] == ' ' ? i : 0;
}

char class_of(int code) {
    return static_cast<char>('0' + code / 100);
}

/// HTAB, printable ASCII and 8-bit bytes (UTF-8 text under SMTPUTF8); no
/// other control bytes: a bare CR or a NUL in a reply would reach the log or,
/// relayed, the client.
bool is_text_byte(char c) {
    const auto u = static_cast<unsigned char>(c);
    return c == '\t' || (u >= 0x20 && u != 0x7f);
}

bool is_space(char c) {
    return c == ' ' || c == '\t';
}

std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && is_space(line[i]))
            ++i;
        const std::size_t start = i;
        while (i < line.size() && !is_space(line[i]))
            ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

void add_unique(std::vector<std::string>& list, std::string_view word) {
    std::string w = upper(word);
    for (const auto& have : list) {
        if (have == w) return;
    }
    list.push_back(std::move(w));
}

/// RFC 1870 section 4: "SIZE" [SP number]; without a number (or with 0)
/// there is no fixed limit. A number that is not one, or does not fit, is
/// ignored with the keyword.
std::optional<std::uint64_t> parse_size(const std::vector<std::string_view>& w) {
    if (w.size() < 2) return 0;
    std::uint64_t n = 0;
    for (const char c : w[1]) {
        if (!is_digit(c)) return std::nullopt;
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (n > (UINT64_MAX - d) / 10) return std::nullopt;
        n = n * 10 + d;
    }
    return n;
}

}  // namespace

std::string reply::text() const {
    std::string out;
    for (const auto& line : lines) {
        std::string_view t = line;
        if (const std::size_t n = enhanced_code_length(t, class_of(code)); n > 0) {
            t.remove_prefix(n);
            while (!t.empty() && t.front() == ' ')
                t.remove_prefix(1);
        }
        if (t.empty()) continue;
        if (!out.empty()) out += "; ";
        out += t;
    }
    return out;
}

reply_result reply_parser::fail(std::size_t consumed, std::string why) {
    failed_ = true;
    error_ = std::move(why);
    line_.clear();
    return {consumed, reply_status::bad_reply};
}

// Adds one complete line (without its line end) to current_; false and
// error_ set when it is malformed. Sets complete_ on the last line.
bool reply_parser::take_line(std::string_view line) {
    if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) ||
        line[0] < '2' || line[0] > '5') {
        error_ = "malformed reply code";
        return false;
    }
    if (line.size() > 3 && line[3] != ' ' && line[3] != '-') {
        error_ = "malformed reply line";
        return false;
    }
    for (const char c : line) {
        if (!is_text_byte(c)) {
            error_ = "control byte in reply";
            return false;
        }
    }
    const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    const std::string_view text = line.size() > 3 ? line.substr(4) : std::string_view();
    if (current_.lines.empty()) {
        current_.code = code;
        if (const std::size_t n = enhanced_code_length(text, line[0]); n > 0)
            current_.enhanced = std::string(text.substr(0, n));
    } else if (code != current_.code) {
        error_ = "reply lines with different codes";
        return false;
    }
    if (current_.lines.size() >= max_lines_) {
        error_ = "reply longer than " + std::to_string(max_lines_) + " lines";
        return false;
    }
    current_.lines.emplace_back(text);
    complete_ = line.size() == 3 || line[3] == ' ';
    return true;
}

reply_result reply_parser::parse(std::span<const char> in) {
    if (failed_) return {0, reply_status::bad_reply};
    if (complete_) {
        current_ = reply{};
        complete_ = false;
    }
    std::size_t pos = 0;
    while (pos < in.size()) {
        const char* begin = in.data() + pos;
        const std::size_t avail = in.size() - pos;
        const auto* lf = static_cast<const char*>(std::memchr(begin, '\n', avail));
        const std::size_t chunk = lf != nullptr ? static_cast<std::size_t>(lf - begin) : avail;
        // Checked as bytes arrive, so a relay cannot make us buffer an endless
        // line; the +1 is a CR that may turn out to end the line.
        if (line_.size() + chunk > max_line_ + 1)
            return fail(pos + chunk, "reply line longer than " + std::to_string(max_line_));
        line_.append(begin, chunk);
        pos += chunk;
        if (lf == nullptr) break;
        ++pos;  // the LF
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();
        if (line_.size() > max_line_)
            return fail(pos, "reply line longer than " + std::to_string(max_line_));
        if (!take_line(line_)) return fail(pos, std::move(error_));
        line_.clear();
        if (complete_) return {pos, reply_status::complete};
    }
    return {pos, reply_status::need_more};
}

reply reply_parser::take() {
    reply r = std::move(current_);
    current_ = reply{};
    complete_ = false;
    return r;
}

void reply_parser::reset() {
    line_.clear();
    current_ = reply{};
    error_.clear();
    failed_ = false;
    complete_ = false;
}

capabilities parse_ehlo(const reply& r) {
    capabilities caps;
    for (std::size_t i = 1; i < r.lines.size(); ++i) {
        const std::vector<std::string_view> w = words(r.lines[i]);
        if (w.empty()) continue;
        const std::string keyword = upper(w[0]);
        if (keyword == "AUTH" || keyword.starts_with("AUTH=")) {
            // "AUTH=PLAIN LOGIN" is the pre-RFC 2554 form some servers still
            // announce beside the standard one (Postfix broken_sasl_auth_clients).
            if (keyword.size() > 5) add_unique(caps.auth_mechanisms, w[0].substr(5));
            for (std::size_t j = 1; j < w.size(); ++j)
                add_unique(caps.auth_mechanisms, w[j]);
        } else if (keyword == "SIZE") {
            caps.size = parse_size(w);
        } else if (keyword == "XCLIENT") {
            caps.xclient = true;
            for (std::size_t j = 1; j < w.size(); ++j)
                add_unique(caps.xclient_attributes, w[j]);
        } else if (keyword == "PIPELINING") {
            caps.pipelining = true;
        } else if (keyword == "CHUNKING") {
            caps.chunking = true;
        } else if (keyword == "BINARYMIME") {
            caps.binarymime = true;
        } else if (keyword == "8BITMIME") {
            caps.eightbitmime = true;
        } else if (keyword == "DSN") {
            caps.dsn = true;
        } else if (keyword == "SMTPUTF8") {
            caps.smtputf8 = true;
        } else if (keyword == "STARTTLS") {
            caps.starttls = true;
        } else if (keyword == "ENHANCEDSTATUSCODES") {
            caps.enhancedstatuscodes = true;
        } else if (keyword == "VRFY") {
            caps.vrfy = true;
        }
    }
    return caps;
}

}  // namespace submitd::relay
