// Loads the TOML file into config::settings. Every key is checked: an unknown
// key, a value of the wrong type or out of range, or a missing required file
// is a config_error naming the file, the line and the key. Paths are resolved
// against the file's directory. It does not open the certificate or passdb
// files: the server does that when it builds its runtime.
#include <arpa/inet.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <thread>

#include "config/settings.hpp"
#include "fmt/format.h"

namespace submitd::config {

namespace {

namespace fs = std::filesystem;

class reader {
public:
    reader(std::string file, fs::path base) : file_(std::move(file)), base_(std::move(base)) {}

    [[noreturn]] void fail(const toml::node& node, std::string_view key,
                           std::string_view what) const {
        throw config_error(
            fmt::format("{}:{}: {}: {}", file_, node.source().begin.line, key, what));
    }

    /// Refuses keys of `table` that are not in `known`.
    void check_keys(const toml::table& table, std::string_view prefix,
                    std::initializer_list<std::string_view> known) const {
        for (const auto& [key, node] : table) {
            if (std::find(known.begin(), known.end(), key.str()) == known.end()) {
                fail(node, join(prefix, key.str()), "unknown key");
            }
        }
    }

    static std::string join(std::string_view prefix, std::string_view key) {
        return prefix.empty() ? std::string(key) : fmt::format("{}.{}", prefix, key);
    }

    void get(const toml::table& t, std::string_view prefix, std::string_view key,
             std::string& out) const {
        const toml::node* n = t.get(key);
        if (n == nullptr) return;
        if (!n->is_string()) fail(*n, join(prefix, key), "expected a string");
        out = n->as_string()->get();
    }

    void get(const toml::table& t, std::string_view prefix, std::string_view key, bool& out) const {
        const toml::node* n = t.get(key);
        if (n == nullptr) return;
        if (!n->is_boolean()) fail(*n, join(prefix, key), "expected true or false");
        out = n->as_boolean()->get();
    }

    template <class Int>
    void get_int(const toml::table& t, std::string_view prefix, std::string_view key, Int& out,
                 std::int64_t min, std::int64_t max) const {
        const toml::node* n = t.get(key);
        if (n == nullptr) return;
        if (!n->is_integer()) fail(*n, join(prefix, key), "expected an integer");
        std::int64_t v = n->as_integer()->get();
        if (v < min || v > max) {
            fail(*n, join(prefix, key), fmt::format("must be between {} and {}", min, max));
        }
        out = static_cast<Int>(v);
    }

    /// Seconds, integer or float, into milliseconds.
    void get_duration(const toml::table& t, std::string_view prefix, std::string_view key,
                      milliseconds& out, double min_s, double max_s) const {
        const toml::node* n = t.get(key);
        if (n == nullptr) return;
        double v = 0;
        if (n->is_integer()) {
            v = static_cast<double>(n->as_integer()->get());
        } else if (n->is_floating_point()) {
            v = n->as_floating_point()->get();
        } else {
            fail(*n, join(prefix, key), "expected a number of seconds");
        }
        if (!(v >= min_s && v <= max_s)) {
            fail(*n, join(prefix, key),
                 fmt::format("must be between {} and {} seconds", min_s, max_s));
        }
        out = milliseconds(static_cast<std::int64_t>(std::llround(v * 1000.0)));
    }

    void get_path(const toml::table& t, std::string_view prefix, std::string_view key,
                  std::string& out) const {
        get(t, prefix, key, out);
        resolve(out);
    }

    /// A relative path is taken relative to the configuration file.
    void resolve(std::string& path) const {
        if (!path.empty() && fs::path(path).is_relative()) {
            path = (base_ / path).lexically_normal();
        }
    }

    const toml::table* sub_table(const toml::table& root, std::string_view key) const {
        const toml::node* n = root.get(key);
        if (n == nullptr) return nullptr;
        if (!n->is_table()) fail(*n, key, "expected a table");
        return n->as_table();
    }

