// The running server: binds the listeners (one SO_REUSEPORT socket per
// listener per worker), drops privileges, runs one event loop thread per
// worker, and handles signals in the main thread: SIGHUP reloads the
// configuration, certificates and passdb (a broken one is refused and the
// old one stays); SIGTERM and SIGINT stop accepting, answer 421 4.3.2 to idle
// sessions, give the rest shutdown_grace to finish, and return.
#pragma once

#include <string>

namespace submitd::server {

/// Runs until SIGTERM or SIGINT. @return the process exit code.
int run_server(const std::string& config_path);

}  // namespace submitd::server
