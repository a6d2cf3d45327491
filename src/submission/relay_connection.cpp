// The relay connection; see relay_connection.hpp.
#include "submission/relay_connection.hpp"

#include <sys/socket.h>

#include <fmt/format.h>
#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "core/log.hpp"
#include "net/client_tls.hpp"
#include "net/deadline.hpp"
#include "smtp/data_codec.hpp"

namespace submitd::submission {

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

/// Connections kept between sessions of one worker thread (each worker runs
/// one event loop, and a session stays on its thread): a new session's first
/// transaction goes out on one of them instead of connecting, greeting and
/// EHLO again.
struct parked_connection {
    std::unique_ptr<relay_connection> conn;
    std::chrono::steady_clock::time_point since;
};
constexpr std::size_t max_parked = 64;
thread_local std::vector<parked_connection> parked;
thread_local bool sweeping = false;

/// Closes parked connections once they have waited relay_client.idle_timeout.
asio::awaitable<void> sweep_parked(asio::any_io_executor ex) {
    asio::steady_timer timer(ex);
    while (!parked.empty()) {
        auto idle = parked.front().conn->idle_limit();
        timer.expires_after(std::max<std::chrono::milliseconds>(idle / 2, std::chrono::seconds(1)));
        co_await timer.async_wait(use_tuple);
        auto now = std::chrono::steady_clock::now();
        std::vector<std::unique_ptr<relay_connection>> stale;
        std::erase_if(parked, [&](parked_connection& p) {
            if (now - p.since < p.conn->idle_limit()) return false;
            stale.push_back(std::move(p.conn));
            return true;
        });
        for (auto& c : stale) {
            co_await c->close();  // QUIT, politely
        }
    }
    sweeping = false;
}

}  // namespace

std::shared_ptr<const relay_context> make_relay_context(const config::settings& s) {
    auto ctx = std::make_shared<relay_context>();
    ctx->relays = s.relays;
    ctx->client = s.relay_client;
    for (const auto& r : s.relays) {
        if (r.tls == config::relay_tls_mode::none) {
            ctx->tls.push_back(nullptr);
            continue;
        }
        try {
            ctx->tls.push_back(net::make_client_tls(r.verify, r.ca_file));
        } catch (const std::runtime_error& e) {
            throw std::runtime_error(fmt::format("relay {}: {}", r.address, e.what()));
        }
    }
    return ctx;
}

relay_connection::relay_connection(asio::any_io_executor ex,
                                   std::shared_ptr<const relay_context> ctx,
                                   const ipc::handoff& session)
    : ex_(std::move(ex)),
      ctx_(std::move(ctx)),
      session_(&session),
      steps_(ex_, [this] { cancel_io(); }) {}

relay_connection::~relay_connection() = default;

asio::awaitable<void> relay_connection::release(std::unique_ptr<relay_link> self) {
    bool keep = connected_ && !tx_open_ && parked.size() < max_parked;
    if (keep) {
        const auto& r = ctx_->relays.at(current_);
        keep = !r.xclient && !r.auth_as_client;
    }
    if (!keep) {
        co_await close();
        co_return;  // `self` goes with this frame
    }
    core::log_debug("relay-park session={} relay={}", sid(), core::quoted(address()));
    session_ = nullptr;
    auto ex = ex_;
    static_cast<void>(self.release());  // ownership moves to the pool
    parked.push_back({std::unique_ptr<relay_connection>(this), std::chrono::steady_clock::now()});
    if (!sweeping) {
        sweeping = true;
        asio::co_spawn(ex, sweep_parked(ex), asio::detached);
    }
}