    const std::string& file() const { return file_; }

private:
    std::string file_;
    fs::path base_;
};

void parse_address(const reader& r, const toml::node& node, std::string_view key,
                   const std::string& text, listener_settings& out) {
    std::string host;
    std::string port;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            r.fail(node, key, "expected \"[IPv6]:port\"");
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string::npos || text.find(':') != colon) {
            r.fail(node, key, "expected \"IPv4:port\" or \"[IPv6]:port\"");
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    if (host.empty() || port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        r.fail(node, key, "expected a numeric address and port");
    }
    long p = std::stol(port);
    if (p > 65535) r.fail(node, key, "port must be at most 65535");
    // Listeners bind to addresses, not names (no resolver at start-up).
    unsigned char bytes[sizeof(in6_addr)];
    bool bracketed = text.front() == '[';
    if (inet_pton(bracketed ? AF_INET6 : AF_INET, host.c_str(), bytes) != 1) {
        r.fail(node, key,
               bracketed ? "expected a numeric IPv6 address in brackets"
                         : "expected a numeric IPv4 address (IPv6 in brackets)");
    }
    out.host = host;
    out.port = static_cast<std::uint16_t>(p);
}

void load_server(const reader& r, const toml::table& root, server_settings& s) {
    const toml::table* t = r.sub_table(root, "server");
    if (t != nullptr) {
        r.check_keys(
            *t, "server",
            {"hostname", "banner", "workers", "user", "group", "shutdown_grace", "log_level"});
        r.get(*t, "server", "hostname", s.hostname);
        r.get(*t, "server", "banner", s.banner);
        r.get_int(*t, "server", "workers", s.workers, 0, 256);
        r.get(*t, "server", "user", s.user);
        r.get(*t, "server", "group", s.group);
        r.get_duration(*t, "server", "shutdown_grace", s.shutdown_grace, 0, 3600);
        r.get(*t, "server", "log_level", s.log_level);
        if (s.log_level != "debug" && s.log_level != "info" && s.log_level != "warn" &&
            s.log_level != "error") {
            r.fail(*t->get("log_level"), "server.log_level", "expected debug, info, warn or error");
        }
        for (char c : s.banner + s.hostname) {
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                r.fail(*t, "server", "hostname and banner must be printable");
            }
        }
    }
    if (s.hostname.empty()) {
        char buf[256] = {};
        if (gethostname(buf, sizeof buf - 1) == 0) s.hostname = buf;
        if (s.hostname.empty()) s.hostname = "localhost";
    }
    if (s.workers == 0) s.workers = std::max(1u, std::thread::hardware_concurrency());
}

void load_listeners(const reader& r, const toml::table& root, std::vector<listener_settings>& out) {
    const toml::node* n = root.get("listener");
    if (n == nullptr) {
        throw config_error(
            fmt::format("{}: listener: at least one [[listener]] is required", r.file()));
    }
    if (!n->is_array_of_tables()) r.fail(*n, "listener", "expected [[listener]] tables");
    std::set<std::string> names;
    for (const toml::node& item : *n->as_array()) {
        const toml::table& t = *item.as_table();
        r.check_keys(t, "listener", {"name", "address", "tls"});
        listener_settings l;
        r.get(t, "listener", "name", l.name);
        std::string address;
        std::string tls = "starttls";
        r.get(t, "listener", "address", address);
        r.get(t, "listener", "tls", tls);
        if (address.empty()) r.fail(t, "listener.address", "missing");
        parse_address(r, *t.get("address"), "listener.address", address, l);
        if (tls == "starttls") {
            l.tls = tls_mode::starttls;
        } else if (tls == "implicit") {
            l.tls = tls_mode::implicit;
        } else {
            r.fail(*t.get("tls"), "listener.tls", "expected \"starttls\" or \"implicit\"");
        }
        if (l.name.empty()) l.name = fmt::format("{}-{}", tls, out.size());
        if (!names.insert(l.name).second) r.fail(t, "listener.name", "duplicate listener name");
        out.push_back(std::move(l));
    }
}

void load_certificate(const reader& r, const toml::table& t, std::string_view prefix,
                      certificate_settings& c) {
    r.get_path(t, prefix, "certificate", c.certificate);
    r.get_path(t, prefix, "key", c.key);
    if (c.certificate.empty()) r.fail(t, fmt::format("{}.certificate", prefix), "missing");
    if (c.key.empty()) r.fail(t, fmt::format("{}.key", prefix), "missing");
}

void load_tls(const reader& r, const toml::table& root, tls_settings& s) {
    const toml::table* t = r.sub_table(root, "tls");
    if (t == nullptr)
        throw config_error(fmt::format("{}: tls: the [tls] table is required", r.file()));
    r.check_keys(*t, "tls",
                 {"certificate", "key", "min_version", "ciphers", "session_cache_size", "sni"});
    load_certificate(r, *t, "tls", s.default_certificate);
    r.get(*t, "tls", "min_version", s.min_version);
    if (s.min_version != "TLSv1.2" && s.min_version != "TLSv1.3") {
        r.fail(*t->get("min_version"), "tls.min_version", "expected \"TLSv1.2\" or \"TLSv1.3\"");
    }
    r.get(*t, "tls", "ciphers", s.ciphers);
    r.get_int(*t, "tls", "session_cache_size", s.session_cache_size, 0, 10'000'000);
    if (const toml::node* n = t->get("sni")) {
        if (!n->is_array_of_tables()) r.fail(*n, "tls.sni", "expected [[tls.sni]] tables");
        for (const toml::node& item : *n->as_array()) {
            const toml::table& st = *item.as_table();
            r.check_keys(st, "tls.sni", {"name", "certificate", "key"});
            certificate_settings c;
            r.get(st, "tls.sni", "name", c.name);
            if (c.name.empty()) r.fail(st, "tls.sni.name", "missing");
            load_certificate(r, st, "tls.sni", c);
            s.sni.push_back(std::move(c));
        }
    }
}

void load_auth(const reader& r, const toml::table& root, auth_settings& s) {
    const toml::table* t = r.sub_table(root, "auth");
    if (t == nullptr) return;
    r.check_keys(*t, "auth",
                 {"mechanisms", "allow_plaintext_auth", "hash_workers", "max_queued",
                  "failure_delay", "failure_delay_max", "max_failures", "failure_window"});
    if (const toml::node* n = t->get("mechanisms")) {
        if (!n->is_array()) r.fail(*n, "auth.mechanisms", "expected an array of names");
        s.mechanisms.clear();
        for (const toml::node& m : *n->as_array()) {
            if (!m.is_string()) r.fail(m, "auth.mechanisms", "expected mechanism names");
            std::string name = m.as_string()->get();
            std::transform(name.begin(), name.end(), name.begin(),
                           [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
            if (name != "PLAIN" && name != "LOGIN") {
                r.fail(m, "auth.mechanisms", fmt::format("unknown mechanism \"{}\"", name));
            }
            s.mechanisms.push_back(name);
        }
    }
    r.get(*t, "auth", "allow_plaintext_auth", s.allow_plaintext_auth);
    r.get_int(*t, "auth", "hash_workers", s.hash_workers, 1, 64);
    r.get_int(*t, "auth", "max_queued", s.max_queued, 1, 1'000'000);
    r.get_duration(*t, "auth", "failure_delay", s.failure_delay, 0, 60);
    r.get_duration(*t, "auth", "failure_delay_max", s.failure_delay_max, 0, 600);
    r.get_int(*t, "auth", "max_failures", s.max_failures, 1, 1000);
    r.get_duration(*t, "auth", "failure_window", s.failure_window, 1, 86400);
}

void load_passdb(const reader& r, const toml::table& root, passdb_settings& s) {
    const toml::table* t = r.sub_table(root, "passdb");
    if (t == nullptr)
        throw config_error(fmt::format("{}: passdb: the [passdb] table is required", r.file()));
    r.check_keys(*t, "passdb", {"driver", "path"});
    r.get(*t, "passdb", "driver", s.driver);
    if (s.driver != "passwd-file")
        r.fail(*t->get("driver"), "passdb.driver", "expected \"passwd-file\"");
    r.get_path(*t, "passdb", "path", s.path);
    if (s.path.empty()) r.fail(*t, "passdb.path", "missing");
}

void load_limits(const reader& r, const toml::table& root, limits_settings& s) {
    const toml::table* t = r.sub_table(root, "limits");
    if (t == nullptr) return;
    r.check_keys(*t, "limits",
                 {"max_command_line", "max_auth_line", "max_bad_commands", "idle_timeout",
                  "command_timeout", "tls_handshake_timeout", "max_connections",
                  "max_connections_per_ip", "max_message_size", "min_data_rate"});
    r.get_int(*t, "limits", "max_command_line", s.max_command_line, 512, 65536);
    r.get_int(*t, "limits", "max_auth_line", s.max_auth_line, 512, 65536);
    r.get_int(*t, "limits", "max_bad_commands", s.max_bad_commands, 1, 1000);
    r.get_duration(*t, "limits", "idle_timeout", s.idle_timeout, 0.05, 86400);
    r.get_duration(*t, "limits", "command_timeout", s.command_timeout, 0.05, 86400);
    r.get_duration(*t, "limits", "tls_handshake_timeout", s.tls_handshake_timeout, 0.05, 3600);
    r.get_int(*t, "limits", "max_connections", s.max_connections, 1, 10'000'000);
    r.get_int(*t, "limits", "max_connections_per_ip", s.max_connections_per_ip, 1, 10'000'000);
    r.get_int(*t, "limits", "max_message_size", s.max_message_size, 1024, std::int64_t{1} << 40);
    r.get_int(*t, "limits", "min_data_rate", s.min_data_rate, 0, std::int64_t{1} << 30);
}

void load_relays(const reader& r, const toml::table& root, std::vector<relay_settings>& out) {
    const toml::node* n = root.get("relay");
    if (n == nullptr) return;  // no relay: mail is refused with 451 4.3.0 (logged at start)
    if (!n->is_array_of_tables()) r.fail(*n, "relay", "expected [[relay]] tables");
    for (const toml::node& item : *n->as_array()) {
        const toml::table& t = *item.as_table();
        r.check_keys(t, "relay",
                     {"address", "tls", "verify", "ca_file", "server_name", "auth_user",
                      "auth_password", "auth_as_client", "xclient"});
        relay_settings rs;
        r.get(t, "relay", "address", rs.address);
        if (rs.address.empty()) r.fail(t, "relay.address", "missing");
        const toml::node& an = *t.get("address");
        if (rs.address.starts_with("unix:")) {
            rs.kind = relay_kind::unix_socket;
            rs.host = rs.address.substr(5);
            r.resolve(rs.host);
        } else if (rs.address.starts_with("maildir:")) {
            rs.kind = relay_kind::maildir;
            rs.host = rs.address.substr(8);
            r.resolve(rs.host);
        } else {
            listener_settings l;
            parse_address(r, an, "relay.address", rs.address, l);
            rs.host = l.host;
            rs.port = l.port;
            if (rs.port == 0) r.fail(an, "relay.address", "port must not be 0");
        }
        if ((rs.kind != relay_kind::tcp) && rs.host.empty()) {
            r.fail(an, "relay.address", "missing path");
        }
        std::string tls = "none";
        r.get(t, "relay", "tls", tls);
        if (tls == "none") {
            rs.tls = relay_tls_mode::none;
        } else if (tls == "starttls") {
            rs.tls = relay_tls_mode::starttls;
        } else if (tls == "implicit") {
            rs.tls = relay_tls_mode::implicit;
        } else {
            r.fail(*t.get("tls"), "relay.tls", "expected \"none\", \"starttls\" or \"implicit\"");
        }
        r.get(t, "relay", "verify", rs.verify);
        r.get_path(t, "relay", "ca_file", rs.ca_file);
        r.get(t, "relay", "server_name", rs.server_name);
        r.get(t, "relay", "auth_user", rs.auth_user);
        r.get(t, "relay", "auth_password", rs.auth_password);
        r.get(t, "relay", "auth_as_client", rs.auth_as_client);
        r.get(t, "relay", "xclient", rs.xclient);
        if (rs.auth_as_client && rs.auth_user.empty()) {
            r.fail(t, "relay.auth_as_client", "needs relay.auth_user (the master user)");
        }
        if (rs.kind == relay_kind::maildir &&
            (rs.tls != relay_tls_mode::none || rs.xclient || !rs.auth_user.empty())) {
            r.fail(t, "relay.address", "a maildir outbox takes no tls, auth or xclient");
        }
        out.push_back(std::move(rs));
    }
}

void load_relay_client(const reader& r, const toml::table& root, relay_client_settings& s) {
    const toml::table* t = r.sub_table(root, "relay_client");
    if (t == nullptr) return;
    r.check_keys(*t, "relay_client",
                 {"helo_name", "connect_timeout", "command_timeout", "data_timeout", "idle_timeout",
                  "capability_refresh"});
    r.get(*t, "relay_client", "helo_name", s.helo_name);
    r.get_duration(*t, "relay_client", "connect_timeout", s.connect_timeout, 0.05, 600);
    r.get_duration(*t, "relay_client", "command_timeout", s.command_timeout, 0.05, 3600);
    // Below the client's own 10-minute patience for the final reply (RFC 5321 4.5.3.2.6).
    r.get_duration(*t, "relay_client", "data_timeout", s.data_timeout, 0.05, 590);
    r.get_duration(*t, "relay_client", "idle_timeout", s.idle_timeout, 0.05, 3600);
    r.get_duration(*t, "relay_client", "capability_refresh", s.capability_refresh, 1, 86400);
}

relay_tls_mode get_tls_mode(const reader& r, const toml::table& t, std::string_view key) {
    std::string tls = "none";
    r.get(t, key, "tls", tls);
    if (tls == "none") return relay_tls_mode::none;
    if (tls == "starttls") return relay_tls_mode::starttls;
    if (tls == "implicit") return relay_tls_mode::implicit;
    r.fail(*t.get("tls"), r.join(key, "tls"), "expected \"none\", \"starttls\" or \"implicit\"");
}

void load_burl_server(const reader& r, const toml::table& t, burl_server_settings& b) {
    constexpr std::string_view p = "burl.server";
    r.check_keys(
        t, p,
        {"host", "port", "tls", "verify", "ca_file", "server_name", "modes", "urlauth_user",
         "urlauth_password", "master_user", "master_password", "master_separator"});
    r.get(t, p, "host", b.host);
    if (b.host.empty() || b.host.find_first_of(" /@[]%") != std::string::npos) {
        r.fail(t, "burl.server.host", "expected a host name or an IP address (IPv6 unbracketed)");
    }
    for (auto& c : b.host)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    b.tls = get_tls_mode(r, t, p);
    b.port = b.tls == relay_tls_mode::implicit ? 993 : 143;
    r.get_int(t, p, "port", b.port, 1, 65535);
    r.get(t, p, "verify", b.verify);
    r.get_path(t, p, "ca_file", b.ca_file);
    r.get(t, p, "server_name", b.server_name);
    const toml::node* modes = t.get("modes");
    if (modes == nullptr) r.fail(t, "burl.server.modes", "missing (\"urlauth\", \"trusted\")");
    if (!modes->is_array() || modes->as_array()->empty()) {
        r.fail(*modes, "burl.server.modes", "expected a list of \"urlauth\" and \"trusted\"");
    }
    for (const toml::node& m : *modes->as_array()) {
        if (m.value<std::string>() == "urlauth") {
            b.urlauth = true;
        } else if (m.value<std::string>() == "trusted") {
            b.trusted = true;
        } else {
            r.fail(m, "burl.server.modes", "expected \"urlauth\" or \"trusted\"");
        }
    }
    r.get(t, p, "urlauth_user", b.urlauth_user);
    r.get(t, p, "urlauth_password", b.urlauth_password);
    r.get(t, p, "master_user", b.master_user);
    r.get(t, p, "master_password", b.master_password);
    r.get(t, p, "master_separator", b.master_separator);
    if (b.urlauth && (b.urlauth_user.empty() || b.urlauth_password.empty())) {
        r.fail(t, "burl.server.urlauth_user",
               "mode urlauth needs urlauth_user and urlauth_password");
    }
    if (b.trusted && (b.master_user.empty() || b.master_password.empty())) {
        r.fail(t, "burl.server.master_user", "mode trusted needs master_user and master_password");
    }
}

void load_burl(const reader& r, const toml::table& root, burl_settings& s) {
    const toml::table* t = r.sub_table(root, "burl");
    if (t == nullptr) return;
    r.check_keys(*t, "burl", {"connect_timeout", "command_timeout", "server"});
    r.get_duration(*t, "burl", "connect_timeout", s.connect_timeout, 0.05, 600);
    r.get_duration(*t, "burl", "command_timeout", s.command_timeout, 0.05, 3600);
    const toml::node* n = t->get("server");
    if (n == nullptr) return;
    if (!n->is_array_of_tables()) r.fail(*n, "burl.server", "expected [[burl.server]] tables");
    for (const toml::node& item : *n->as_array()) {
        burl_server_settings b;
        load_burl_server(r, *item.as_table(), b);
        for (const auto& other : s.servers) {
            if (other.host == b.host && other.port == b.port) {
                r.fail(item, "burl.server.host", "the same host and port twice");
            }
        }
        s.servers.push_back(std::move(b));
    }
}

void load_submission(const reader& r, const toml::table& root, submission_settings& s) {
    const toml::table* t = r.sub_table(root, "submission");
    if (t == nullptr) return;
    r.check_keys(*t, "submission",
                 {"max_recipients", "whitespace_before_path", "mailbox_for_path", "bare_lf",
                  "bare_cr", "spool_memory", "spool_dir", "received_header", "received_privacy"});
    r.get_int(*t, "submission", "max_recipients", s.max_recipients, 1, 100000);
    r.get(*t, "submission", "whitespace_before_path", s.whitespace_before_path);
    r.get(*t, "submission", "mailbox_for_path", s.mailbox_for_path);
    std::string lf = "normalize";
    std::string cr = "reject";
    r.get(*t, "submission", "bare_lf", lf);
    r.get(*t, "submission", "bare_cr", cr);
    if (lf != "normalize" && lf != "reject") {
        r.fail(*t->get("bare_lf"), "submission.bare_lf", "expected \"normalize\" or \"reject\"");
    }
    if (cr != "normalize" && cr != "reject") {
        r.fail(*t->get("bare_cr"), "submission.bare_cr", "expected \"reject\" or \"normalize\"");
    }
    s.bare_lf = lf == "reject" ? bare_lf_mode::reject : bare_lf_mode::normalize;
    s.bare_cr = cr == "normalize" ? bare_cr_mode::normalize : bare_cr_mode::reject;
    r.get_int(*t, "submission", "spool_memory", s.spool_memory, 4096, 64 << 20);
    r.get_path(*t, "submission", "spool_dir", s.spool_dir);
    r.get(*t, "submission", "received_header", s.received_header);
    r.get(*t, "submission", "received_privacy", s.received_privacy);
}

}  // namespace

std::vector<std::string> burl_capability(const burl_settings& b) {
    std::vector<std::string> out;
    if (std::any_of(b.servers.begin(), b.servers.end(), [](const auto& s) { return s.urlauth; })) {
        out.emplace_back("imap");
    }
    for (const auto& s : b.servers) {
        if (!s.trusted) continue;
        bool v6 = s.host.find(':') != std::string::npos;
        std::string host = v6 ? fmt::format("[{}]", s.host) : s.host;
        out.push_back(s.port == 143 ? fmt::format("imap://{}", host)
                                    : fmt::format("imap://{}:{}", host, s.port));
    }
    return out;
}

settings_ptr load_settings(const std::string& path) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
        throw config_error(fmt::format("{}: cannot read the configuration file: {}", path,
                                       ec ? ec.message() : "not a regular file"));
    }
    toml::table root;
    try {
        root = toml::parse_file(path);
    } catch (const toml::parse_error& e) {
        throw config_error(fmt::format("{}:{}: {}", path, e.source().begin.line, e.description()));
    }
    reader r(path, fs::absolute(path).parent_path());
    r.check_keys(root, "",
                 {"server", "listener", "tls", "auth", "passdb", "limits", "relay", "relay_client",
                  "submission", "burl"});
    auto s = std::make_shared<settings>();
    s->source_path = fs::absolute(path).string();
    load_server(r, root, s->server);
    load_listeners(r, root, s->listeners);
    load_tls(r, root, s->tls);
    load_auth(r, root, s->auth);
    load_passdb(r, root, s->passdb);
    load_limits(r, root, s->limits);
    load_relays(r, root, s->relays);
    load_relay_client(r, root, s->relay_client);
    if (s->relay_client.helo_name.empty()) s->relay_client.helo_name = s->server.hostname;
    load_submission(r, root, s->submission);
    load_burl(r, root, s->burl);
    return s;
}

}  // namespace submitd::config
