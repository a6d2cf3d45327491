// STARTTLS (RFC 3207). The 220 reply is the last thing read in clear: the
// driver drops every byte buffered after the STARTTLS line before the
// handshake, so a command an attacker injected in the same packet is never
// executed over TLS (CVE-2011-0411, CVE-2021-33515), and on_tls_established()
// forgets the EHLO state (section 4.2).
#include "login/login_machine.hpp"

namespace submitd::login {

action login_machine::cmd_starttls(std::string_view args) {
    if (!args.empty()) return error(501, "5.5.4", "Syntax: STARTTLS", "bad-syntax");
    if (tls_active_) return error(502, "5.5.1", "TLS already active", "tls-active");
    if (!settings_.starttls_offered) {
        return error(502, "5.5.1", "STARTTLS not offered here", "tls-unavailable");
    }
    reply(220, "2.0.0", "Ready to start TLS");
    reader_.reset();
    partial_ = false;
    return action::start_tls;
}

}  // namespace submitd::login