std::unique_ptr<relay_connection> relay_connection::take_parked(
    const std::shared_ptr<const relay_context>& ctx, const ipc::handoff& session) {
    auto now = std::chrono::steady_clock::now();
    while (!parked.empty()) {
        parked_connection p = std::move(parked.back());
        parked.pop_back();
        relay_connection& c = *p.conn;
        bool usable = c.ctx_ == ctx && now - p.since < c.idle_limit() && c.connected_;
        if (usable && c.tcp_ && !c.tls_ && c.in_.empty()) {
            // A plain connection the relay closed (EOF) or spoke on (a 421)
            // is not reused; a TLS one may hold a session ticket: the first
            // command's failure brings a fresh connection (commands()).
            char byte = 0;
            ssize_t n = ::recv(c.tcp_->native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
            usable = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        }
        c.session_ = &session;
        if (usable) {
            core::log_debug("relay-reuse session={} relay={}", session.session_id,
                            core::quoted(c.address()));
            return std::move(p.conn);
        }
        c.abort("idle");
    }
    return nullptr;
}

void relay_connection::close_parked() {
    for (auto& p : parked)
        p.conn->close_sockets();
    parked.clear();
}

const std::string& relay_connection::address() const {
    return ctx_->relays.at(current_).address;
}

void relay_connection::cancel_io() {
    std::error_code ignored;
    if (tcp_) tcp_->cancel(ignored);
    if (unix_) unix_->cancel(ignored);
}

void relay_connection::close_sockets() {
    std::error_code ignored;
    tls_.reset();
    if (tcp_) tcp_->close(ignored);
    if (unix_) unix_->close(ignored);
    tcp_.reset();
    unix_.reset();
    in_.clear();
    parser_.reset();
    connected_ = false;
    data_sent_ = false;
    stream_ = {};
}

void relay_connection::drop(std::string_view stage, std::string_view reason) {
    core::log_warn("relay-failed session={} relay={} stage={} reason={}", sid(),
                   core::quoted(address()), stage, core::quoted(reason));
    close_sockets();
}

void relay_connection::abort(std::string_view reason) {
    if (!connected_) return;
    core::log_info("relay-close session={} relay={} reason={}", sid(), core::quoted(address()),
                   reason);
    close_sockets();
}

asio::awaitable<void> relay_connection::close() {
    if (!connected_) co_return;
    if (data_sent_) {
        // QUIT would be read as message text: close without an end of data.
        abort("unfinished-message");
        co_return;
    }
    // Best effort: a relay that does not answer QUIT promptly is just dropped.
    bool sent = co_await write("QUIT\r\n");
    if (sent) {
        auto bye = co_await read_reply(std::chrono::seconds(2));
        static_cast<void>(bye);
    }
    close_sockets();
    core::log_debug("relay-close session={} relay={}", sid(), core::quoted(address()));
}

asio::awaitable<std::error_code> relay_connection::read_more() {
    constexpr std::size_t size = 4096;
    if (!read_buf_) read_buf_.reset(new char[size]);
    auto b = asio::buffer(read_buf_.get(), size);
    std::error_code ec;
    std::size_t n = 0;
    if (tls_) {
        std::tie(ec, n) = co_await tls_->async_read_some(b, use_tuple);
    } else if (tcp_) {
        std::tie(ec, n) = co_await tcp_->async_read_some(b, use_tuple);
    } else if (unix_) {
        std::tie(ec, n) = co_await unix_->async_read_some(b, use_tuple);
    } else {
        ec = asio::error::not_connected;
    }
    if (!ec) in_.append(read_buf_.get(), n);
    co_return ec;
}

asio::awaitable<bool> relay_connection::write(std::string_view data) {
    auto d = steps_.start(ctx_->client.command_timeout);
    std::error_code ec;
    if (tls_) {
        std::tie(ec, std::ignore) =
            co_await asio::async_write(*tls_, asio::buffer(data), use_tuple);
    } else if (tcp_) {
        std::tie(ec, std::ignore) =
            co_await asio::async_write(*tcp_, asio::buffer(data), use_tuple);
    } else if (unix_) {
        std::tie(ec, std::ignore) =
            co_await asio::async_write(*unix_, asio::buffer(data), use_tuple);
    } else {
        co_return false;
    }
    co_return !ec;
}

asio::awaitable<std::optional<relay::reply>> relay_connection::read_reply(
    config::milliseconds timeout) {
    auto d = steps_.start(timeout);
    for (;;) {
        if (!in_.empty()) {
            auto r = parser_.parse(in_);
            in_.erase(0, r.consumed);
            if (r.status == relay::reply_status::complete) co_return parser_.take();
            if (r.status == relay::reply_status::bad_reply) {
                core::log_warn("relay-bad-reply session={} reason={}", sid(),
                               core::quoted(parser_.error()));
                co_return std::nullopt;
            }
        }
        auto ec = co_await read_more();
        if (ec) {
            last_error_ = ec;
            co_return std::nullopt;
        }
    }
}

asio::awaitable<bool> relay_connection::connect_any(std::size_t first) {
    std::size_t count = ctx_->relays.size();
    for (std::size_t k = 0; k < count; ++k) {
        std::size_t i = (first + k) % count;
        if (ctx_->relays[i].kind == config::relay_kind::maildir) continue;
        if (co_await connect_one(i)) co_return true;
        if (failure_ == relay_failure::xclient_refused) co_return false;
    }
    co_return false;
}

asio::awaitable<bool> relay_connection::connect_one(std::size_t i) {
    const auto& r = ctx_->relays[i];
    current_ = i;
    failure_ = relay_failure::unreachable;
    in_.clear();
    parser_.reset();
    std::error_code ec;
    {
        auto d = steps_.start(ctx_->client.connect_timeout);
        if (r.kind == config::relay_kind::unix_socket) {
            unix_.emplace(ex_);
            std::tie(ec) = co_await unix_->async_connect(
                asio::local::stream_protocol::endpoint(r.host), use_tuple);
        } else {
            asio::ip::tcp::resolver resolver(ex_);
            auto [rec, results] =
                co_await resolver.async_resolve(r.host, std::to_string(r.port), use_tuple);
            ec = rec;
            if (!ec) {
                tcp_.emplace(ex_);
                std::tie(ec, std::ignore) = co_await asio::async_connect(*tcp_, results, use_tuple);
                if (!ec) tcp_->set_option(asio::ip::tcp::no_delay(true), ec);
            }
        }
        if (d.expired()) ec = asio::error::timed_out;
    }
    if (ec) {
        drop("connect", ec.message());
        co_return false;
    }
    core::log_info("relay-connect session={} relay={} tls={}", sid(), core::quoted(r.address),
                   r.tls == config::relay_tls_mode::none       ? "none"
                   : r.tls == config::relay_tls_mode::starttls ? "starttls"
                                                               : "implicit");
    co_return co_await run_handshake(i);
}

asio::awaitable<bool> relay_connection::start_tls(std::size_t i) {
    const auto& r = ctx_->relays[i];
    tls_.emplace(*tcp_, *ctx_->tls.at(i));
    net::prepare_client_tls(*tls_, r.server_name.empty() ? r.host : r.server_name, r.verify);
    auto d = steps_.start(ctx_->client.connect_timeout);
    auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, use_tuple);
    if (ec) {
        drop("tls", d.expired() ? "timeout" : ec.message());
        co_return false;
    }
    co_return true;
}

