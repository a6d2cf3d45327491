// The subcommands besides running the server: `check` validates a
// configuration and prints the effective settings; `pw` hashes a password for
// the passdb.
#pragma once

#include <string>

namespace submitd::server {

/// @return 0 when the configuration, its certificates and its passdb load; 2
/// otherwise, with the reason (file, line, key) on standard error.
int check_config(const std::string& config_path);

/// Reads a password from the terminal (twice, without echo) or from standard
/// input, and prints "{SCHEME}hash". @return 0, or 2 on bad usage or input.
int hash_password_command(const std::string& scheme);

}  // namespace submitd::server
