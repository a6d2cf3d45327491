// EHLO capability list; see capabilities.hpp.
#include "smtp/capabilities.hpp"

#include <fmt/format.h>

namespace submitd::smtp {

std::vector<std::string> ehlo_lines(const capability_state& state) {
    std::vector<std::string> lines;
    lines.push_back(state.hostname);
    lines.emplace_back("PIPELINING");
    lines.push_back(fmt::format("SIZE {}", state.max_message_size));
    lines.emplace_back("ENHANCEDSTATUSCODES");
    if (state.chunking) lines.emplace_back("CHUNKING");
    if (!state.burl.empty()) {
        std::string burl = "BURL";
        for (const auto& p : state.burl)
            burl += " " + p;
        lines.push_back(std::move(burl));
    }
    // VRFY after AUTH: answered by the relay when it has VRFY, else 252.
    lines.emplace_back("VRFY");
    if (state.binarymime) lines.emplace_back("BINARYMIME");
    if (state.eightbitmime) lines.emplace_back("8BITMIME");
    if (state.dsn) lines.emplace_back("DSN");
    if (state.smtputf8) lines.emplace_back("SMTPUTF8");
    if (state.offer_starttls) lines.emplace_back("STARTTLS");
    if (!state.auth_mechanisms.empty()) {
        std::string auth = "AUTH";
        for (const auto& m : state.auth_mechanisms)
            auth += " " + m;
        lines.push_back(std::move(auth));
    }
    return lines;
}

}  // namespace submitd::smtp
