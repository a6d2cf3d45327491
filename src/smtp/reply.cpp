// SMTP reply writer; see reply.hpp.
#include "smtp/reply.hpp"

#include <fmt/format.h>

namespace submitd::smtp {

namespace {
void append_text(std::string& out, std::string_view text) {
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
    }
}
}  // namespace

void append_reply(std::string& out, int code, std::string_view enhanced, std::string_view text) {
    fmt::format_to(std::back_inserter(out), "{} ", code);
    if (!enhanced.empty()) {
        out.append(enhanced);
        out.push_back(' ');
    }
    append_text(out, text);
    out.append("\r\n");
}

void append_multiline(std::string& out, int code, std::span<const std::string> lines) {
    for (std::size_t i = 0; i < lines.size(); ++i) {
        fmt::format_to(std::back_inserter(out), "{}{}", code, i + 1 < lines.size() ? '-' : ' ');
        append_text(out, lines[i]);
        out.append("\r\n");
    }
}

}  // namespace submitd::smtp
