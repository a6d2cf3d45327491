// The Received header; see received.hpp.
#include "submission/received.hpp"

#include <fmt/format.h>

#include <ctime>
#include <iterator>

namespace submitd::submission {

namespace {

/// Appends `s`, printable ASCII only, without the characters that would
/// end a comment or a header.
void put_clean(std::string& out, std::string_view s, std::size_t max = 255) {
    for (char c : s.substr(0, max)) {
        auto u = static_cast<unsigned char>(c);
        out.push_back(u <= 0x20 || u >= 0x7f || c == '(' || c == ')' || c == '\\' ? '_' : c);
    }
}

void put_rfc5322_date(std::string& out, std::time_t when) {
    std::tm tm{};
    gmtime_r(&when, &tm);
    static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    fmt::format_to(std::back_inserter(out), "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
                   days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
                   tm.tm_min, tm.tm_sec);
}

}  // namespace

std::string received_header(const received_fields& f) {
    const ipc::handoff& s = *f.session;
    std::string h;
    h.reserve(320);
    h += "Received: ";
    if (!f.privacy) {
        h += "from ";
        put_clean(h, s.helo);
        h += " ([";
        put_clean(h, s.remote_ip);
        h += "])\r\n\t";
    }
    h += "by ";
    put_clean(h, f.hostname);
    h += s.tls_version.empty() ? " (submitd) with ESMTPA id " : " (submitd) with ESMTPSA id ";
    put_clean(h, f.transaction_id);
    if (!s.tls_version.empty()) {
        h += "\r\n\t(";
        put_clean(h, s.tls_version);
        h += ' ';
        put_clean(h, s.tls_cipher);
        h += ')';
    }
    h += "\r\n\t(authenticated sender: ";
    put_clean(h, s.user);
    h += ')';
    if (!f.recipient.empty()) {
        h += "\r\n\tfor <";
        put_clean(h, f.recipient, 320);
        h += '>';
    }
    h += "; ";
    put_rfc5322_date(h, f.when);
    h += "\r\n";
    return h;
}

}  // namespace submitd::submission
