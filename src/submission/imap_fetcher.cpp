// The BURL fetcher; see imap_fetcher.hpp.
#include "submission/imap_fetcher.hpp"

#include <fmt/format.h>

#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <optional>

#include "core/log.hpp"
#include "core/secret.hpp"
#include "net/client_tls.hpp"
#include "net/deadline.hpp"

namespace submitd::submission {

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

std::string_view tls_name(config::relay_tls_mode m) {
    switch (m) {
        case config::relay_tls_mode::none:
            return "none";
        case config::relay_tls_mode::starttls:
            return "starttls";
        case config::relay_tls_mode::implicit:
            return "implicit";
    }
    return "none";
}

}  // namespace

std::shared_ptr<const burl_context> make_burl_context(const config::settings& s) {
    auto ctx = std::make_shared<burl_context>();
    ctx->settings = s.burl;
    for (const auto& b : s.burl.servers) {
        if (b.tls == config::relay_tls_mode::none) {
            ctx->tls.push_back(nullptr);
            continue;
        }
        try {
            ctx->tls.push_back(net::make_client_tls(b.verify, b.ca_file));
        } catch (const std::runtime_error& e) {
            throw std::runtime_error(fmt::format("burl server {}: {}", b.host, e.what()));
        }
    }
    return ctx;
}

std::vector<burl_server> burl_servers(const config::burl_settings& s) {
    std::vector<burl_server> out;
    for (const auto& b : s.servers)
        out.push_back({b.host, b.port, b.urlauth, b.trusted});
    return out;
}

struct imap_fetcher::connection {
    connection(const asio::any_io_executor& ex, std::size_t server, bool urlauth,
               imap::client_settings settings, core::secret_string pw)
        : server(server),
          urlauth(urlauth),
          socket(ex),
          password(std::move(pw)),
          client(with_password(std::move(settings), &password)) {}

    static imap::client_settings with_password(imap::client_settings s, core::secret_string* pw) {
        s.password = pw;
        return s;
    }

    void cancel() {
        std::error_code ignored;
        socket.cancel(ignored);
    }

    std::size_t server;
    bool urlauth;
    asio::ip::tcp::socket socket;
    std::optional<asio::ssl::stream<asio::ip::tcp::socket&>> tls;
    core::secret_string password;  ///< before client: the client points at it
    imap::client client;
    std::string in;
    bool ready = false;
    std::chrono::milliseconds timeout{0};  ///< for the next wait
};

imap_fetcher::imap_fetcher(asio::any_io_executor ex, std::shared_ptr<const burl_context> ctx,
                           const ipc::handoff& session)
    : ex_(std::move(ex)), ctx_(std::move(ctx)), session_(session) {}

imap_fetcher::~imap_fetcher() = default;

void imap_fetcher::drop(connection& c, std::string_view stage, std::string_view reason) {
    const auto& b = ctx_->settings.servers.at(c.server);
    core::log_warn("imap-failed session={} server={}:{} stage={} reason={}", session_.session_id,
                   b.host, b.port, stage, core::quoted(reason));
    c.tls.reset();
    std::error_code ignored;
    c.socket.close(ignored);
    c.ready = false;
}

asio::awaitable<bool> imap_fetcher::start_tls(connection& c) {
    const auto& b = ctx_->settings.servers.at(c.server);
    c.tls.emplace(c.socket, *ctx_->tls.at(c.server));
    net::prepare_client_tls(*c.tls, b.server_name.empty() ? b.host : b.server_name, b.verify);
    net::deadline d(ex_, ctx_->settings.connect_timeout, [&c] { c.cancel(); });
    auto [ec] = co_await c.tls->async_handshake(asio::ssl::stream_base::client, use_tuple);
    if (ec) {
        drop(c, "tls", d.expired() ? "timeout" : ec.message());
        co_return false;
    }
    co_return true;
}

asio::awaitable<imap::step> imap_fetcher::run(connection& c, imap::step step) {
    bool need_bytes = c.in.empty();
    for (;;) {
        if (!c.client.output().empty()) {
            net::deadline d(ex_, c.timeout, [&c] { c.cancel(); });
            std::error_code ec;
            if (c.tls) {
                std::tie(ec, std::ignore) =
                    co_await asio::async_write(*c.tls, asio::buffer(c.client.output()), use_tuple);
            } else {
                std::tie(ec, std::ignore) = co_await asio::async_write(
                    c.socket, asio::buffer(c.client.output()), use_tuple);
            }
            c.client.clear_output();  // wipes: it may hold the login
            if (ec) {
                drop(c, "write", d.expired() ? "timeout" : ec.message());
                co_return imap::step::failed;
            }
        }
        if (step == imap::step::start_tls) {
            if (!c.in.empty()) {
                // Bytes sent before TLS cannot be trusted after it (STARTTLS injection).
                drop(c, "starttls", "data after the STARTTLS reply");
                co_return imap::step::failed;
            }
            bool ok = co_await start_tls(c);
            if (!ok) co_return imap::step::failed;
            step = c.client.on_tls_established();
            need_bytes = c.in.empty();
            continue;
        }
        if (step != imap::step::read) co_return step;
        if (need_bytes) {
            char buf[16384];
            net::deadline d(ex_, c.timeout, [&c] { c.cancel(); });
            std::error_code ec;
            std::size_t n = 0;
            if (c.tls) {
                std::tie(ec, n) = co_await c.tls->async_read_some(asio::buffer(buf), use_tuple);
            } else {
                std::tie(ec, n) = co_await c.socket.async_read_some(asio::buffer(buf), use_tuple);
            }
            if (ec) {
                drop(c, "read", d.expired() ? "timeout" : ec.message());
                co_return imap::step::failed;
            }
            c.in.append(buf, n);
        }
        std::size_t consumed = 0;
        step = c.client.on_input(c.in, consumed);
        c.in.erase(0, consumed);
        // Nothing taken: the machine needs more than what is buffered.
        need_bytes = c.in.empty() || consumed == 0;
    }
}

