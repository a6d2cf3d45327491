// The Received header; see received.hpp.
#include "submission/received.hpp"

#include <fmt/format.h>

namespace submitd::submission {

namespace {

/// Printable ASCII only, without the characters that would end a comment
/// or a header.
std::string clean(std::string_view s, std::size_t max = 255) {
    std::string out;
    for (char c : s.substr(0, max)) {
        auto u = static_cast<unsigned char>(c);
        out.push_back(u <= 0x20 || u >= 0x7f || c == '(' || c == ')' || c == '\\' ? '_' : c);
    }
    return out;
}

std::string rfc5322_date(std::time_t when) {
    std::tm tm{};
    gmtime_r(&when, &tm);
    static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} +0000", days[tm.tm_wday], tm.tm_mday,
                       months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

}  // namespace

std::string received_header(const received_fields& f) {
    const ipc::handoff& s = *f.session;
    std::string h = "Received:";
    if (!f.privacy) {
        h += fmt::format(" from {} ([{}])\r\n\t", clean(s.helo), clean(s.remote_ip));
    } else {
        h += " ";
    }
    h += fmt::format("by {} (submitd) with {} id {}", clean(f.hostname),
                     s.tls_version.empty() ? "ESMTPA" : "ESMTPSA", clean(f.transaction_id));
    if (!s.tls_version.empty()) {
        h += fmt::format("\r\n\t({} {})", clean(s.tls_version), clean(s.tls_cipher));
    }
    h += fmt::format("\r\n\t(authenticated sender: {})", clean(s.user));
    if (!f.recipient.empty()) h += fmt::format("\r\n\tfor <{}>", clean(f.recipient, 320));
    h += fmt::format("; {}\r\n", rfc5322_date(f.when));
    return h;
}

}  // namespace submitd::submission
