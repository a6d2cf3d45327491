// The EHLO capability list (RFC 5321 section 4.1.1.1; DESIGN.md section 3),
// built in one place so that the pre-login and post-login stages announce
// the same list for the same connection state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace submitd::smtp {

struct capability_state {
    std::string hostname;
    std::uint64_t max_message_size = 0;
    bool offer_starttls = false;  ///< a STARTTLS listener before TLS
    // Offered only when the relay offers them (DESIGN.md section 3).
    bool chunking = true;     ///< BDAT is ours (RFC 3030), whatever the relay has
    bool binarymime = false;  ///< only when the relay has BINARYMIME and CHUNKING
    bool eightbitmime = false;
    bool dsn = false;
    bool smtputf8 = false;
    std::vector<std::string> auth_mechanisms;  ///< those usable on this connection
    /// BURL's parameters (RFC 4468 section 3): "imap" for URLAUTH URLs and
    /// "imap://host[:port]" per trusted server; empty: no BURL.
    std::vector<std::string> burl;
};

/// The lines of the 250 EHLO reply, the host name first.
std::vector<std::string> ehlo_lines(const capability_state& state);

}  // namespace submitd::smtp