asio::awaitable<bool> relay_connection::run_handshake(std::size_t i) {
    const auto& r = ctx_->relays[i];
    core::secret_string password(r.auth_password);
    relay::handshake_settings hs;
    hs.helo_name = ctx_->client.helo_name;
    hs.tls = r.tls == config::relay_tls_mode::none       ? relay::relay_tls::none
             : r.tls == config::relay_tls_mode::starttls ? relay::relay_tls::starttls
                                                         : relay::relay_tls::implicit;
    hs.use_xclient = r.xclient;
    hs.auth_user = r.auth_user;
    if (r.auth_as_client) hs.auth_authzid = session_->user;
    hs.auth_password = &password;
    std::optional<relay::xclient_facts> facts;
    if (r.xclient) {
        relay::xclient_facts f;
        f.addr = session_->remote_ip;
        f.port = std::to_string(session_->remote_port);
        f.helo = session_->helo;
        f.login = session_->user;
        f.proto = "ESMTP";
        f.destaddr = session_->local_ip;
        f.destport = std::to_string(session_->local_port);
        facts = std::move(f);
    }
    relay::handshake h(std::move(hs), std::move(facts));

    if (hs.tls == relay::relay_tls::implicit && !co_await start_tls(i)) co_return false;
    relay::handshake_step step = h.start();
    for (;;) {
        if (!h.output().empty()) {
            bool ok = co_await write(h.output());
            core::wipe(h.output());  // may hold the AUTH line
            if (!ok) {
                drop("handshake", "write failed");
                co_return false;
            }
        }
        switch (step) {
            case relay::handshake_step::read: {
                std::size_t consumed = 0;
                if (in_.empty()) {
                    auto d = steps_.start(ctx_->client.command_timeout);
                    auto ec = co_await read_more();
                    if (ec) {
                        drop("handshake", d.expired() ? "timeout" : ec.message());
                        co_return false;
                    }
                }
                step = h.on_input(in_, consumed);
                in_.erase(0, consumed);
                break;
            }
            case relay::handshake_step::start_tls:
                in_.clear();  // nothing the relay sent before TLS is read after it
                if (!co_await start_tls(i)) co_return false;
                step = h.on_tls_established();
                break;
            case relay::handshake_step::done:
                caps_ = h.caps();
                connected_ = true;
                co_return true;
            case relay::handshake_step::failed: {
                const auto& f = h.failure();
                if (f.stage == relay::handshake_stage::xclient) {
                    failure_ = relay_failure::xclient_refused;
                }
                std::string why = f.reason;
                if (f.relay_reply) {
                    why += fmt::format(" ({} {})", f.relay_reply->code, f.relay_reply->text());
                }
                static constexpr const char* stages[] = {"greeting", "ehlo", "starttls", "auth",
                                                         "xclient"};
                drop(stages[static_cast<int>(f.stage)], why);
                co_return false;
            }
        }
    }
}

