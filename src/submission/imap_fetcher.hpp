// Fetches BURL parts (RFC 4468) from the configured IMAP servers for one
// session: connects (TCP, STARTTLS or implicit TLS), logs in through the
// imap::client machine and runs URLFETCH (as the URLAUTH account) or
// EXAMINE + UID FETCH (as the login, through the master user). Connections
// are kept for the session's later BURLs, one per server and mode, and
// logged out when the session ends. Every wait has a deadline; whatever goes
// wrong on the way is burl_status::unavailable (451 4.4.1 to the client),
// logged as an imap-failed line with the stage.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ssl/context.hpp>
#include <memory>
#include <vector>

#include "config/settings.hpp"
#include "imap/client.hpp"
#include "ipc/handoff.hpp"
#include "submission/submission_machine.hpp"

namespace submitd::submission {

/// The BURL servers of one configuration load with their TLS client contexts.
struct burl_context {
    config::burl_settings settings;
    std::vector<std::shared_ptr<asio::ssl::context>> tls;  ///< per server; null without TLS
};

/// @throws std::runtime_error (a CA file that cannot be loaded).
std::shared_ptr<const burl_context> make_burl_context(const config::settings& s);

/// The servers as the submission machine checks URLs against them.
std::vector<burl_server> burl_servers(const config::burl_settings& s);

class imap_fetcher {
public:
    imap_fetcher(asio::any_io_executor ex, std::shared_ptr<const burl_context> ctx,
                 const ipc::handoff& session);
    ~imap_fetcher();
    imap_fetcher(const imap_fetcher&) = delete;
    imap_fetcher& operator=(const imap_fetcher&) = delete;

    asio::awaitable<burl_result> fetch(const burl_request& req);
    /// Logs out of every open connection (briefly: a server that does not
    /// answer is just dropped) and closes them.
    asio::awaitable<void> close();

private:
    struct connection;
    /// A logged-in connection for `server` in that mode: the session's kept
    /// one (`reused`) or a new one; null when none could be made.
    asio::awaitable<connection*> open(std::size_t server, bool urlauth, bool& reused);
    /// The TLS handshake on c's socket (STARTTLS or implicit).
    asio::awaitable<bool> start_tls(connection& c);
    /// Drives c's machine from `step` until it is ready, done or failed.
    asio::awaitable<imap::step> run(connection& c, imap::step step);
    void drop(connection& c, std::string_view stage, std::string_view reason);

    asio::any_io_executor ex_;
    std::shared_ptr<const burl_context> ctx_;
    const ipc::handoff& session_;
    std::vector<std::unique_ptr<connection>> conns_;
};

}  // namespace submitd::submission
