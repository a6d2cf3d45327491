// Runs the pre-login stage on a connection: the coroutine that reads bytes,
// feeds the login_machine, performs its actions (write, TLS handshake, ask
// the authenticator, wait out a failure delay) and enforces the idle and
// command deadlines (STYLE.md section 4). It ends with a handoff (the client
// authenticated) or with the session closed.
#pragma once

#include <asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>

#include "auth/authenticator.hpp"
#include "config/settings.hpp"
#include "ipc/handoff.hpp"
#include "login/login_machine.hpp"
#include "net/stream.hpp"
#include "net/tls_context.hpp"

namespace submitd::login {

/// What a pre-login session needs, built once per configuration load.
struct login_context {
    login_settings settings;
    config::limits_settings limits;
    net::tls_context_ptr tls;
    /// Owned by the server, which destroys it only after every event loop
    /// has stopped.
    auth::authenticator* authenticator = nullptr;
};

struct login_result {
    /// Set when the client authenticated (on the heap: the caller's frame
    /// keeps this result for the whole session).
    std::unique_ptr<ipc::handoff> handoff;
    std::string reason;  ///< why the session ended otherwise
    unsigned commands = 0;
};

/// @param admitted false when the connection limits were reached: the client
///        gets 421 4.7.0 instead of the greeting.
asio::awaitable<login_result> run_login(net::stream_ptr stream,
                                        std::shared_ptr<const login_context> ctx,
                                        client_facts facts, bool implicit_tls, bool admitted);

}  // namespace submitd::login