asio::awaitable<std::optional<std::vector<relay::reply>>> relay_connection::exchange(
    const std::vector<std::string>& lines) {
    std::vector<relay::reply> replies;
    replies.reserve(lines.size());
    if (caps_.pipelining) {
        out_.clear();
        for (const auto& l : lines)
            out_.append(l).append("\r\n");
        if (!co_await write(out_)) co_return std::nullopt;
        for (std::size_t k = 0; k < lines.size(); ++k) {
            auto r = co_await read_reply(ctx_->client.command_timeout);
            if (!r) co_return std::nullopt;
            replies.push_back(std::move(*r));
        }
        co_return replies;
    }
    for (const auto& l : lines) {
        if (!co_await write(l + "\r\n")) co_return std::nullopt;
        auto r = co_await read_reply(ctx_->client.command_timeout);
        if (!r) co_return std::nullopt;
        replies.push_back(std::move(*r));
    }
    co_return replies;
}

asio::awaitable<std::optional<std::vector<relay::reply>>> relay_connection::commands(
    const std::vector<std::string>& lines) {
    // The message begun with begin_data() was refused here (too big, bare
    // CR/LF...): the relay is reading a message; these lines must not become
    // part of it.
    if (data_sent_) abort("unfinished-message");
    stream_ = {};  // a message begun before is over
    bool reused = connected_;
    for (const auto& l : lines) {
        if (l.starts_with("MAIL ")) tx_open_ = true;
        if (l == "RSET") tx_open_ = false;
    }
    if (!connected_ && !co_await connect_any(0)) co_return std::nullopt;
    auto replies = co_await exchange(lines);
    if (!replies && reused && !lines.empty() && lines.front().starts_with("MAIL ")) {
        // The relay may have dropped an idle connection: one fresh try for a
        // new transaction, since nothing of it reached the relay.
        drop("reuse", "connection closed while idle");
        if (!co_await connect_any(current_)) co_return std::nullopt;
        replies = co_await exchange(lines);
    }
    if (!replies) {
        drop("command", "no reply");
        failure_ = relay_failure::lost;
    }
    co_return replies;
}

