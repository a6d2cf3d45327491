// EHLO and HELO (RFC 5321 section 4.1.1.1), the capability list of the
// pre-login stage (DESIGN.md section 3), and HELP.
//
//   ehlo = "EHLO" SP ( Domain / address-literal ) CRLF
//   helo = "HELO" SP Domain CRLF
//
// Lenient on the domain's form, as MSAs are (clients send what they have),
// but one token, printable, at most 255 octets.
#include "login/login_machine.hpp"
#include "smtp/capabilities.hpp"
#include "smtp/reply.hpp"

namespace submitd::login {

std::vector<std::string> login_machine::capabilities() const {
    smtp::capability_state caps;
    caps.hostname = settings_.hostname;
    relay::announce(settings_.relay_caps ? settings_.relay_caps->get() : std::nullopt,
                    settings_.max_message_size, caps);
    caps.offer_starttls = settings_.starttls_offered && !tls_active_;
    caps.burl = settings_.burl;
    for (const auto& m : settings_.mechanisms) {
        if (auth_usable(m)) caps.auth_mechanisms.push_back(m);
    }
    return smtp::ehlo_lines(caps);
}

action login_machine::cmd_ehlo(std::string_view args, bool esmtp) {
    std::string_view domain = args.substr(0, args.find_first_of(" \t"));
    if (domain.empty() || domain.size() > 255) {
        return error(501, "5.5.4", esmtp ? "Syntax: EHLO domain" : "Syntax: HELO domain",
                     "bad-helo");
    }
    for (char c : domain) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f) return error(501, "5.5.4", "Invalid domain", "bad-helo");
    }
    helo_ = domain;
    esmtp_ = esmtp;
    state_ = state::greeted;
    if (!esmtp) return reply(250, "", settings_.hostname);
    auto caps = capabilities();
    smtp::append_multiline(out_, 250, caps);
    return action::need_input;
}

action login_machine::cmd_help() {
    return reply(214, "2.0.0",
                 "Commands: EHLO HELO STARTTLS AUTH NOOP RSET HELP QUIT; MAIL after AUTH");
}

}  // namespace submitd::login
