// Builds a runtime from settings; see runtime.hpp.
#include "server/runtime.hpp"

#include <stdexcept>

namespace submitd::server {

auth::penalty_settings penalty_from(const config::auth_settings& a) {
    auth::penalty_settings p;
    p.base = a.failure_delay;
    p.max = a.failure_delay_max;
    p.window = std::chrono::duration_cast<std::chrono::seconds>(a.failure_window);
    return p;
}

runtime_ptr build_runtime(config::settings_ptr settings, auth::authenticator* authenticator,
                          std::shared_ptr<relay::caps_cache> relay_caps) {
    auto rt = std::make_shared<runtime>();
    rt->settings = settings;
    rt->tls = std::make_shared<net::tls_context>(settings->tls);
    auto loaded = auth::passwd_file_passdb::load(settings->passdb.path);
    if (!loaded.db) throw std::runtime_error("passdb: " + loaded.error);
    rt->passdb = std::make_shared<auth::passwd_file_passdb>(settings->passdb.path);
    if (!settings->relays.empty()) rt->relays = submission::make_relay_context(*settings);
    std::shared_ptr<const submission::burl_context> burl;
    if (!settings->burl.servers.empty()) burl = submission::make_burl_context(*settings);

    for (const auto& l : settings->listeners) {
        auto login = std::make_shared<login::login_context>();
        auto& ls = login->settings;
        ls.hostname = settings->server.hostname;
        ls.banner = settings->server.banner;
        ls.mechanisms = settings->auth.mechanisms;
        ls.allow_plaintext_auth = settings->auth.allow_plaintext_auth;
        ls.starttls_offered = l.tls == config::tls_mode::starttls;
        ls.max_command_line = settings->limits.max_command_line;
        ls.max_auth_line = settings->limits.max_auth_line;
        ls.max_bad_commands = settings->limits.max_bad_commands;
        ls.max_failures = settings->auth.max_failures;
        ls.max_message_size = settings->limits.max_message_size;
        ls.relay_caps = relay_caps;
        ls.burl = config::burl_capability(settings->burl);
        login->limits = settings->limits;
        login->tls = rt->tls;
        login->authenticator = authenticator;

        auto sub = std::make_shared<submission::submission_context>();
        sub->hostname = settings->server.hostname;
        sub->mechanisms = settings->auth.mechanisms;
        sub->allow_plaintext_auth = settings->auth.allow_plaintext_auth;
        sub->starttls_listener = ls.starttls_offered;
        sub->limits = settings->limits;
        sub->submission = settings->submission;
        sub->relays = rt->relays;
        sub->caps = relay_caps;
        sub->burl = burl;
        rt->listeners.push_back({l, std::move(login), std::move(sub)});
    }
    return rt;
}

}  // namespace submitd::server