asio::awaitable<bool> relay_connection::send_body(std::string out, std::string header,
                                                  const spool& body, bool stuff) {
    stuffer_ = smtp::dot_stuffer();
    if (stuff) {
        stuffer_.encode(header, out);
    } else {
        out += header;
    }
    std::uint64_t offset = 0;
    bool ok = co_await put_spool(body, offset, stuff, out);
    if (!ok) co_return false;
    if (stuff) stuffer_.finish(out);
    co_return co_await write(out);
}

asio::awaitable<bool> relay_connection::put_spool(const spool& body, std::uint64_t& offset,
                                                  bool stuff, std::string& out) {
    if (!body.has_file()) {
        // In memory (up to the spool's window): no copy through a buffer.
        std::string_view bytes = body.memory().substr(offset);
        out.reserve(out.size() + bytes.size() + 16);
        if (stuff) {
            stuffer_.encode(std::span<const char>(bytes.data(), bytes.size()), out);
        } else {
            out.append(bytes);
        }
        offset += bytes.size();
        co_return true;
    }
    // Uninitialised: the spool overwrites what it hands back.
    constexpr std::size_t window = 64 * 1024;
    std::unique_ptr<char[]> buf(new char[window]);
    while (offset < body.size()) {
        std::size_t n = 0;
        if (body.read(offset, std::span<char>(buf.get(), window), n) || n == 0) co_return false;
        offset += n;
        if (stuff) {
            stuffer_.encode(std::span<const char>(buf.get(), n), out);
        } else {
            out.append(buf.get(), n);
        }
        if (out.size() >= window) {
            bool sent = co_await write(out);
            if (!sent) co_return false;
            out.clear();
        }
    }
    co_return true;
}

asio::awaitable<void> relay_connection::begin_data() {
    stream_ = {};
    if (!connected_ || !tx_open_ || data_sent_ || caps_.chunking) co_return;
    bool sent = co_await write("DATA\r\n");
    if (sent) {
        data_sent_ = true;
    } else {
        drop("data", "write failed");  // message() starts again on a new connection
    }
}

asio::awaitable<void> relay_connection::stream(const std::string& header, const spool& body) {
    if (!connected_ || !data_sent_ || stream_.refused) co_return;
    out_.clear();
    if (!stream_.started) {
        auto go = co_await read_reply(ctx_->client.command_timeout);
        if (!go) {
            drop("data", "no reply");  // message() starts again on a new connection
            co_return;
        }
        if (go->code != 354) {
            // The relay is back at its commands, holding our MAIL and RCPTs;
            // message() resets it and gives the client this reply.
            data_sent_ = false;
            stream_.refused = std::move(*go);
            co_return;
        }
        stream_.started = true;
        stuffer_ = smtp::dot_stuffer();
        stuffer_.encode(header, out_);
    }
    bool ok = co_await put_spool(body, stream_.sent, true, out_);
    if (ok && !out_.empty()) ok = co_await write(out_);
    if (!ok) drop("body", "write failed");
}