asio::awaitable<imap_fetcher::connection*> imap_fetcher::open(std::size_t server, bool urlauth,
                                                              bool& reused) {
    reused = false;
    for (auto& c : conns_) {
        if (c->server == server && c->urlauth == urlauth && c->ready) {
            reused = true;
            co_return c.get();
        }
    }
    std::erase_if(conns_,
                  [&](const auto& c) { return c->server == server && c->urlauth == urlauth; });
    const auto& b = ctx_->settings.servers.at(server);
    imap::client_settings cs;
    cs.tls = b.tls == config::relay_tls_mode::starttls   ? imap::imap_tls::starttls
             : b.tls == config::relay_tls_mode::implicit ? imap::imap_tls::implicit
                                                         : imap::imap_tls::none;
    std::string password;
    if (urlauth) {
        cs.user = b.urlauth_user;
        password = b.urlauth_password;
    } else if (b.master_separator.empty()) {
        cs.user = b.master_user;
        cs.authzid = session_.user;
        password = b.master_password;
    } else {
        cs.user = session_.user + b.master_separator + b.master_user;
        password = b.master_password;
    }
    auto owned = std::make_unique<connection>(ex_, server, urlauth, std::move(cs),
                                              core::secret_string(std::move(password)));
    connection& c = *owned;
    conns_.push_back(std::move(owned));
    c.timeout = ctx_->settings.connect_timeout;

    std::error_code ec;
    {
        net::deadline d(ex_, ctx_->settings.connect_timeout, [&c] { c.cancel(); });
        asio::ip::tcp::resolver resolver(ex_);
        auto [rec, results] =
            co_await resolver.async_resolve(b.host, std::to_string(b.port), use_tuple);
        ec = rec;
        if (!ec) {
            std::tie(ec, std::ignore) = co_await asio::async_connect(c.socket, results, use_tuple);
            if (!ec) c.socket.set_option(asio::ip::tcp::no_delay(true), ec);
        }
        if (d.expired()) ec = asio::error::timed_out;
    }
    if (ec) {
        drop(c, "connect", ec.message());
        co_return nullptr;
    }
    core::log_info("imap-connect session={} server={}:{} tls={} mode={}", session_.session_id,
                   b.host, b.port, tls_name(b.tls), urlauth ? "urlauth" : "trusted");
    if (b.tls == config::relay_tls_mode::implicit) {
        // The machine starts after TLS: ask for it first.
        bool ok = co_await start_tls(c);
        if (!ok) co_return nullptr;
    }
    imap::step step = c.client.start();
    step = co_await run(c, step);
    if (step != imap::step::ready) {
        if (step == imap::step::failed && c.socket.is_open()) {
            const auto& f = c.client.failure_info();
            drop(c, f.stage, f.reason);
        }
        co_return nullptr;
    }
    c.ready = true;
    co_return &c;
}

asio::awaitable<burl_result> imap_fetcher::fetch(const burl_request& req) {
    burl_result result;
    // A kept connection the server has closed meanwhile fails at once: one
    // more try on a fresh connection.
    for (int attempt = 0; attempt < 2; ++attempt) {
        bool reused = false;
        connection* c = co_await open(req.server, req.urlauth, reused);
        if (c == nullptr) co_return result;  // unavailable
        c->timeout = ctx_->settings.command_timeout;
        const imap::imap_url& u = req.url;
        imap::step step = imap::step::failed;
        if (req.urlauth) {
            step = c->client.urlfetch(u.text, req.max_size);
        } else {
            std::optional<std::pair<std::uint64_t, std::uint64_t>> partial;
            if (u.partial) {
                partial.emplace(u.partial->first, u.partial->second.value_or(4294967295u));
            }
            step = c->client.uid_fetch(req.mailbox, u.uidvalidity, u.uid, u.section, partial,
                                       req.max_size);
        }
        step = co_await run(*c, step);
        if (step != imap::step::ready) {
            if (step == imap::step::failed && c->socket.is_open()) {
                const auto& f = c->client.failure_info();
                drop(*c, f.stage, f.reason);
            }
            c->ready = false;
            if (reused) continue;
            co_return result;
        }
        const imap::fetch_result& r = c->client.result();
        switch (r.status) {
            case imap::fetch_status::ok:
                result.status = burl_status::ok;
                result.octets = c->client.take_octets();  // no copy of the part
                break;
            case imap::fetch_status::nil:
                result.status = burl_status::nil;
                break;
            case imap::fetch_status::too_big:
                result.status = burl_status::too_big;
                break;
            case imap::fetch_status::error: {
                const auto& b = ctx_->settings.servers.at(req.server);
                core::log_warn("imap-failed session={} server={}:{} stage=fetch reason={}",
                               session_.session_id, b.host, b.port, core::quoted(r.text));
                result.status = burl_status::unavailable;
                break;
            }
        }
        co_return result;
    }
    co_return result;
}

asio::awaitable<void> imap_fetcher::close() {
    for (auto& c : conns_) {
        if (!c->ready) continue;
        c->timeout = std::chrono::seconds(2);
        imap::step step = c->client.logout();
        step = co_await run(*c, step);
        static_cast<void>(step);
        c->tls.reset();
        std::error_code ignored;
        c->socket.close(ignored);
        c->ready = false;
    }
    conns_.clear();
}

}  // namespace submitd::submission
