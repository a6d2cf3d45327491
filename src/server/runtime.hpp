// What the workers serve with: the settings snapshot and, per listener, the
// contexts of the two stages, all built from one configuration load. A
// runtime is immutable; reload builds a new one and posts it to every worker,
// and a session keeps the one it started with.
#pragma once

#include <memory>
#include <vector>

#include "auth/passdb_authenticator.hpp"
#include "config/settings.hpp"
#include "login/login_driver.hpp"
#include "net/tls_context.hpp"
#include "submission/submission_driver.hpp"

namespace submitd::server {

struct listener_runtime {
    config::listener_settings listener;
    std::shared_ptr<const login::login_context> login;
    std::shared_ptr<const submission::submission_context> submission;
};

struct runtime {
    config::settings_ptr settings;
    net::tls_context_ptr tls;
    std::shared_ptr<auth::passwd_file_passdb> passdb;
    std::shared_ptr<const submission::relay_context> relays;
    std::vector<listener_runtime> listeners;
};

using runtime_ptr = std::shared_ptr<const runtime>;

/// Loads certificates and the passdb for `settings` and builds the contexts.
/// @throws std::runtime_error naming the file and the reason.
runtime_ptr build_runtime(config::settings_ptr settings, auth::authenticator* authenticator,
                          std::shared_ptr<relay::caps_cache> relay_caps);

auth::penalty_settings penalty_from(const config::auth_settings& a);

}  // namespace submitd::server