asio::awaitable<relay_outcome> relay_connection::message(const transaction& tx, std::string header,
                                                         const spool& body) {
    // However it ends, the transaction is over at the relay (or its
    // connection is gone).
    tx_open_ = false;
    relay_outcome outcome;
    bool replay = !connected_;
    std::size_t attempts = ctx_->relays.size() + 1;
    for (std::size_t attempt = 0; attempt < attempts; ++attempt) {
        if (replay) {
            // The connection broke before the end of the message: start the
            // transaction again on a fresh connection, the next relay first.
            if (!co_await connect_any(attempt == 0 ? current_ : current_ + 1)) {
                outcome.failure = failure_;
                co_return outcome;
            }
            std::vector<std::string> envelope{tx.mail_line};
            envelope.insert(envelope.end(), tx.rcpt_lines.begin(), tx.rcpt_lines.end());
            auto replies = co_await exchange(envelope);
            if (!replies) {
                drop("replay", "no reply");
                continue;
            }
            bool all = std::all_of(replies->begin(), replies->end(),
                                   [](const relay::reply& r) { return r.completed(); });
            if (!all) {
                core::log_warn("relay-replay-refused session={} tx={} relay={}", sid(), tx.id,
                               core::quoted(address()));
                std::vector<std::string> rset{std::string("RSET")};
                co_await exchange(rset);
                outcome.failure = relay_failure::lost;
                co_return outcome;
            }
        }
        std::uint64_t size = header.size() + body.size();
        bool ok = false;
        if (caps_.chunking) {
            // One co_await per statement: g++ 12 miscompiles some coroutine
            // temporaries in compound expressions.
            // The command and the whole chunk in one write (a small message
            // is one segment).
            std::string command = fmt::format("BDAT {} LAST\r\n", size);
            ok = co_await send_body(std::move(command), header, body, false);
        } else if (stream_.started) {
            // stream() sent most of the message while it arrived: the rest,
            // then the end.
            data_sent_ = false;
            out_.clear();
            ok = co_await put_spool(body, stream_.sent, true, out_);
            stream_ = {};
            if (ok) {
                stuffer_.finish(out_);
                ok = co_await write(out_);
            }
        } else {
            std::optional<relay::reply> go;
            if (stream_.refused) {
                go = std::move(stream_.refused);  // stream() read the relay's answer to DATA
                stream_ = {};
            } else {
                // DATA may have gone out already, when the client began the message.
                bool sent = data_sent_;
                data_sent_ = false;
                if (!sent) sent = co_await write("DATA\r\n");
                if (!sent) {
                    drop("data", "write failed");
                    replay = true;
                    continue;
                }
                go = co_await read_reply(ctx_->client.command_timeout);
                if (!go) {
                    drop("data", "no reply");
                    replay = true;
                    continue;
                }
            }
            if (go->code != 354) {
                // The relay keeps our MAIL and RCPTs after refusing DATA: reset.
                std::vector<std::string> rset{std::string("RSET")};
                if (!co_await exchange(rset)) drop("rset", "no reply");
                outcome.reply = std::move(*go);
                co_return outcome;
            }
            ok = co_await send_body(std::string(), header, body, true);
        }
        if (!ok) {
            drop("body", "write failed");
            replay = true;
            continue;
        }
        outcome.end_sent = true;
        last_error_.clear();
        auto final_reply = co_await read_reply(ctx_->client.data_timeout);
        if (!final_reply && last_error_ == asio::error::connection_reset) {
            // A reset means the relay closed with our bytes unread: the end of
            // the message, which came last, never reached it. Safe to retry.
            drop("body", "connection reset before the end of the message was read");
            outcome.end_sent = false;
            replay = true;
            continue;
        }
        if (!final_reply) {
            core::log_error("relay-possible-duplicate session={} tx={} relay={} reason={}", sid(),
                            tx.id, core::quoted(address()),
                            "no reply after the end of the message");
            drop("final", "no reply");
            outcome.failure = relay_failure::lost;
            co_return outcome;
        }
        outcome.reply = std::move(*final_reply);
        co_return outcome;
    }
    outcome.failure = relay_failure::lost;
    co_return outcome;
}

}  // namespace submitd::submission
