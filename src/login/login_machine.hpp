// The pre-login stage as a sans-I/O state machine (DESIGN.md sections 1 and
// 2.4): greeting, EHLO/HELO, STARTTLS, AUTH, NOOP, RSET, HELP, QUIT. The
// driver feeds it the client's bytes; it appends replies to output() and
// returns what the driver must do next. It never touches a socket, a clock
// or the password database: credentials leave as an auth::auth_request, the
// verdict comes back through on_auth_result(), and a successful login leaves
// as an ipc::handoff.
//
// Replies for bad input: 500 5.5.1 (unknown command), 500 5.5.2 (line too
// long), 501 (syntax), 503 5.5.1 (bad sequence), 530 5.7.0 (mail commands
// before AUTH), 538 5.7.11 (plaintext AUTH without TLS), 421 4.7.0 (too many
// bad commands or failed logins: the session closes).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/authenticator.hpp"
#include "ipc/handoff.hpp"
#include "relay/caps_cache.hpp"
#include "sasl/mechanism.hpp"
#include "smtp/line_reader.hpp"

namespace submitd::login {

struct login_settings {
    std::string hostname;
    std::string banner;
    std::vector<std::string> mechanisms;  ///< upper-case, in the order offered
    bool allow_plaintext_auth = false;
    bool starttls_offered = true;  ///< the listener is of the STARTTLS kind
    std::size_t max_command_line = 2048;
    std::size_t max_auth_line = 12288;
    unsigned max_bad_commands = 10;
    unsigned max_failures = 3;
    std::uint64_t max_message_size = 40ull << 20;
    /// The relays' capabilities for 8BITMIME, DSN, SMTPUTF8 and SIZE; may be null.
    std::shared_ptr<relay::caps_cache> relay_caps;
    std::vector<std::string> burl;  ///< BURL's EHLO parameters; empty: not offered
};

struct client_facts {
    std::string session_id;
    std::string listener;
    std::string remote_ip;
    std::uint16_t remote_port = 0;
    std::string local_ip;
    std::uint16_t local_port = 0;
};

enum class action {
    need_input,    ///< flush output() and read more bytes
    start_tls,     ///< flush output(), drop every buffered byte, handshake
    authenticate,  ///< flush output(), pass take_auth_request() to the authenticator
    handoff,       ///< flush output(), continue in the submission stage
    close,         ///< flush output() and close
};

class login_machine {
public:
    login_machine(const login_settings& settings, client_facts facts, bool tls_active);

    /// Appends the 220 greeting.
    void greet();

    /// Processes buffered client bytes. Sets `consumed` to how many it used;
    /// it stops early (leaving the rest) when it returns anything but
    /// need_input.
    action on_input(std::string_view in, std::size_t& consumed);

    void on_tls_established(std::string version, std::string cipher);
    /// The authenticator's verdict (after any failure delay the driver waited).
    action on_auth_result(const auth::auth_outcome& outcome);
    /// The client sent nothing in time: 421 4.4.2, then close.
    void on_timeout();
    /// The server is stopping: 421 4.3.2, then close.
    void on_shutdown();

    std::string& output() { return out_; }
    /// @pre on_input() returned action::authenticate.
    auth::auth_request take_auth_request();
    /// @pre on_auth_result() returned action::handoff.
    ipc::handoff take_handoff(std::string pending_input);

    bool tls_active() const { return tls_active_; }
    /// True while part of a command line is buffered, or the chunk of a
    /// refused BDAT is being skipped (the command deadline runs).
    bool in_command() const { return partial_ || chunk_left_ > 0; }
    unsigned commands() const { return commands_; }
    std::string_view close_reason() const { return close_reason_; }
    const client_facts& facts() const { return facts_; }

private:
    enum class state { fresh, greeted, sasl, checking, authenticated, closed };

    action dispatch(std::string_view line);
    action handle_sasl_line(std::string_view line);
    action cmd_ehlo(std::string_view args, bool esmtp);
    /// BDAT before AUTH: 530, and its chunk is skipped.
    action cmd_bdat(std::string_view args);
    action cmd_starttls(std::string_view args);
    action cmd_auth(std::string_view args);
    action cmd_help();
    action sasl_step(const sasl::step_result& r);

    action reply(int code, std::string_view enhanced, std::string_view text);
    /// Replies with an error and counts it; closes past the limit.
    action error(int code, std::string_view enhanced, std::string_view text,
                 std::string_view log_reason);
    action close(int code, std::string_view enhanced, std::string_view text,
                 std::string_view reason);
    bool auth_usable(std::string_view mechanism) const;
    std::vector<std::string> capabilities() const;

    const login_settings& settings_;
    client_facts facts_;
    bool tls_active_;
    state state_ = state::fresh;
    smtp::line_reader reader_;
    std::string out_;
    std::string helo_;
    bool esmtp_ = false;
    std::string tls_version_;
    std::string tls_cipher_;
    sasl::mechanism_ptr mech_;
    std::optional<auth::auth_request> auth_request_;
    std::string user_;
    std::string mechanism_;
    unsigned commands_ = 0;
    unsigned bad_commands_ = 0;
    unsigned failures_ = 0;
    bool partial_ = false;
    /// Octets of a BDAT chunk still to be discarded: CHUNKING is announced
    /// before AUTH too, so what follows a refused BDAT line is its chunk
    /// (RFC 3030 section 2), never commands.
    std::uint64_t chunk_left_ = 0;
    std::string close_reason_;
};

}  // namespace submitd::login
