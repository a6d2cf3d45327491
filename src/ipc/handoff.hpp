// The Handoff: everything the submission stage learns from the login stage
// (DESIGN.md section 2.7). The two stages share nothing else, so that the
// login stage can later run in its own unprivileged process and pass this
// value (with the connection's file descriptor) over a socket. Plain data, no
// I/O; the wire codec comes with process separation.
#pragma once

#include <cstdint>
#include <string>

namespace submitd::ipc {

struct handoff {
    std::string session_id;
    std::string listener;
    std::string remote_ip;
    std::uint16_t remote_port = 0;
    std::string local_ip;
    std::uint16_t local_port = 0;
    std::string tls_version;  ///< empty without TLS
    std::string tls_cipher;
    std::string user;  ///< the authenticated login
    std::string mechanism;
    std::string helo;           ///< the EHLO/HELO domain
    bool esmtp = true;          ///< EHLO (true) or HELO (false)
    std::string pending_input;  ///< bytes the client pipelined after AUTH, unread
};

}  // namespace submitd::ipc
