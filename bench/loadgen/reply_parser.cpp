// SMTP reply parsing; see reply_parser.hpp.
#include "loadgen/reply_parser.hpp"

#include <algorithm>

namespace submitd::bench {

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string_view trim_eol(std::string_view line) {
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
}

}  // namespace

reply parse_reply(std::string_view in) {
    reply r;
    std::size_t pos = 0;
    int first_code = -1;
    for (;;) {
        std::size_t lf = in.find('\n', pos);
        if (lf == std::string_view::npos) return r;  // need_more
        std::string_view line = trim_eol(in.substr(pos, lf + 1 - pos));
        if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) ||
            (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
            r.status = reply_status::malformed;
            r.last_line = pos;
            r.size = lf + 1;
            return r;
        }
        int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        if (first_code < 0) first_code = code;
        if (code != first_code) {
            r.status = reply_status::malformed;
            r.last_line = pos;
            r.size = lf + 1;
            return r;
        }
        if (line.size() == 3 || line[3] == ' ') {
            r.status = reply_status::complete;
            r.code = code;
            r.last_line = pos;
            r.size = lf + 1;
            return r;
        }
        pos = lf + 1;
    }
}

bool has_ehlo_keyword(std::string_view ehlo_reply, std::string_view keyword) {
    std::size_t pos = ehlo_reply.find('\n');
    while (pos != std::string_view::npos && pos + 1 < ehlo_reply.size()) {
        std::size_t start = pos + 1;
        std::size_t end = ehlo_reply.find('\n', start);
        std::string_view line = trim_eol(ehlo_reply.substr(
            start, end == std::string_view::npos ? std::string_view::npos : end + 1 - start));
        if (line.size() >= 4) {
            std::string_view kw = line.substr(4);
            kw = kw.substr(0, kw.find(' '));
            if (kw.size() == keyword.size() &&
                std::equal(kw.begin(), kw.end(), keyword.begin(),
                           [](char a, char b) { return lower(a) == lower(b); }))
                return true;
        }
        pos = end;
    }
    return false;
}

std::string final_line(std::string_view text, const reply& r) {
    std::string_view line = text.substr(std::min(r.last_line, text.size()));
    line = trim_eol(line.substr(
        0, line.find('\n') == std::string_view::npos ? line.size() : line.find('\n') + 1));
    std::string out(line.substr(0, 200));
    for (char& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    return out;
}

}  // namespace submitd::bench
