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
// but not offered or refused (never ignored silently), a malformed reply, and
// a 421 at any point. Commands are not pipelined: one command per step.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/secret.hpp"
#include "relay/reply.hpp"

namespace submitd::relay {

enum class relay_tls { none, starttls, implicit };

struct handshake_settings {
    std::string helo_name;  ///< our EHLO argument
    relay_tls tls = relay_tls::none;
    bool use_xclient = false;
    std::string auth_user;     ///< empty: no AUTH
    std::string auth_authzid;  ///< the client's login when acting as a master user
    core::secret_string* auth_password = nullptr;  ///< not owned; read once, when AUTH is sent
};

/// What XCLIENT carries (Postfix XCLIENT_README): only the attributes the
/// relay announced are sent.
struct xclient_facts {
    std::string addr;  ///< the client's IP address ("IPV6:" is added for IPv6)
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

/// The driver's loop:
///
///     step = hs.start();
///     while (step == read || step == start_tls) {
///         write hs.output() if not empty, then hs.clear_output();
///         if (step == start_tls) { TLS handshake; step = hs.on_tls_established(); continue; }
///         if (in_ is empty) read more into in_ (EOF, error or timeout: give up);
///         step = hs.on_input(in_, consumed); erase the first `consumed` bytes of in_;
///     }
///
/// Each call's output() must be written before the next call into the machine,
/// which replaces (and wipes) it. on_input() takes at most one reply per call,
/// so it may return read with bytes left over: write the output, then call
/// it again with the rest before reading more.
class handshake {
public:
    /// Movable, not copyable; output() is wiped when destroyed or replaced.
    /// @param xclient the client's facts; without them no XCLIENT is sent even
    ///        with settings.use_xclient (a capability probe, say).
    handshake(handshake_settings settings, std::optional<xclient_facts> xclient);

    /// Call after connecting (and, with implicit TLS, after the TLS handshake).
    /// Returns read (wait for the greeting), or failed when helo_name is not
    /// a bare EHLO argument (empty, over 255 bytes, or holding spaces or
    /// control bytes).
    handshake_step start();
    /// Feeds relay bytes; `consumed` says how many were used. When it returns
    /// start_tls, every byte of `in` is consumed: what the relay sent after its
    /// 220 to STARTTLS is dropped, never read as a reply once TLS is on (the
    /// STARTTLS injection problem, CVE-2011-0411, in reverse: a man in the
    /// middle could append fake replies to the plaintext 220). At done or
    /// failed it consumes nothing: bytes after the last EHLO reply belong to
    /// whoever uses the connection next.
    handshake_step on_input(std::span<const char> in, std::size_t& consumed);
    /// @pre the last step was start_tls. Forgets the capabilities (RFC 3207
    /// section 4.2) and sends EHLO again.
    handshake_step on_tls_established();

    /// What the last call asks to be written (one command, or nothing).
    std::string& output() { return out_.value; }
    /// Wipes and empties output(); call it once output() has been written, so
    /// the AUTH PLAIN line (the relay password in base64) does not linger.
    void clear_output();
    const capabilities& caps() const { return caps_; }
    const handshake_failure& failure() const { return failure_; }
    const std::string& greeting_name() const { return greeting_name_; }

private:
    enum class state {
        initial,
        greeting,       // sent nothing, awaiting 220
        ehlo,           // sent EHLO, awaiting 250
        starttls,       // sent STARTTLS, awaiting 220
        tls_handshake,  // returned start_tls, awaiting on_tls_established()
        auth,           // sent AUTH PLAIN, awaiting 235
        xclient,        // sent an XCLIENT, awaiting 220
        done,
        failed,
    };

    using wiped_string = core::wiped_string;

    handshake_step on_reply(reply&& r, std::span<const char> in, std::size_t& consumed);
    handshake_step next_command();
    handshake_step send_ehlo();
    handshake_step send_auth();
    handshake_step send_xclient();
    handshake_step fail(std::optional<reply> r, std::string reason);
    handshake_stage stage() const;

    handshake_settings settings_;
    std::optional<xclient_facts> xclient_;
    reply_parser parser_;
    capabilities caps_;
    handshake_failure failure_;
    wiped_string out_;  // may hold the AUTH PLAIN line
    std::string greeting_name_;
    state state_ = state::initial;
    bool tls_done_ = false;
    bool auth_done_ = false;
    bool xclient_done_ = false;
    std::vector<std::string> xclient_commands_;  // the XCLIENT lines, each with its CRLF
    std::size_t xclient_next_ = 0;               // the next one to send
};

}  // namespace submitd::relay
