// The opening of a relay connection as a sans-I/O state machine (STYLE.md
// section 3, Boost.MySQL's sansio style): greeting, EHLO, optionally STARTTLS
// and EHLO again, optionally AUTH PLAIN, optionally XCLIENT (Postfix) followed
// by the new greeting and EHLO. The driver connects, feeds the relay's bytes
// in, writes what output() holds, performs the TLS handshake on request, and
// stops at done or failed. It never touches a socket.
//
// Failures (failed) carry the stage and the relay's reply when there was one:
// a greeting other than 220, an EHLO that is refused (HELO is not tried: the
// relay must speak ESMTP), STARTTLS required by configuration but not offered
// or refused, AUTH not offered or refused, XCLIENT required by configuration
// but not offered or refused (never ignored silently), a malformed reply.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/secret.hpp"
#include "relay/reply.hpp"

namespace submitd::relay {

enum class relay_tls { none, starttls, implicit };

struct handshake_settings {
    std::string helo_name;  ///< our EHLO argument
    relay_tls tls = relay_tls::none;
    bool use_xclient = false;
    std::string auth_user;            ///< empty: no AUTH
    std::string auth_authzid;         ///< the client's login when acting as a master user
    core::secret_string* auth_password = nullptr;  ///< not owned; read once, when AUTH is sent
};

/// What XCLIENT carries (Postfix XCLIENT_README): only the attributes the
/// relay announced are sent.
struct xclient_facts {
    std::string addr;   ///< the client's IP address ("IPV6:" is added for IPv6)
    std::string port;
    std::string helo;
    std::string login;
    std::string proto = "ESMTP";
    std::string destaddr;
    std::string destport;
};

enum class handshake_step {
    read,       ///< flush output() (if any) and feed more relay bytes
    start_tls,  ///< flush output(), do the client TLS handshake, call on_tls_established()
    done,       ///< ready for transactions: caps() is valid
    failed,     ///< the connection is unusable: failure() says why
};

enum class handshake_stage { greeting, ehlo, starttls, auth, xclient };

struct handshake_failure {
    handshake_stage stage = handshake_stage::greeting;
    std::optional<reply> relay_reply;  ///< the refusing reply, if the relay sent one
    std::string reason;                ///< for the log
};

class handshake {
public:
    handshake(handshake_settings settings, std::optional<xclient_facts> xclient);

    /// Call after connecting (and, with implicit TLS, after the TLS handshake).
    handshake_step start();
    handshake_step on_input(std::span<const char> in, std::size_t& consumed);
    handshake_step on_tls_established();

    std::string& output() { return out_; }
    const capabilities& caps() const { return caps_; }
    const handshake_failure& failure() const { return failure_; }
    const std::string& greeting_name() const { return greeting_name_; }

private:
    // Implementation state: the helper writes it.
    handshake_settings settings_;
    std::optional<xclient_facts> xclient_;
    reply_parser parser_;
    capabilities caps_;
    handshake_failure failure_;
    std::string out_;
    std::string greeting_name_;
    int state_ = 0;
};

}  // namespace submitd::relay
