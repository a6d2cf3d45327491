// Prints the effective settings as TOML, for `submitd check`: every key with
// the value in force, defaults included, paths resolved.
#include <fmt/format.h>

#include "config/settings.hpp"
#include "core/log.hpp"

namespace submitd::config {

namespace {

/// A TOML basic string: quotes and backslashes escaped, control characters
/// as \uXXXX (TOML 1.0 allows none of them raw), so the output loads back.
std::string str(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (u < 0x20 || u == 0x7f) {
            out += fmt::format("\\u{:04X}", u);
        } else {
            out.push_back(c);
        }
    }
    return out + "\"";
}

double secs(milliseconds ms) {
    return static_cast<double>(ms.count()) / 1000.0;
}

}  // namespace

std::string describe(const settings& s) {
    std::string o;
    auto out = std::back_inserter(o);
    fmt::format_to(out, "# effective settings of {}\n\n[server]\n", s.source_path);
    fmt::format_to(out, "hostname = {}\nbanner = {}\nworkers = {}\nuser = {}\ngroup = {}\n",
                   str(s.server.hostname), str(s.server.banner), s.server.workers,
                   str(s.server.user), str(s.server.group));
    fmt::format_to(out, "shutdown_grace = {}\nlog_level = {}\n", secs(s.server.shutdown_grace),
                   str(s.server.log_level));
    for (const auto& l : s.listeners) {
        bool v6 = l.host.find(':') != std::string::npos;
        fmt::format_to(out, "\n[[listener]]\nname = {}\naddress = \"{}{}{}:{}\"\ntls = \"{}\"\n",
                       str(l.name), v6 ? "[" : "", l.host, v6 ? "]" : "", l.port,
                       l.tls == tls_mode::starttls ? "starttls" : "implicit");
    }
    fmt::format_to(out, "\n[tls]\ncertificate = {}\nkey = {}\nmin_version = {}\nciphers = {}\n",
                   str(s.tls.default_certificate.certificate), str(s.tls.default_certificate.key),
                   str(s.tls.min_version), str(s.tls.ciphers));
    fmt::format_to(out, "session_cache_size = {}\n", s.tls.session_cache_size);
    for (const auto& c : s.tls.sni) {
        fmt::format_to(out, "\n[[tls.sni]]\nname = {}\ncertificate = {}\nkey = {}\n", str(c.name),
                       str(c.certificate), str(c.key));
    }
    fmt::format_to(out, "\n[auth]\nmechanisms = [");
    for (std::size_t i = 0; i < s.auth.mechanisms.size(); ++i) {
        fmt::format_to(out, "{}{}", i ? ", " : "", str(s.auth.mechanisms[i]));
    }
    fmt::format_to(out, "]\nallow_plaintext_auth = {}\nhash_workers = {}\nmax_queued = {}\n",
                   s.auth.allow_plaintext_auth, s.auth.hash_workers, s.auth.max_queued);
    fmt::format_to(out, "failure_delay = {}\nfailure_delay_max = {}\nmax_failures = {}\n",
                   secs(s.auth.failure_delay), secs(s.auth.failure_delay_max), s.auth.max_failures);
    fmt::format_to(out, "failure_window = {}\n", secs(s.auth.failure_window));
    fmt::format_to(out, "\n[passdb]\ndriver = {}\npath = {}\n", str(s.passdb.driver),
                   str(s.passdb.path));
    const auto& l = s.limits;
    fmt::format_to(out, "\n[limits]\nmax_command_line = {}\nmax_auth_line = {}\n",
                   l.max_command_line, l.max_auth_line);
    fmt::format_to(out, "max_bad_commands = {}\nidle_timeout = {}\ncommand_timeout = {}\n",
                   l.max_bad_commands, secs(l.idle_timeout), secs(l.command_timeout));
    fmt::format_to(out, "tls_handshake_timeout = {}\nmax_connections = {}\n",
                   secs(l.tls_handshake_timeout), l.max_connections);
    fmt::format_to(out, "max_connections_per_ip = {}\nmax_message_size = {}\n",
                   l.max_connections_per_ip, l.max_message_size);
    fmt::format_to(out, "min_data_rate = {}\n", l.min_data_rate);
    static constexpr const char* tls_names[] = {"none", "starttls", "implicit"};
    for (const auto& r : s.relays) {
        fmt::format_to(out, "\n[[relay]]\naddress = {}\ntls = \"{}\"\nverify = {}\nca_file = {}\n",
                       str(r.address), tls_names[static_cast<int>(r.tls)], r.verify,
                       str(r.ca_file));
        // The password is a secret: shown only as set or not.
        fmt::format_to(out, "server_name = {}\nauth_user = {}\nauth_password = {}\n",
                       str(r.server_name), str(r.auth_user),
                       r.auth_password.empty() ? "\"\"" : "\"********\"");
        fmt::format_to(out, "auth_as_client = {}\nxclient = {}\n", r.auth_as_client, r.xclient);
    }
    const auto& rc = s.relay_client;
    fmt::format_to(out, "\n[relay_client]\nhelo_name = {}\nconnect_timeout = {}\n",
                   str(rc.helo_name), secs(rc.connect_timeout));
    fmt::format_to(out, "command_timeout = {}\ndata_timeout = {}\nidle_timeout = {}\n",
                   secs(rc.command_timeout), secs(rc.data_timeout), secs(rc.idle_timeout));
    fmt::format_to(out, "capability_refresh = {}\n", secs(rc.capability_refresh));
    const auto& sb = s.submission;
    fmt::format_to(out, "\n[submission]\nmax_recipients = {}\nwhitespace_before_path = {}\n",
                   sb.max_recipients, sb.whitespace_before_path);
    fmt::format_to(out, "mailbox_for_path = {}\nbare_lf = \"{}\"\nbare_cr = \"{}\"\n",
                   sb.mailbox_for_path,
                   sb.bare_lf == bare_lf_mode::normalize ? "normalize" : "reject",
                   sb.bare_cr == bare_cr_mode::reject ? "reject" : "normalize");
    fmt::format_to(out, "spool_memory = {}\nspool_dir = {}\nreceived_header = {}\n",
                   sb.spool_memory, str(sb.spool_dir), sb.received_header);
    fmt::format_to(out, "received_privacy = {}\n", sb.received_privacy);
    fmt::format_to(out, "\n[burl]\nconnect_timeout = {}\ncommand_timeout = {}\n",
                   secs(s.burl.connect_timeout), secs(s.burl.command_timeout));
    for (const auto& b : s.burl.servers) {
        fmt::format_to(out, "\n[[burl.server]]\nhost = {}\nport = {}\ntls = \"{}\"\n", str(b.host),
                       b.port, tls_names[static_cast<int>(b.tls)]);
        fmt::format_to(out, "verify = {}\nca_file = {}\nserver_name = {}\n", b.verify,
                       str(b.ca_file), str(b.server_name));
        fmt::format_to(out, "modes = [{}{}{}]\n", b.urlauth ? "\"urlauth\"" : "",
                       b.urlauth && b.trusted ? ", " : "", b.trusted ? "\"trusted\"" : "");
        // Passwords are secrets: shown only as set or not.
        fmt::format_to(out, "urlauth_user = {}\nurlauth_password = {}\n", str(b.urlauth_user),
                       b.urlauth_password.empty() ? "\"\"" : "\"********\"");
        fmt::format_to(out, "master_user = {}\nmaster_password = {}\nmaster_separator = {}\n",
                       str(b.master_user), b.master_password.empty() ? "\"\"" : "\"********\"",
                       str(b.master_separator));
    }
    return o;
}

}  // namespace submitd::config
