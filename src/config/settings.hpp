// The typed, validated, immutable settings loaded from one TOML file. A
// snapshot is shared as std::shared_ptr<const settings> and replaced whole on
// reload (DESIGN.md section 2.3); nothing in it changes after loading.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace submitd::config {

using std::chrono::milliseconds;

enum class tls_mode { starttls, implicit };

struct listener_settings {
    std::string name;
    std::string host;  ///< numeric IPv4 or IPv6 address, without brackets
    std::uint16_t port = 0;
    tls_mode tls = tls_mode::starttls;
};

struct certificate_settings {
    std::string name;  ///< SNI name; empty for the default certificate
    std::string certificate;
    std::string key;
};

struct tls_settings {
    certificate_settings default_certificate;
    std::vector<certificate_settings> sni;
    std::string min_version = "TLSv1.2";
    std::string ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20";
    long session_cache_size = 20480;
};

struct server_settings {
    std::string hostname;
    std::string banner = "submitd";
    unsigned workers = 0;  ///< resolved: never 0 after loading
    std::string user;
    std::string group;
    milliseconds shutdown_grace{30000};
    std::string log_level = "info";
};

struct auth_settings {
    std::vector<std::string> mechanisms{"PLAIN", "LOGIN"};
    bool allow_plaintext_auth = false;
    unsigned hash_workers = 2;
    unsigned max_queued = 1024;  ///< logins waiting for a hash worker; more get 454 4.7.0
    milliseconds failure_delay{2000};
    milliseconds failure_delay_max{15000};
    unsigned max_failures = 3;
    milliseconds failure_window{300000};
};

struct passdb_settings {
    std::string driver = "passwd-file";
    std::string path;
};

struct limits_settings {
    std::size_t max_command_line = 2048;
    std::size_t max_auth_line = 12288;
    unsigned max_bad_commands = 10;
    milliseconds idle_timeout{300000};
    milliseconds command_timeout{60000};
    milliseconds tls_handshake_timeout{30000};
    unsigned max_connections = 1000;
    unsigned max_connections_per_ip = 20;
    std::uint64_t max_message_size = 40ull << 20;
    /// Bytes per second a message body must keep up, on average over the
    /// idle_timeout budget (Postfix's smtpd_min_data_rate); 0: no minimum.
    std::uint64_t min_data_rate = 500;
};

enum class relay_kind { tcp, unix_socket, maildir };
enum class relay_tls_mode { none, starttls, implicit };

struct relay_settings {
    std::string address;  ///< as configured, for logs
    relay_kind kind = relay_kind::tcp;
    std::string host;  ///< tcp: numeric address or name; unix/maildir: the path
    std::uint16_t port = 25;
    relay_tls_mode tls = relay_tls_mode::none;
    bool verify = true;
    std::string ca_file;
    std::string server_name;
    std::string auth_user;
    std::string auth_password;
    bool auth_as_client = false;
    bool xclient = false;
};

struct relay_client_settings {
    std::string helo_name;  ///< resolved: server.hostname when not set
    milliseconds connect_timeout{30000};
    milliseconds command_timeout{300000};
    milliseconds data_timeout{540000};
    milliseconds idle_timeout{60000};
    milliseconds capability_refresh{300000};
};

/// An IMAP server that BURL may fetch from (RFC 4468 section 4). A URL must
/// name exactly this host and port; submitd connects nowhere else.
struct burl_server_settings {
    std::string host;  ///< as URLs name it, lower-cased
    std::uint16_t port = 143;
    relay_tls_mode tls = relay_tls_mode::none;
    bool verify = true;
    std::string ca_file;
    std::string server_name;
    /// URLAUTH (RFC 4467): log in as urlauth_user and URLFETCH submit+<user> URLs.
    bool urlauth = false;
    std::string urlauth_user;
    std::string urlauth_password;
    /// Trusted: log in as the SMTP user through the master user and fetch
    /// the user's own messages with UID FETCH.
    bool trusted = false;
    std::string master_user;
    std::string master_password;
    /// Empty: the master user logs in with SASL PLAIN's authorization
    /// identity; otherwise as "<user><separator><master_user>" (Dovecot's
    /// auth_master_user_separator).
    std::string master_separator;
};

struct burl_settings {
    milliseconds connect_timeout{10000};        ///< connect, TLS and login
    milliseconds command_timeout{60000};        ///< each IMAP response, the fetched data included
    std::vector<burl_server_settings> servers;  ///< none: BURL is not offered
};

enum class bare_lf_mode { normalize, reject };
enum class bare_cr_mode { reject, normalize };

struct submission_settings {
    unsigned max_recipients = 100;
    bool whitespace_before_path = false;
    bool mailbox_for_path = false;
    bare_lf_mode bare_lf = bare_lf_mode::normalize;
    bare_cr_mode bare_cr = bare_cr_mode::reject;
    std::size_t spool_memory = 128 * 1024;
    std::string spool_dir = "/tmp";
    bool received_header = true;
    bool received_privacy = false;
};

struct settings {
    std::string source_path;
    server_settings server;
    std::vector<listener_settings> listeners;
    tls_settings tls;
    auth_settings auth;
    passdb_settings passdb;
    limits_settings limits;
    std::vector<relay_settings> relays;  ///< tried in order; none: mail is refused (451 4.3.0)
    relay_client_settings relay_client;
    submission_settings submission;
    burl_settings burl;
};

using settings_ptr = std::shared_ptr<const settings>;

/// BURL's EHLO parameters for `b` (RFC 4468 section 3): "imap" when a server
/// takes URLAUTH URLs, then "imap://host[:port]" for each trusted server.
std::vector<std::string> burl_capability(const burl_settings& b);

/// A configuration that cannot be used; what() names the file, line and key.
class config_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Reads and validates the file. Relative paths in it are taken relative to
/// the file's directory. @throws config_error
settings_ptr load_settings(const std::string& path);

/// The effective settings as TOML, every key with its value.
std::string describe(const settings& s);

}  // namespace submitd::config
